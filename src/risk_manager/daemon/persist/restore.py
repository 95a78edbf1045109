"""Putting persisted state back into the engine at start (spec/daemon.md §2.1 step 6, §2.3).

Per account: the stored last reset, today's trades replayed with ``apply_only`` (realized P&L, trade
counts, frequency windows, trade ids), then the active lockouts, then the rules' own memory
(``rule_state``: RULE-013's floor and starting balance, RULE-015's streak; RULE-014's week rebuilt
from the week's ``daily_pnl`` rows). When the stored trading day is over
(a reset was missed while stopped) no trades are replayed and the engine's next tick performs the
reset, emitting the unlocks the daemon persists. Positions and orders are not restored:
reconciliation adopts the broker's (stale ones must never drive a decision).

Read-only: what must be written back (duplicate lockout rows to retire) is returned to the caller.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from risk_manager.engine import Engine, events
from risk_manager.engine.lockouts import Lockout
from risk_manager.engine.trading_day import reset_at_or_before
from risk_manager.store import queries, rows
from risk_manager.store.codec import parse_ts, ts
from risk_manager.store.reader import Reader

log = logging.getLogger("risk_manager.daemon.persist")


@dataclass(slots=True)
class RestoreSummary:
    accounts: int = 0
    lockouts: int = 0
    trades: int = 0
    contracts: int = 0
    missed_resets: list[int] = field(default_factory=list)
    unfinished: int = 0
    #: (row id, engine id of the row kept): duplicate active lockout rows (a lost clear) to retire
    superseded: list[tuple[int, str]] = field(default_factory=list)
    #: enforcement rows whose outcome is unknown, for the daemon to re-check after reconciling
    unfinished_rows: list[dict[str, Any]] = field(default_factory=list)


async def restore(
    engine: Engine,
    reader: Reader,
    now: datetime,
    unfinished_states: Iterable[str],
    account_ids: Iterable[int] | None = None,
) -> RestoreSummary:
    """Every account of the engine at start, or ``account_ids`` only (accounts a hot reload adds)."""
    summary = RestoreSummary()
    wanted = tuple(unfinished_states)
    accounts = list(engine.account_ids() if account_ids is None else account_ids)

    def load(conn: sqlite3.Connection) -> tuple[Any, ...]:
        return (
            queries.active_lockouts(conn),
            queries.day_states(conn),
            queries.contracts(conn),
            [dict(r) for r in queries.enforcement_in_states(conn, wanted)],
            queries.rule_states(conn),
        )

    lock_rows, days, contract_rows, unfinished, memory = await reader.run(load)
    for row in contract_rows:
        try:
            engine.apply_only(events.CONTRACT, rows.contract_payload(row), now)
            summary.contracts += 1
        except events.MalformedEvent as exc:
            log.warning("stored contract %s ignored: %s", row["contract_id"], exc)
    since: dict[int, str] = {}
    stored_reset: dict[int, datetime | None] = {}
    for account_id in accounts:
        s = engine.account(account_id).settings
        start = reset_at_or_before(now, s.reset_time, s.timezone)
        day = days.get(account_id)
        last = parse_ts(day["last_reset_at"]) if day is not None else None
        stored_reset[account_id] = last
        if last is None or last >= start:
            since[account_id] = ts(max(start, last) if last else start) or ""
        else:
            summary.missed_resets.append(account_id)
    trade_rows = await reader.run(lambda conn: {a: queries.trades_since(conn, a, t) for a, t in since.items()})
    week_ago = (now - timedelta(days=8)).date().isoformat()
    realized = await reader.run(lambda conn: {a: queries.daily_realized(conn, a, week_ago) for a in accounts})
    by_account: dict[int, list[Lockout]] = {}
    for row in lock_rows:
        if row["account_id"] not in accounts:
            continue
        rec = rows.lockout_from_row(row)
        group = by_account.setdefault(rec.account_id, [])
        twin = next((g for g in group if g.key == rec.key), None)
        if twin is not None:
            # Two active rows for one (rule, scope, symbol): a clear was lost. The engine keeps one.
            summary.superseded.append((row["id"], twin.id))
        group.append(rec)
    for account_id in accounts:
        engine.restore_account(account_id, last_reset=stored_reset[account_id], lockouts=())
        for row in trade_rows.get(account_id, []):
            try:
                engine.apply_only(events.TRADE, rows.trade_payload(row), now)
                summary.trades += 1
            except events.MalformedEvent as exc:
                log.warning("stored trade %s ignored: %s", row["trade_id"], exc)
        records = by_account.get(account_id, [])
        engine.restore_account(account_id, last_reset=engine.last_reset(account_id), lockouts=records)
        day_pnl = _day_pnl(realized.get(account_id, {}))
        for problem in engine.restore_rule_state(account_id, memory.get(account_id, {}), day_pnl, now):
            log.warning("account %s: stored %s", account_id, problem)
        summary.lockouts += len(records)
        summary.accounts += 1
    summary.unfinished_rows = unfinished
    summary.unfinished = len(unfinished)
    return summary


def _day_pnl(rows: dict[str, str]) -> dict[date, Decimal]:
    """Stored realized P&L per trading day; unreadable rows are left out."""
    out: dict[date, Decimal] = {}
    for day, value in rows.items():
        try:
            out[date.fromisoformat(day)] = Decimal(value)
        except (TypeError, ValueError, InvalidOperation):
            log.warning("stored daily P&L %r of %s ignored", value, day)
    return out
