"""``risk-manager replay`` (a real subprocess) over a recorded week that exercises RULE-013, RULE-014,
RULE-015 and the ladder: the CLI prints the documented action lines, the same as the library."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from risk_manager.config.loader import load_config
from risk_manager.config.models import RULE_KEYS
from risk_manager.replay.runner import replay_events
from tests.core.conftest import CONTRACTS, GATEWAY
from tests.engine.conftest import ES, MNQ, ct, trade, z
from tests.engine.test_replay_cli import ROOT, check_action_line

RULES = {key: {"enabled": False} for key in RULE_KEYS} | {
    "trailing_drawdown": {"enabled": True, "mode": "eod", "max_drawdown": 2000, "lock_at_start": False},
    "weekly_limits": {"enabled": True, "loss_limit": 1500, "ladder": {"reduce_only_at": 60}},
    "consecutive_losses": {"enabled": True, "max_losses": 3, "cooldown_seconds": 900},
}


def _config_dir(root: Path) -> Path:
    root.mkdir()
    (root / "risk_config.yaml").write_text(json.dumps({"version": 1, "rules": RULES}), encoding="utf-8")
    accounts = {
        "version": 1,
        "gateway": GATEWAY,
        "logins": [{"name": "main", "user_name": "t@example.com", "accounts": [{"id": 123, "name": "A"}]}],
    }
    (root / "accounts.yaml").write_text(json.dumps(accounts), encoding="utf-8")
    (root / "holidays.yaml").write_text(json.dumps({"holidays": ["2026-11-26"]}), encoding="utf-8")
    return root


def _line(at: datetime, event: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"at": z(at), "event": event, "data": data}


def _week() -> list[dict[str, Any]]:
    """Mon 11-23 .. Fri 11-27 2026 (Thanksgiving Thursday a holiday)."""
    start = ct(2026, 11, 23, 8, 0)
    lines = [_line(start, "Contract", c) for c in CONTRACTS.values()]
    account = {"id": 123, "name": "A", "balance": 50000.0, "canTrade": True}
    lines.append(_line(start, "GatewayUserAccount", account))
    balance, n = 50000.0, 0
    # Monday: three small losses in a row -> RULE-015 cooldown; the day closes at 49,940.
    for minute, pnl in ((0, -20.0), (5, -20.0), (10, -20.0)):
        n += 1
        at = ct(2026, 11, 23, 9, minute)
        balance += pnl
        lines.append(_line(at, "GatewayUserTrade", trade(n, pnl, at, cid=MNQ)))
        lines.append(_line(at, "GatewayUserAccount", {**account, "balance": balance}))
    # Tuesday: -900 (weekly -960: 64 % of 1,500 -> reduce-only until the week's end).
    n += 1
    at = ct(2026, 11, 24, 10, 0)
    balance -= 900.0
    lines.append(_line(at, "GatewayUserTrade", trade(n, -900.0, at, cid=ES)))
    lines.append(_line(at, "GatewayUserAccount", {**account, "balance": balance}))
    # Wednesday: a new ES position while reduce-only is flattened by the gate; then -600 more:
    # weekly -1,560 < -1,500 -> flatten and lock until Sunday 17:00 CST.
    at = ct(2026, 11, 25, 9, 30)
    position = {
        "id": 9,
        "accountId": 123,
        "contractId": ES,
        "creationTimestamp": z(at),
        "type": 1,
        "size": 1,
        "averagePrice": 6000.0,
    }
    lines.append(_line(at, "GatewayUserPosition", position))
    n += 1
    at += timedelta(minutes=30)
    balance -= 600.0
    lines.append(_line(at, "GatewayUserTrade", trade(n, -600.0, at, cid=ES)))
    lines.append(_line(at, "GatewayUserAccount", {**account, "balance": balance}))
    lines.append(_line(ct(2026, 11, 29, 17, 0) + timedelta(seconds=5), "Tick", {}))
    return lines


def test_replay_cli_runs_the_new_rules(tmp_path: Path) -> None:
    config_dir = _config_dir(tmp_path / "config")
    events = _week()
    recording = tmp_path / "week.jsonl"
    recording.write_text("\n".join(json.dumps(e) for e in events) + "\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "risk_manager", "replay", str(recording), "--config-dir", str(config_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    actions = [check_action_line(line) for line in proc.stdout.splitlines()]
    assert actions == replay_events(events, load_config(config_dir, env={}))
    locks = [
        (a["rule"], a["lockout"]["kind"], a["lockout"]["until"]) for a in actions if a["action"] == "lockout"
    ]
    assert locks == [
        ("RULE-015", "cooldown", z(ct(2026, 11, 23, 9, 10) + timedelta(seconds=900))),
        ("RULE-014", "reduce_only", "2026-11-29T23:00:00Z"),
        ("RULE-014", "until_week_end", "2026-11-29T23:00:00Z"),
    ]
    gate = [(a["rule"], a["action"], a.get("contractId")) for a in actions if a["rule"] == "LOCKOUT"]
    assert gate == [("LOCKOUT", "close_position", ES)]
    unlocked = [(a["at"], a["lockout"]["kind"]) for a in actions if a["action"] == "unlock"]
    assert ("2026-11-29T23:00:00Z", "until_week_end") in unlocked
    assert ("2026-11-29T23:00:00Z", "reduce_only") in unlocked
