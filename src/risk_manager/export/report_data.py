"""Everything one dispute report shows: one account, one trading day, straight from the database.

A report is chosen per ``(account, trading day)`` that has any trade, P&L row, enforcement action or
lockout within the filters. Its rows are the day's own; the time window (for the P&L samples, the
audit entries and the chart) is the trading day's: from the reset on the day before to the reset on
the day (``day_state``'s reset time and zone; UTC midnight when the account has none).

Limit lines come first from what the rules themselves recorded (``enforcement_log.seen``: the limit
each acting rule compared with), then, for rules that did not act, from the configuration when it can
be read (marked as such: it is today's configuration, not necessarily that day's).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from risk_manager.engine.context import rule_limit
from risk_manager.engine.trading_day import local_instant
from risk_manager.export.formats import decoded
from risk_manager.export.source import TABLES, Filters, where
from risk_manager.store.codec import parse_ts, ts

MONEY_MEASURES = ("realized", "unrealized", "net")  # limits drawn on the chart (P&L in money)


@dataclass(frozen=True, slots=True)
class Limit:
    rule: str
    value: Decimal
    measure: str
    source: str  # "seen" (recorded with the action) or "config" (the configuration read now)


@dataclass
class DayReport:
    account_id: int
    day: date
    zone: ZoneInfo
    start: datetime
    end: datetime
    account: dict[str, Any] = field(default_factory=dict)
    pnl: dict[str, Any] | None = None
    trades: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    lockouts: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    limits: list[Limit] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def report_days(conn: sqlite3.Connection, filters: Filters) -> list[tuple[int, date]]:
    """Every ``(account, trading day)`` with data in the filters; with ``--rule``, the days that rule
    acted on (the report itself still shows the whole day)."""
    pairs: set[tuple[int, str]] = set()
    sources = ("enforcement", "lockouts") if filters.rules else ("enforcement", "lockouts", "pnl", "trades")
    for name in sources:
        table = TABLES[name]
        clause, args = where(table, filters)
        sql = f"SELECT DISTINCT account_id, trading_day FROM {table.sql}{clause}"
        pairs.update((r[0], r[1]) for r in conn.execute(sql, args) if r[1])
    return sorted((acct, date.fromisoformat(day)) for acct, day in pairs)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _bounds(conn: sqlite3.Connection, account_id: int, day: date) -> tuple[ZoneInfo, datetime, datetime]:
    row = conn.execute("SELECT reset_time, timezone FROM day_state WHERE account_id = ?", (account_id,)).fetchone()
    zone = _zone(row["timezone"] if row else None)
    try:
        reset = time.fromisoformat(row["reset_time"]) if row and row["reset_time"] else None
    except ValueError:
        reset = None
    if reset is None:
        start = datetime.combine(day, time(0), UTC)
        return zone, start, start + timedelta(days=1)
    return zone, local_instant(day - timedelta(days=1), reset, zone), local_instant(day, reset, zone)


def _dicts(rows: list[sqlite3.Row], json_columns: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [{k: (decoded(r[k]) if k in json_columns else r[k]) for k in r.keys()} for r in rows]


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _seen_limits(actions: list[dict[str, Any]]) -> list[Limit]:
    found: dict[tuple[str, str], Limit] = {}
    for a in actions:
        seen = a.get("seen")
        if isinstance(seen, dict) and "limit" in seen and seen.get("measure") in MONEY_MEASURES:
            value = _decimal(seen["limit"])
            if value is not None:
                found.setdefault((a["rule_id"], seen["measure"]), Limit(a["rule_id"], value, seen["measure"], "seen"))
    return list(found.values())


def _config_limits(rules: Any) -> list[Limit]:
    out = []
    for rule in ("RULE-003", "RULE-004", "RULE-005"):
        cfg = {"RULE-003": rules.daily_realized_loss, "RULE-004": rules.daily_unrealized_loss,
               "RULE-005": rules.max_unrealized_profit}[rule]  # fmt: skip
        found = rule_limit(rules, rule) if cfg.enabled else None
        if found is not None and found[1] in MONEY_MEASURES:
            out.append(Limit(rule, Decimal(found[0]), found[1], "config"))
    return out


def load_day(conn: sqlite3.Connection, account_id: int, day: date, config: Any = None) -> DayReport:
    """Read one report's rows. ``config`` (an ``AppConfig`` or None) supplies limits rules did not record."""
    zone, start, end = _bounds(conn, account_id, day)
    report = DayReport(account_id, day, zone, start, end)
    label = day.isoformat()
    q = conn.execute
    account = q("SELECT * FROM accounts WHERE account_id = ?", (account_id,)).fetchone()
    report.account = dict(account) if account else {}
    pnl = q("SELECT * FROM daily_pnl WHERE account_id = ? AND trading_day = ?", (account_id, label)).fetchone()
    report.pnl = dict(pnl) if pnl else None
    report.trades = _dicts(
        q("SELECT * FROM trades WHERE account_id = ? AND trading_day = ? ORDER BY executed_at, trade_id",
          (account_id, label)).fetchall()
    )  # fmt: skip
    report.actions = _dicts(
        q("SELECT * FROM enforcement_log WHERE account_id = ? AND trading_day = ? ORDER BY created_at, id",
          (account_id, label)).fetchall(),
        ("seen", "result"),
    )  # fmt: skip
    report.lockouts = _dicts(
        q("SELECT * FROM lockouts WHERE account_id = ? AND (trading_day = ? OR (created_at < ? AND "
          "(cleared_at IS NULL OR cleared_at >= ?))) ORDER BY created_at, id",
          (account_id, label, ts(end), ts(start))).fetchall(),
        ("seen", "baseline"),
    )  # fmt: skip
    report.samples = _dicts(
        q("SELECT * FROM pnl_samples WHERE account_id = ? AND at >= ? AND at < ? ORDER BY at",
          (account_id, ts(start), ts(end))).fetchall()
    )  # fmt: skip
    report.audit = _dicts(
        q("SELECT * FROM audit_log WHERE at >= ? AND at < ? ORDER BY id", (ts(start), ts(end))).fetchall(),
        ("before", "after"),
    )
    report.meta = {r[0]: r[1] for r in q("SELECT key, value FROM meta").fetchall()}
    report.limits = _seen_limits(report.actions)
    if config is not None:
        try:
            rules = config.rules_for(account_id)
        except KeyError:
            rules = None
        if rules is not None:
            have = {(lim.rule, lim.measure) for lim in report.limits}
            report.limits += [lim for lim in _config_limits(rules) if (lim.rule, lim.measure) not in have]
    return report


def when(text: Any) -> datetime | None:
    """A stored UTC timestamp as a datetime (None for empty or unreadable text)."""
    try:
        return parse_ts(text) if isinstance(text, str) and text else None
    except ValueError:
        return None
