"""What ``risk-manager export`` reads: the daemon's database, read-only, with the user's filters.

The database is opened the way every reader opens it (``store.connection.connect_ro``: ``mode=ro``, or
``immutable=1`` when the daemon is stopped and the WAL side files cannot be created), and the
connection is made ``query_only``: an export can run next to the daemon and never changes the file.
Rows come out as the columns are stored (money stays decimal text, timestamps UTC text); the JSON
columns are decoded only where the output format is JSON.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from risk_manager.config.models import RULE_IDS
from risk_manager.exit_codes import EXIT_DATABASE, EXIT_INVALID_CONFIG
from risk_manager.store.connection import connect_ro

SPECIAL_RULES = ("LOCKOUT", "RESET", "ADMIN")  # the gate, the daily reset, an administrator's unlock


class ExportError(Exception):
    """A problem to print as it is, with the exit code it deserves (2 usage, 3 database)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Table:
    name: str  # as given to --what
    sql: str  # the table in the database
    title: str
    order: str
    day: str | None  # the trading-day column (``None``: derived from ``date_of``)
    date_of: str | None = None  # a UTC timestamp column whose date stands in for the day
    account: str | None = "account_id"
    rule: str | None = None
    json_columns: tuple[str, ...] = ()


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("enforcement", "enforcement_log", "Enforcement log", "id", "trading_day", rule="rule_id",
              json_columns=("seen", "result")),
        Table("lockouts", "lockouts", "Lockouts", "id", "trading_day", rule="rule_id",
              json_columns=("seen", "baseline")),
        Table("pnl", "daily_pnl", "Daily P&L", "trading_day, account_id", "trading_day"),
        Table("trades", "trades", "Trades", "executed_at, trade_id", "trading_day"),
        Table("audit", "audit_log", "Audit log", "id", None, date_of="at", account=None,
              json_columns=("before", "after")),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Filters:
    accounts: tuple[int, ...] = ()
    rules: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    tables: tuple[str, ...] = tuple(TABLES)
    explicit_tables: bool = field(default=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accounts": list(self.accounts),
            "rules": list(self.rules),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "tables": list(self.tables),
        }


# ----- parsing what the user typed ------------------------------------------------------------------------
def parse_day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ExportError(EXIT_INVALID_CONFIG, f"{option}: expected a date YYYY-MM-DD, got {text!r}") from None


def parse_rule(text: str) -> str:
    """``RULE-003``, ``rule-3``, ``3`` or ``daily_realized_loss`` -> ``RULE-003``."""
    value = text.strip()
    match = re.fullmatch(r"(?i)(?:rule-?)?(\d{1,3})", value)
    if match:
        return f"RULE-{int(match.group(1)):03d}"
    if value.lower() in RULE_IDS:
        return RULE_IDS[value.lower()]
    if value.upper() in SPECIAL_RULES:
        return value.upper()
    raise ExportError(
        EXIT_INVALID_CONFIG,
        f"--rule: unknown rule {text!r} (expected an id such as RULE-003, a rule name such as "
        f"daily_realized_loss, or one of {', '.join(SPECIAL_RULES)})",
    )


def parse_tables(values: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """``--what`` values (repeatable, comma lists, ``all``) -> table names in their fixed order."""
    wanted: set[str] = set()
    for value in values:
        for name in (p.strip().lower() for p in value.split(",")):
            if name == "all":
                wanted.update(TABLES)
            elif name in TABLES:
                wanted.add(name)
            elif name:
                raise ExportError(
                    EXIT_INVALID_CONFIG,
                    f"--what: unknown table {name!r} (expected {', '.join(TABLES)} or all)",
                )
    if not wanted:
        return tuple(TABLES), False
    return tuple(t for t in TABLES if t in wanted), True


def check_filters(filters: Filters) -> None:
    """Combinations that cannot mean anything (a clear error beats a silently empty file)."""
    if filters.since and filters.until and filters.since > filters.until:
        raise ExportError(
            EXIT_INVALID_CONFIG,
            f"--since {filters.since} is after --until {filters.until}: nothing could match",
        )
    if filters.explicit_tables:
        for name in filters.tables:
            table = TABLES[name]
            if filters.rules and table.rule is None:
                raise ExportError(
                    EXIT_INVALID_CONFIG,
                    f"--rule does not apply to {name} (only enforcement and lockouts name a rule)",
                )
            if filters.accounts and table.account is None:
                raise ExportError(
                    EXIT_INVALID_CONFIG, f"--account does not apply to {name} (the audit log names no account)"
                )


# ----- the database ---------------------------------------------------------------------------------------
def open_readonly(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ExportError(
            EXIT_DATABASE,
            f"no database at {path} (give the daemon's data directory with --data-dir, or the file with --db)",
        )
    try:
        conn = connect_ro(path)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only = ON")
        found = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise ExportError(EXIT_DATABASE, f"cannot read the database {path}: {exc}") from None
    missing = sorted({t.sql for t in TABLES.values()} - found)
    if missing:
        conn.close()
        raise ExportError(
            EXIT_DATABASE, f"{path} is not a risk-manager database (missing tables: {', '.join(missing)})"
        )
    return conn


def known_accounts(conn: sqlite3.Connection) -> set[int]:
    found: set[int] = set()
    for sql in ("accounts", "enforcement_log", "lockouts", "daily_pnl", "trades"):
        found.update(r[0] for r in conn.execute(f"SELECT DISTINCT account_id FROM {sql}"))
    return found


def check_accounts(conn: sqlite3.Connection, accounts: Iterable[int], path: Path) -> None:
    known = known_accounts(conn)
    unknown = [a for a in accounts if a not in known]
    if unknown:
        listed = ", ".join(str(a) for a in sorted(known)) or "none"
        raise ExportError(
            EXIT_INVALID_CONFIG,
            f"--account {unknown[0]}: no such account in {path} (accounts in the database: {listed})",
        )


def _in(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    return f"{column} IN ({', '.join('?' for _ in values)})", list(values)


def where(table: Table, filters: Filters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []

    def add(clause: str, values: list[Any]) -> None:
        clauses.append(clause)
        args.extend(values)

    if filters.accounts and table.account:
        add(*_in(table.account, filters.accounts))
    if filters.rules and table.rule:
        add(*_in(table.rule, filters.rules))
    day = table.day or f"substr({table.date_of}, 1, 10)"
    if filters.since:
        add(f"{day} >= ?", [filters.since.isoformat()])
    if filters.until:
        add(f"{day} <= ?", [filters.until.isoformat()])
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def rows(conn: sqlite3.Connection, name: str, filters: Filters) -> tuple[list[str], list[sqlite3.Row]]:
    """``(columns, rows)`` of one table, filtered, in its natural order."""
    table = TABLES[name]
    clause, args = where(table, filters)
    cursor = conn.execute(f"SELECT * FROM {table.sql}{clause} ORDER BY {table.order}", args)
    columns = [d[0] for d in cursor.description]
    return columns, cursor.fetchall()
