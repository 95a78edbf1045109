"""``risk-manager replay`` as a real subprocess, plus the runner's handling of unusable input.

stdout carries one JSON action per line (nothing else), the summary goes to stderr, and a line
that cannot be replayed is reported on stderr with its line number and skipped (docs/engine.md).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from risk_manager.config.loader import load_config
from risk_manager.replay.runner import ReplayInputError, parse_line, replay_events
from tests.engine.conftest import MNQ, T0, Session, config, pos, quote

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "tuesday.jsonl"
CONFIG_DIR = ROOT / "examples" / "config"
ACTIONS = {
    "close_position",
    "reduce_position",
    "close_all",
    "cancel_order",
    "cancel_all",
    "place_stop",
    "modify_stop",
    "lockout",
    "unlock",
    "warn",
}
RULE_NAME = re.compile(r"^(RULE-0(0[1-9]|1[0-5])|LOCKOUT|RESET)$")


def run_replay(events_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "risk_manager",
            "replay",
            str(events_file),
            "--config-dir",
            str(CONFIG_DIR),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def check_action_line(line: str) -> dict[str, Any]:
    """One documented action object (rules.md §2 vocabulary, camelCase keys, UTC 'Z' times)."""
    obj = json.loads(line)
    assert isinstance(obj, dict)
    assert {"at", "accountId", "rule", "action", "reason"} <= set(obj)
    assert obj["at"].endswith("Z") and datetime.fromisoformat(obj["at"].replace("Z", "+00:00"))
    assert isinstance(obj["accountId"], int)
    assert RULE_NAME.match(obj["rule"]), obj
    assert obj["action"] in ACTIONS, obj
    assert isinstance(obj["reason"], str) and obj["reason"]
    if obj["action"] in ("close_position", "reduce_position", "place_stop"):
        assert obj["contractId"].startswith("CON.")
    if obj["action"] == "reduce_position":
        assert obj["size"] >= 1
    if obj["action"] == "cancel_order":
        assert isinstance(obj["orderId"], int)
    if obj["action"] in ("lockout", "unlock"):
        lock = obj["lockout"]
        assert lock["scope"] in ("account", "symbol") and lock["kind"] in (
            "until_reset",
            "until_session_start",
            "cooldown",
            "indefinite",
            "permanent",
            "until_week_end",
            "reduce_only",
        )
        assert lock["until"] is None or lock["until"].endswith("Z")
        assert (lock["scope"] == "symbol") == ("symbol" in lock)
    return obj


def test_replay_of_the_example_session() -> None:
    proc = run_replay(EXAMPLE)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines, "the example session breaks several rules"
    actions = [check_action_line(line) for line in lines]
    # The story the README tells: blocked symbol, no stop, unrealized loss, cooldown after a loss,
    # overtrading, the daily loss limit, the gate until the 17:00 Chicago reset.
    rules = {a["rule"] for a in actions}
    assert {
        "RULE-011",
        "RULE-008",
        "RULE-004",
        "RULE-007",
        "RULE-006",
        "RULE-003",
        "LOCKOUT",
        "RESET",
    } <= rules
    daily = [a for a in actions if a["rule"] == "RULE-003" and a["action"] == "lockout"]
    assert [a["lockout"]["until"] for a in daily] == ["2026-11-17T23:00:00Z"]
    assert [a["at"] for a in actions if a["rule"] == "RESET"] == ["2026-11-17T23:00:00Z"]
    times = [datetime.fromisoformat(a["at"].replace("Z", "+00:00")) for a in actions]
    assert times == sorted(times)
    # Summary on stderr only, and it agrees with stdout.
    summary = proc.stderr.strip().splitlines()[-1]
    match = re.match(r"replayed (\d+) events from .+; (\d+) actions \((.+)\); (\d+) lines skipped$", summary)
    assert match, summary
    events = sum(1 for line in EXAMPLE.read_text(encoding="utf-8").splitlines() if line.strip())
    assert int(match.group(1)) == events
    assert int(match.group(2)) == len(actions)
    assert match.group(4) == "0"
    # The CLI prints exactly what the library function returns for the same input.
    parsed = [
        parse_line(line, n) for n, line in enumerate(EXAMPLE.read_text(encoding="utf-8").splitlines(), 1)
    ]
    in_process = replay_events([e for e in parsed if e is not None], load_config(CONFIG_DIR, env={}))
    assert actions == in_process


def test_account_filter() -> None:
    proc = run_replay(EXAMPLE, "--account", "999")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "0 actions (none)" in proc.stderr


def test_malformed_lines_are_reported_with_their_number_and_skipped(tmp_path: Path) -> None:
    head = EXAMPLE.read_text(encoding="utf-8").splitlines()[:5]  # contracts and the account
    bad = [
        *head,
        '{"at": "2026-11-17T14:31:00Z", "event": "GatewayUserPosition", "data": {"accountId": 123456',
        "",
        '{"at": "2026-11-17T14:31:01Z", "event": "Nope", "data": {}}',
        '{"at": "2026-11-17T14:31:02Z", "event": "GatewayUserPosition", "data": {"accountId": 123456}}',
        '{"at": "2026-11-17T14:31:03Z", "event": "GatewayQuote", "data": {"contractId": "CON.F.US.MNQ.Z25", "lastPrice": NaN}}',
        '{"at": "yesterday", "event": "Tick"}',
        '{"at": "2026-11-17T14:31:04Z", "event": "GatewayUserPosition", "data": {"accountId": 123456, '
        '"contractId": "CON.F.US.RTY.Z25", "size": 1, "type": 1, "averagePrice": 2400.0}}',
    ]
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(bad) + "\n", encoding="utf-8")
    proc = run_replay(path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    err = proc.stderr
    assert "broken.jsonl: skipped line 6: not valid JSON" in err
    assert "skipped line 8: unknown event 'Nope'" in err
    assert "skipped line 9: malformed GatewayUserPosition: account 123456: missing field 'contractId'" in err
    assert "skipped line 10: malformed GatewayQuote" in err and "finite" in err
    assert "skipped line 11: 'at' must be an ISO-8601 UTC time" in err
    assert err.strip().splitlines()[-1].endswith("; 5 lines skipped")
    assert "replayed 6 events" in err  # five good lines before, one after; skipped ones not counted
    # The good line after the bad ones is still replayed (RTY is blocked in the example config).
    actions = [check_action_line(line) for line in proc.stdout.splitlines()]
    assert ("RULE-011", "close_position", "CON.F.US.RTY.Z25") in [
        (a["rule"], a["action"], a.get("contractId")) for a in actions
    ]


def test_parse_line_names_the_line() -> None:
    assert parse_line("   \n", 3) is None
    with pytest.raises(ReplayInputError, match=r"^line 7: not valid JSON"):
        parse_line("{nope", 7)
    with pytest.raises(ReplayInputError, match=r"^line 8: expected an object"):
        parse_line("[1, 2]", 8)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_quote_is_rejected_and_changes_nothing(bad: float) -> None:
    s = Session(config({"daily_unrealized_loss": {"loss_limit": 300}}))
    s.feed(T0, "GatewayUserPosition", pos(MNQ, 2, 21000.0, T0))
    s.feed(T0, "GatewayQuote", quote(MNQ, 20990.0))
    with pytest.raises(ReplayInputError, match="malformed GatewayQuote.*finite"):
        s.feed(T0, "GatewayQuote", quote(MNQ, bad))
    assert s.engine.unrealized_pnl(123) == -40  # the last good price still stands
    # And the engine keeps deciding on later quotes.
    out = s.feed(T0, "GatewayQuote", quote(MNQ, 20924.75))
    assert [(a["rule"], a["action"]) for a in out] == [("RULE-004", "close_position")]
