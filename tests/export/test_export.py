"""``risk-manager export`` as a real subprocess against the database of a real daemon run.

While the daemon runs: an export reads what it committed. After it stopped: every table round-trips
through CSV and JSON, the filters select what they say, bad filters exit 2 with a clear message, a
missing database exits 3, the HTML dispute report holds every action with its numbers and nothing
from outside the file, and the database is never modified (bytes, mtime, no new side files).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from html import escape
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from risk_manager.cli.main import app
from tests.export.conftest import Recorded, fingerprint

TABLES = {
    "enforcement": "enforcement_log",
    "lockouts": "lockouts",
    "pnl": "daily_pnl",
    "trades": "trades",
    "audit": "audit_log",
}
ORDER = {
    "enforcement_log": "id",
    "lockouts": "id",
    "daily_pnl": "trading_day, account_id",
    "trades": "executed_at, trade_id",
    "audit_log": "id",
}
JSON_COLUMNS = {"enforcement_log": ("seen", "result"), "lockouts": ("seen", "baseline"), "audit_log": ("before", "after")}


def export(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISK_MANAGER_")}
    return subprocess.run(
        [sys.executable, "-m", "risk_manager", "export", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
    )


def db_rows(rec: Recorded, table: str, where: str = "", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in rec.query(f"SELECT * FROM {table} {where} ORDER BY {ORDER[table]}", args)]


def as_text(row: dict[str, Any]) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in row.items()}


def decoded(table: str, row: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.loads(v) if k in JSON_COLUMNS.get(table, ()) and v is not None else v) for k, v in row.items()}


@pytest.fixture(scope="module")
def stopped(recorded: Recorded) -> Iterator[tuple[Recorded, Any]]:
    """The daemon stopped cleanly; the database's fingerprint before any export touches it."""
    recorded.stop()
    before = fingerprint(recorded.db)
    yield recorded, before
    assert fingerprint(recorded.db) == before, "an export modified the database"


# The daemon is still running for this first test (module order).
def test_export_reads_a_running_daemons_database(recorded: Recorded) -> None:
    assert recorded.stack.daemon is not None and recorded.stack.daemon.proc.p.poll() is None
    result = export("--db", str(recorded.db), "--what", "enforcement", "--account", "4001")
    assert result.returncode == 0, result.stderr
    got = list(csv.DictReader(io.StringIO(result.stdout)))
    assert got == [as_text(r) for r in db_rows(recorded, "enforcement_log", "WHERE account_id = 4001")]
    assert {r["action"] for r in got} == {"close_all", "cancel_all"}


def test_every_table_round_trips_through_csv(stopped: Any, tmp_path: Path) -> None:
    rec, _ = stopped
    out = tmp_path / "csv"
    result = export("--db", str(rec.db), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}.csv" for name in TABLES)
    for name, table in TABLES.items():
        with (out / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
            got = list(csv.DictReader(fh))
        expected = [as_text(r) for r in db_rows(rec, table)]
        assert got == expected, name
        assert expected, f"the run left no {table} rows to compare"
        assert f"wrote {out / f'{name}.csv'} ({len(expected)} row" in result.stderr


def test_every_table_round_trips_through_json(stopped: Any, tmp_path: Path) -> None:
    rec, _ = stopped
    target = tmp_path / "all.json"
    result = export("--db", str(rec.db), "--format", "json", "--out", str(target))
    assert result.returncode == 0, result.stderr
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["filters"]["tables"] == list(TABLES)
    for name, table in TABLES.items():
        assert document["tables"][name] == [decoded(table, r) for r in db_rows(rec, table)], name
    seen = document["tables"]["enforcement"][0]["seen"]
    assert seen["realized"] == "-155.00" and seen["limit"] == "-100.00"  # money stays exact text
    # To stdout as well, and the same document apart from when it was made:
    piped = export("--db", str(rec.db), "--format", "json")
    assert piped.returncode == 0 and json.loads(piped.stdout)["tables"] == document["tables"]


def test_filters_select_what_they_say(stopped: Any) -> None:
    rec, _ = stopped
    today = rec.query("SELECT trading_day FROM trades LIMIT 1")[0][0]

    def tables(*args: str) -> dict[str, list[dict[str, Any]]]:  # in-process: many runs, no interpreter starts
        result = CliRunner().invoke(app, ["export", "--db", str(rec.db), "--format", "json", *args])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)["tables"]

    one = tables("--account", "4001")
    for name in ("enforcement", "lockouts", "pnl", "trades"):
        assert one[name] and {r["account_id"] for r in one[name]} == {4001}, name
    assert one["audit"] == db_rows(rec, "audit_log")  # the audit log names no account: kept whole

    by_rule = tables("--what", "enforcement,lockouts", "--rule", "RULE-001")
    assert [r["account_id"] for r in by_rule["enforcement"]] == [4002] and by_rule["lockouts"] == []
    assert tables("--what", "enforcement", "--rule", "daily_realized_loss") == tables(
        "--what", "enforcement", "--rule", "rule-3"
    )
    assert list(tables("--what", "trades", "--what", "pnl")) == ["pnl", "trades"]

    tomorrow = (date.fromisoformat(today) + timedelta(days=1)).isoformat()
    later = tables("--since", tomorrow)
    assert all(rows == [] for rows in later.values())
    same = tables("--day", today)
    assert {len(v) for v in same.values()} != {0} and same["trades"] == tables()["trades"]
    assert tables("--until", today)["trades"] == same["trades"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--since", "2026-13-01"], 2, "--since: expected a date YYYY-MM-DD, got '2026-13-01'"),
        (["--since", "2026-03-05", "--until", "2026-03-01"], 2, "is after --until"),
        (["--rule", "RULE-X"], 2, "--rule: unknown rule 'RULE-X'"),
        (["--account", "999"], 2, "--account 999: no such account"),
        (["--account", "abc"], 2, "Invalid value for '--account': Input should be a valid integer"),
        (["--what", "orders"], 2, "--what: unknown table 'orders'"),
        (["--what", "trades", "--rule", "RULE-003"], 2, "--rule does not apply to trades"),
        (["--what", "audit", "--account", "4001"], 2, "--account does not apply to audit"),
        (["--format", "xml"], 2, "Invalid value for '--format': Value error, 'xml' is not one of 'csv', 'json'"),
        ([], 2, "CSV holds one table per file"),
        (["--report", "--what", "trades"], 2, "--report makes HTML with every table"),
        (["--day", "2026-03-02", "--since", "2026-03-01"], 2, "--day cannot be combined"),
    ],
)
def test_bad_filters_exit_2_with_a_clear_message(stopped: Any, args: list[str], code: int, message: str) -> None:
    # The real command in this process (typer's runner): twelve interpreter starts would cost ~10 s.
    rec, _ = stopped
    run = CliRunner().invoke(app, ["export", "--db", str(rec.db), *args])
    result = subprocess.CompletedProcess(args, run.exit_code, run.stdout, run.stderr)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert message in re.sub(r"\s*│?\s*\n\s*│?\s*|\s+", " ", result.stderr)  # typer boxes its own errors
    assert result.stdout == ""


def test_no_database_exits_3(stopped: Any, tmp_path: Path) -> None:
    rec, _ = stopped
    missing = export("--db", str(tmp_path / "nope.db"), "--what", "trades")
    assert missing.returncode == 3 and "no database at" in missing.stderr
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (y)").connection.close()
    foreign = export("--db", str(other), "--what", "trades")
    assert foreign.returncode == 3 and "is not a risk-manager database" in foreign.stderr
    via_dir = export("--data-dir", str(rec.db.parent), "--what", "trades")  # risk.db inside it
    assert via_dir.returncode == 0 and via_dir.stdout.count("\n") == 1 + len(db_rows(rec, "trades"))


def test_the_report_holds_every_action_with_its_numbers_and_nothing_from_outside(
    stopped: Any, tmp_path: Path
) -> None:
    rec, _ = stopped
    out = tmp_path / "reports"
    result = export("--db", str(rec.db), "--report", "--out", str(out), "--config-dir", str(rec.config_dir))
    assert result.returncode == 0, result.stderr
    day = rec.query("SELECT trading_day FROM trades LIMIT 1")[0][0]
    assert sorted(p.name for p in out.iterdir()) == [f"risk-report-{a}-{day}.html" for a in (4001, 4002, 4003)]
    html = (out / f"risk-report-4001-{day}.html").read_text(encoding="utf-8")

    # Self-contained: no web address, no script, no external file of any kind.
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<script|<link|<img|<iframe|\bsrc=|\bhref=|url\(|@import", html, re.I)
    assert "<svg" in html and "<style>" in html

    # Every action of the day, with the rule, what was done, the outcome and the numbers it saw.
    # In the report's order, by decision time: two actions of one decision get their ids when their
    # records are first written (an urgent one when its request leaves), not necessarily in that order.
    actions = sorted(db_rows(rec, "enforcement_log", "WHERE account_id = 4001"), key=lambda r: (r["created_at"], r["id"]))
    assert len(actions) == 2
    for number, action in enumerate(actions, start=1):
        row = re.search(rf"<tr><td>#{number}</td>.*?</tr>", html, re.S)
        assert row is not None, f"action #{number} missing"
        text = row.group(0)
        assert action["rule_id"] in text and action["action"] in text and action["state"] in text
        assert escape(action["reason"]) in text
        for key, value in json.loads(action["seen"]).items():
            assert f"{key} <b>{value}</b>" in text, (key, value)
    assert html.count('<circle cx="') == 2  # one marker per action on the timeline
    assert "RULE-003 -100.00 realized" in html  # the limit line, as the rule saw it
    lockout = db_rows(rec, "lockouts", "WHERE account_id = 4001")[0]
    assert escape(lockout["reason"]) in html and "hard" in html
    for trade in db_rows(rec, "trades", "WHERE account_id = 4001"):
        assert f"<td>{trade['trade_id']}</td>" in html
    assert "config_reloaded" in html  # the day's administrator actions

    quiet = (out / f"risk-report-4003-{day}.html").read_text(encoding="utf-8")
    assert "No enforcement action on this day." in quiet and "19.5" in quiet


def test_reports_select_days_by_rule_and_say_when_nothing_matches(stopped: Any, tmp_path: Path) -> None:
    rec, _ = stopped
    out = tmp_path / "r"
    result = export("--db", str(rec.db), "--report", "--rule", "RULE-001", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert [p.name.split("-")[2] for p in out.iterdir()] == ["4002"]
    none = export("--db", str(rec.db), "--report", "--since", "2100-01-01", "--out", str(out))
    assert none.returncode == 1 and "no trading day in the database matches" in none.stderr


def test_records_still_in_the_write_ahead_log_are_exported(stopped: Any, tmp_path: Path) -> None:
    # The stopped daemon left risk.db-wal behind, with records not yet copied into risk.db. A reader
    # that cannot use the shared-memory file (as a user without write access) still reads them.
    rec, _ = stopped
    wal = rec.db.with_name("risk.db-wal")
    assert wal.is_file() and wal.stat().st_size > 0
    copy = tmp_path / "risk.db"
    copy.write_bytes(rec.db.read_bytes())
    copy.with_name("risk.db-wal").write_bytes(wal.read_bytes())
    copy.with_name("risk.db-shm").mkdir()  # cannot be opened as a file
    result = export("--db", str(copy), "--what", "trades")
    assert result.returncode == 0, result.stderr
    assert list(csv.DictReader(io.StringIO(result.stdout))) == [as_text(r) for r in db_rows(rec, "trades")]


def test_the_database_was_never_modified(stopped: Any) -> None:
    # Last in the module: every export above read this file; none may have changed it.
    rec, before = stopped
    assert fingerprint(rec.db) == before
