"""Writing back what the daemon holds in memory (spec/daemon.md §6.6, issue 8 §1).

Used when the database lost records the daemon still knows: after it was found corrupt while running
and replaced by a fresh file, and after storage recovered from an outage during which records had to
be dropped (the bounded backlog was full). Everything is an upsert keyed like the live writes (trade
id, active lockout by engine id, enforcement row by idempotency key), so writing it over rows that
survived changes nothing.

The values are taken on the event loop, at once (the engine keeps changing); the returned job runs
on the writer thread.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from risk_manager.engine import Engine
from risk_manager.store import rows, writes
from risk_manager.store.codec import ts

RECENT_ENFORCEMENT = 1000  # enforcement rows kept in memory for a re-write (newest values per key)

Symbol = Callable[[str], str | None]


class RecentRecords:
    """The newest values of the last ``RECENT_ENFORCEMENT`` enforcement rows (bounded)."""

    def __init__(self, limit: int = RECENT_ENFORCEMENT) -> None:
        self._rows: OrderedDict[str, tuple[dict[str, Any], str | None]] = OrderedDict()
        self._limit = limit

    def note(self, values: dict[str, Any], lockout_id: str | None) -> None:
        key = values["key"]
        self._rows[key] = (values, lockout_id)
        self._rows.move_to_end(key)
        while len(self._rows) > self._limit:
            self._rows.popitem(last=False)

    def __len__(self) -> int:
        return len(self._rows)

    def values(self) -> list[tuple[dict[str, Any], str | None]]:
        return list(self._rows.values())


@dataclass
class MemoryState:
    accounts: list[dict[str, Any]] = field(default_factory=list)
    contracts: list[dict[str, Any]] = field(default_factory=list)
    days: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)
    lockouts: list[dict[str, Any]] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    enforcement: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    #: RULE-013's and RULE-015's memory (the streak taken with the trades above: they agree)
    rules: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> str:
        return (
            f"{len(self.lockouts)} active lockouts, {len(self.trades)} trades, "
            f"{len(self.days)} accounts' P&L, {len(self.enforcement)} enforcement records"
        )


def take(engine: Engine, recent: RecentRecords, symbol: Symbol, now: datetime) -> MemoryState:
    """Snapshot, on the loop, every record the daemon holds."""
    out = MemoryState(enforcement=recent.values())
    for info in engine.state.contracts.values():
        out.contracts.append(rows.contract_values(info, now))
    for account_id in engine.account_ids():
        acct = engine.account(account_id)
        s = acct.settings
        out.accounts.append(
            {
                "account_id": account_id,
                "nickname": s.name,
                "enabled": 1,
                "observe_only": int(s.observe_only),
                "updated_at": ts(now),
            }
        )
        out.days.append((rows.day_state_values(acct, now), rows.daily_pnl_values(acct, now)))
        for trade in acct.trades.values():
            out.trades.append(rows.trade_values(acct, trade, symbol(trade.contract_id), now))
        out.rules += rows.rule_state_rows(account_id, engine.rule_state(account_id, now), now)
        for lockout in engine.lockouts(account_id):
            out.lockouts.append(rows.lockout_values(lockout, acct, s.observe_only, now))
        for pos in acct.positions.values():
            out.positions.append(rows.position_values(account_id, pos, now))
        for order in acct.orders.values():
            out.orders.append(rows.order_values(account_id, order, now))
    return out


def job(
    state: MemoryState, run_keys: writes.KeySet, completed: Iterable[str]
) -> Callable[[sqlite3.Connection], int]:
    """The writer job that puts ``state`` into the database (one transaction); returns rows written."""
    done = list(completed)

    def write(conn: sqlite3.Connection) -> int:
        writes.upsert_accounts(conn, state.accounts)
        for values in state.contracts:
            writes.upsert_contract(conn, values)
        for day, pnl in state.days:
            writes.write_day(conn, day, pnl)
        for values in state.trades:
            writes.upsert_trade(conn, values)
        writes.rule_state(conn, state.rules, None)
        for values in state.lockouts:
            writes.set_lockout(conn, values, None)
        for values in state.positions:
            writes.upsert_position(conn, values)
        for values in state.orders:
            writes.upsert_order(conn, values)
        for values, lock_id in state.enforcement:
            writes.record_enforcement(conn, values, lock_id, run_keys, done)
        return (
            len(state.trades) + len(state.lockouts) + len(state.days) + len(state.enforcement) + len(state.accounts)
        )

    return write
