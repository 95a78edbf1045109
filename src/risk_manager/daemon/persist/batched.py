"""The records written in batches (spec/daemon.md §6.3): what a crash may lose without losing a
decision, because reconciliation re-reads it from the broker (positions, working orders, contract
metadata) or it is re-derived (day state, P&L samples)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from risk_manager.engine import Engine, events
from risk_manager.engine.events import ContractInfo, OrderUpdate
from risk_manager.engine.rule_state import DRAWDOWN, STREAK
from risk_manager.engine.state import AccountState, PositionState
from risk_manager.store import rows, writes
from risk_manager.store.codec import dumps, ts
from risk_manager.store.writer import Writer

log = logging.getLogger("risk_manager.daemon.persist")


class BatchedRecords:
    def __init__(self, writer: Writer, clock: Callable[[], datetime]) -> None:
        self._writer = writer
        self._clock = clock
        self._day_cache: dict[int, tuple[datetime | None, datetime | None]] = {}
        self._samples: dict[int, tuple[datetime, str]] = {}
        self._rules: dict[int, str | None] = {}
        self.closed = False

    def post_accounts(self, engine: Engine, now: datetime) -> None:
        values = [
            {
                "account_id": a,
                "nickname": engine.account(a).settings.name,
                "enabled": 1,
                "observe_only": int(engine.account(a).settings.observe_only),
                "updated_at": ts(now),
            }
            for a in engine.account_ids()
        ]
        self._writer.post(lambda conn: writes.upsert_accounts(conn, values))

    def note_day(self, acct: AccountState, now: datetime) -> None:
        """Persist the account's day state when its reset instants changed (a daily reset ran)."""
        current = (acct.last_reset, acct.next_reset)
        if self._day_cache.get(acct.account_id) == current:
            return
        self._day_cache[acct.account_id] = current
        values = rows.day_state_values(acct, now)
        pnl = rows.daily_pnl_values(acct, now)
        self._writer.post(lambda conn: writes.write_day(conn, values, pnl))

    def note_rules(self, engine: Engine, acct: AccountState, now: datetime) -> None:
        """RULE-013's memory when it changed, with its latest end-of-day sample."""
        state, stamp = _batched_memory(engine, acct, now)
        if self._rules.get(acct.account_id) == stamp:
            return
        self._rules[acct.account_id] = stamp
        values = rows.rule_state_rows(acct.account_id, state, now)
        drawdown = state.get(DRAWDOWN)
        eod = rows.eod_values(acct.account_id, drawdown, now) if drawdown else None
        self._writer.post(lambda conn: writes.rule_state(conn, values, eod))

    def rules_known(self, engine: Engine, acct: AccountState, now: datetime) -> None:
        """The rule memory as just restored (nothing to write back)."""
        self._rules[acct.account_id] = _batched_memory(engine, acct, now)[1]

    def sample(self, engine: Engine, acct: AccountState, now: datetime) -> None:
        minute = now.replace(second=0, microsecond=0)
        realized = str(acct.realized)
        last = self._samples.get(acct.account_id)
        if last is not None and (last[0] == minute or (not acct.positions and last[1] == realized)):
            return
        if last is None and not acct.positions and acct.realized == 0:
            return
        try:
            unrealized: str | None = str(engine.unrealized_pnl(acct.account_id))
        except Exception:  # a missing quote or contract: sample realized only
            unrealized = None
        self._samples[acct.account_id] = (minute, realized)
        row = (acct.account_id, ts(minute), realized, unrealized)
        self._writer.post(lambda conn: writes.pnl_sample(conn, row))

    def position(self, acct: AccountState, contract_id: str, pos: PositionState | None) -> None:
        """Last known position (batched); the row goes when the position is flat."""
        if self.closed:
            return
        account_id = acct.account_id
        if pos is None or pos.size == 0:
            self._writer.post(lambda conn: writes.delete_position(conn, account_id, contract_id))
            return
        values = rows.position_values(account_id, pos, self._clock())
        self._writer.post(lambda conn: writes.upsert_position(conn, values))

    def order(self, account_id: int, order: OrderUpdate) -> None:
        """Working orders only (batched); a final status deletes the row."""
        if self.closed:
            return
        if not order.working:
            oid = order.order_id
            self._writer.post(lambda conn: writes.delete_order(conn, oid))
            return
        values = rows.order_values(account_id, order, self._clock())
        self._writer.post(lambda conn: writes.upsert_order(conn, values))

    def contract(self, info: ContractInfo | Mapping[str, Any]) -> None:
        """Contract metadata cache (batched); accepts a ``ContractInfo`` or the gateway's object."""
        if self.closed:
            return
        if not isinstance(info, ContractInfo):
            try:
                info = events.parse_contract(info)
            except events.MalformedEvent as exc:
                log.warning("contract not cached: %s", exc)
                return
        values = rows.contract_values(info, self._clock())
        self._writer.post(lambda conn: writes.upsert_contract(conn, values))

    def day_known(self, acct: AccountState) -> None:
        """The account's day state as just committed (no batched write needed for it)."""
        self._day_cache[acct.account_id] = (acct.last_reset, acct.next_reset)


def _batched_memory(engine: Engine, acct: AccountState, now: datetime) -> tuple[dict[str, Any], str | None]:
    """The rule memory written here, and its stamp (without the day) to tell a change. RULE-015's
    streak is not among it: it is committed with each fill (``Persistence.trade``); a copy written
    here could be ahead of the stored trades (a fill decided, its row not yet queued), and a fill
    the reconcile catches up on after a crash would then be counted twice."""
    state = {k: v for k, v in engine.rule_state(acct.account_id, now).items() if k != STREAK}
    return state, dumps({k: {f: v for f, v in d.items() if f != "day"} for k, d in state.items()})
