"""Reading the daemon's records for View Logs (admin-cli.md §10) and Recent logs (§6).

* ``daemon.log`` has a fixed field order (``daemon/logs.py``):
  ``2025-11-20 15:04:09.551 INFO  acct=12345 rule=RULE-003 engine  message``; continuation lines
  (tracebacks) belong to the record above them. Rotated files (``daemon.log.1`` …) are read too.
* The enforcement log comes from the database (read-only) and, for records the database does not
  hold (e.g. admin unlocks), from ``enforcement.jsonl``.
* Exports write the current view to CSV or JSON.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from risk_manager.store.codec import parse_ts, ts
from risk_manager.store.queries import lockout_item

LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (?P<level>[A-Z]+)\s+acct=(?P<acct>\S+) "
    r"rule=(?P<rule>\S+) (?P<component>\S+)\s+(?P<message>.*)$"
)
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
STATE_WORDS = {
    "observed": "observed — not enforced",
    "retrying": "retrying",
    "done": "done",
    "failed": "failed",
}


@dataclass
class LogRecord:
    time: str
    level: str
    account: str
    rule: str
    component: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return self.__dict__.copy()


def parse_lines(lines: list[str]) -> list[LogRecord]:
    out: list[LogRecord] = []
    for line in lines:
        match = LINE.match(line.rstrip("\n"))
        if match:
            out.append(
                LogRecord(
                    match["time"],
                    match["level"],
                    "" if match["acct"] == "-" else match["acct"],
                    "" if match["rule"] == "-" else match["rule"],
                    match["component"],
                    match["message"],
                )
            )
        elif out and line.strip():
            out[-1].message += "\n" + line.rstrip("\n")
    return out


@dataclass(frozen=True)
class LogFilter:
    level: str = "INFO"
    account: str = ""
    rule: str = ""
    text: str = ""

    def matches(self, r: LogRecord) -> bool:
        if self.level and self.level in LEVELS and r.level in LEVELS:
            if LEVELS.index(r.level) < LEVELS.index(self.level):
                return False
        if self.account and r.account != self.account:
            return False
        if self.rule and self.rule.upper() not in r.rule.upper():
            return False
        return not self.text or self.text.lower() in r.message.lower()


def log_files(log_dir: Path, name: str = "daemon.log") -> list[Path]:
    """Oldest first: ``daemon.log.10`` … ``daemon.log.1``, ``daemon.log``."""
    rotated = sorted(
        (p for p in log_dir.glob(f"{name}.*") if p.suffix.lstrip(".").isdigit()),
        key=lambda p: int(p.suffix.lstrip(".")),
        reverse=True,
    )
    current = log_dir / name
    return rotated + ([current] if current.exists() else [])


def read_records(log_dir: Path, flt: LogFilter) -> list[LogRecord]:
    """All matching records, oldest first. PermissionError propagates (the caller says what to do)."""
    records: list[LogRecord] = []
    for path in log_files(log_dir):
        with path.open(encoding="utf-8", errors="replace") as fh:
            records += [r for r in parse_lines(fh.readlines()) if flt.matches(r)]
    return records


class Follower:
    """New complete lines of ``daemon.log`` since creation; survives rotation (size shrinks)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self._partial = ""

    def poll(self) -> list[str]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self.offset:  # rotated: start the new file from the top
            self.offset = 0
        if size == self.offset:
            return []
        with self.path.open(encoding="utf-8", errors="replace") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
            self.offset = fh.tell()
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()
        return lines


# ----- enforcement and lockouts from the database -----------------------------------------------------------
def connect_ro(data_dir: Path) -> sqlite3.Connection:
    path = data_dir / "risk.db"
    if not path.is_file():
        raise FileNotFoundError(f"database not found: {path}")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    conn.row_factory = sqlite3.Row
    return conn


@dataclass(frozen=True)
class EnforcementFilter:
    account: int | None = None
    rule: str | None = None
    since: date | None = None
    until: date | None = None
    action: str | None = None


def parse_day(text: str | None, what: str) -> date | None:
    """``YYYY-MM-DD`` or nothing; ValueError names the option or prompt."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what}: not a date {text!r} (use YYYY-MM-DD).") from None


def enforcement_rows(data_dir: Path, log_dir: Path, flt: EnforcementFilter) -> list[dict[str, Any]]:
    """Newest first: database rows plus enforcement.jsonl records the database lacks (admin unlocks)."""
    rows: list[dict[str, Any]] = []
    keys: set[str] = set()
    try:
        conn = connect_ro(data_dir)
    except (FileNotFoundError, sqlite3.Error):
        conn = None
    if conn is not None:
        try:
            for r in conn.execute("SELECT * FROM enforcement_log ORDER BY id DESC").fetchall():
                row = {
                    "time": r["created_at"],
                    "account": r["account_id"],
                    "rule": r["rule_id"] or "",
                    "action": r["action"],
                    "result": STATE_WORDS.get(r["state"], r["state"]),
                    "reason": r["reason"] or "",
                    "day": r["trading_day"] or (r["created_at"] or "")[:10],
                }
                keys.add(r["key"])
                rows.append(row)
        finally:
            conn.close()
    records = list(_jsonl_records(log_dir))
    # an unlock names the lockout it cleared; its rule is the one that set that lockout
    lockout_rules = {
        (r.get("account"), (r.get("lockout") or {}).get("id")): r.get("rule")
        for r in records
        if r.get("action") == "lockout"
    }
    for record in records:
        key = record.get("key")
        if key and key in keys:
            continue
        if record.get("action") not in ("unlock", "lockout") and key:
            continue  # broker actions are in the database; the file only adds what it lacks
        rule = record.get("rule") or ""
        if record.get("action") == "unlock":
            rule = lockout_rules.get((record.get("account"), (record.get("lockout") or {}).get("id"))) or rule
        at = _same_format(str(record.get("at", "")))
        rows.append(
            {
                "time": at,
                "account": record.get("account"),
                "rule": rule,
                "action": record.get("action", ""),
                "result": "observed — not enforced" if record.get("observed") else record.get("state", ""),
                "reason": record.get("reason") or "",
                "day": at[:10],
            }
        )
    rows.sort(key=lambda r: str(r["time"]), reverse=True)
    return [r for r in rows if _match(r, flt)]


def _same_format(text: str) -> str:
    """The database's timestamp format (milliseconds, Z), so rows from both sources sort and read alike."""
    try:
        return ts(parse_ts(text)) or text
    except ValueError:
        return text


def _match(row: dict[str, Any], flt: EnforcementFilter) -> bool:
    if flt.account is not None and row["account"] != flt.account:
        return False
    if flt.rule and flt.rule.upper() != str(row["rule"]).upper():
        return False
    if flt.action and flt.action != row["action"]:
        return False
    day = str(row["day"])
    if flt.since and day < flt.since.isoformat():
        return False
    return not (flt.until and day > flt.until.isoformat())


def _jsonl_records(log_dir: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(log_dir.glob("enforcement.jsonl*")):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def stored_lockouts(data_dir: Path, *, active: bool, day: str | None = None) -> list[dict[str, Any]]:
    """Lockouts from the database (when the daemon is not reachable, and for the history)."""
    conn = connect_ro(data_dir)
    try:
        if active:
            rows = conn.execute("SELECT * FROM lockouts WHERE active = 1 ORDER BY id").fetchall()
        else:
            rows = conn.execute(
                "SELECT * FROM lockouts WHERE created_at >= ? OR cleared_at >= ? ORDER BY id DESC",
                (day or "", day or ""),
            ).fetchall()
    finally:
        conn.close()
    return [lockout_item(r) for r in rows]


# ----- export --------------------------------------------------------------------------------------------------
def export(rows: list[dict[str, Any]], path: Path, fmt: str) -> int:
    """Write ``rows`` to ``path`` as ``csv`` or ``json``; returns the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path.write_text(json.dumps(rows, indent=2, default=str) + "\n", encoding="utf-8")
        return len(rows)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()})
    return len(rows)
