"""What happens after the engine decided (spec/daemon.md §3.1 stages 6-8): record, enforce, announce.

Broker actions go to the executor at once (the fast path never waits for the disk); lockouts are
committed before they are announced; every decision and outcome is published on the notifier, from
which ``enforcement.jsonl``, the log, the dashboards and the alerts learn it. State changes that are
only informational (positions, orders, trades, P&L for the dashboards) are deferred until the queued
events have been decided.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from risk_manager.daemon.api.views import (
    account_summary_view,
    closed_position_view,
    lockout_cleared_view,
    lockout_view,
    order_view,
    position_view,
    trade_view,
)
from risk_manager.daemon.broker.protection import ProtectionBoard
from risk_manager.daemon.clock import Clock
from risk_manager.daemon.enforcement.executor import Executor
from risk_manager.daemon.enforcement.records import decision_record, enforcement_entry
from risk_manager.daemon.enforcement.work import WorkItem, WorkState
from risk_manager.daemon.notify import (
    DashboardUpdate,
    EnforcementChanged,
    LockoutCleared,
    LockoutSet,
    Notifier,
    RuleWarning,
)
from risk_manager.daemon.persist.persistence import Persistence
from risk_manager.daemon.pipeline import InternalEvent
from risk_manager.engine import Action, Engine, events
from risk_manager.engine.actions import BROKER_KINDS, ActionKind
from risk_manager.engine.context import RuleContext
from risk_manager.engine.lockouts import ClearedBy
from risk_manager.engine.state import AccountState

log = logging.getLogger("risk_manager.daemon.engine")

Deferred = Callable[[Callable[[], None]], None]
ContractSeen = Callable[[str, int], None]


def _unwrap(data: Any) -> Any:
    try:
        return events.unwrap(data)
    except events.MalformedEvent:
        return None


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        executor: Executor,
        persist: Persistence | None,
        notifier: Notifier,
        board: ProtectionBoard,
        clock: Clock,
        *,
        defer: Deferred | None = None,
        on_contract_seen: ContractSeen | None = None,
    ) -> None:
        self._engine = engine
        self._executor = executor
        self._persist = persist
        self._notifier = notifier
        self._board = board
        self._clock = clock
        self._defer = defer
        self._on_contract_seen = on_contract_seen
        self._background: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ----- state updates (stage 2 done) ---------------------------------------------------------
    def on_applied(self, event: InternalEvent) -> None:
        if event.name in (events.TICK, events.QUOTE):
            return
        payload = _unwrap(event.data)
        if not isinstance(payload, dict):
            return
        account_id = payload.get("id") if event.name == events.ACCOUNT else payload.get("accountId")
        acct = self._engine.state.accounts.get(account_id) if isinstance(account_id, int) else None
        if acct is None:
            return
        self._board.event_seen(acct.account_id)
        cid = payload.get("contractId")
        if isinstance(cid, str) and self._on_contract_seen is not None:
            self._on_contract_seen(cid, acct.account_id)
        # Verification hooks at once (an enforcement may be waiting for exactly this event) ...
        if event.name == events.POSITION and isinstance(cid, str):
            self._executor.on_position(acct.account_id, cid, int(payload.get("size") or 0))
        elif event.name == events.ORDER and isinstance(payload.get("id"), int):
            self._executor.on_order(acct.account_id, payload["id"], payload["id"] in acct.orders)
        # ... dashboards and records once the queued events have been decided.
        if self._defer is not None:
            self._defer(lambda: self._publish(event.name, payload, acct, cid))
        else:
            self._publish(event.name, payload, acct, cid)

    def _update(self, type_: str, data: dict[str, Any], acct: AccountState, now: datetime) -> None:
        self._notifier.publish(DashboardUpdate(at=now, account_id=acct.account_id, type=type_, data=data))

    def _publish(self, name: str, payload: dict[str, Any], acct: AccountState, cid: Any) -> None:
        engine, persist = self._engine, self._persist
        now = self._clock.now()
        if name == events.POSITION:
            assert isinstance(cid, str)
            pos = acct.positions.get(cid)
            if pos is not None:
                self._update("position", position_view(engine, acct, pos, now), acct, now)
            else:
                symbol = RuleContext(engine.state, acct, now).symbol(cid)
                self._update("position", closed_position_view(cid, symbol), acct, now)
            if persist is not None:
                persist.position(acct, cid, pos)
        elif name == events.ORDER:
            if isinstance(payload.get("id"), int):
                try:
                    parsed = events.parse_order(payload)
                except events.MalformedEvent:
                    return
                self._update("order", order_view(parsed), acct, now)
                if persist is not None:
                    persist.order(acct.account_id, parsed)
        elif name == events.TRADE:
            try:
                trade = events.parse_trade(payload)
            except events.MalformedEvent:
                return
            self._update("trade", trade_view(trade), acct, now)
            if persist is not None:
                self._spawn(persist.trade(acct, trade))
            self.account_changed(acct)
        elif name == events.ACCOUNT:
            self.account_changed(acct)

    def account_changed(self, acct: AccountState) -> None:
        """Tell the dashboards an account's P&L, balance or ``canTrade`` (e.g. after a reconcile)."""
        now = self._clock.now()
        self._update("account", account_summary_view(self._engine, acct, now), acct, now)

    # ----- decisions (stage 5-6) ---------------------------------------------------------------------
    async def on_actions(self, actions: list[Action], event: InternalEvent) -> None:
        cause = f"e{event.seq}"
        for action in actions:
            kind = action.kind
            if kind in BROKER_KINDS:
                if action.lockout is None:
                    self._executor.submit(action, cause=cause, received_ns=event.received_ns)
            elif kind is ActionKind.LOCKOUT and action.lockout is not None:
                await self._lockout_set(action)
            elif kind is ActionKind.UNLOCK and action.lockout is not None:
                await self._lockout_cleared(action)
            elif kind is ActionKind.WARN:
                self._notifier.publish(
                    RuleWarning(
                        at=action.at,
                        account_id=action.account_id,
                        rule=action.rule,
                        message=action.reason,
                        data=dict(action.extra),
                    )
                )

    async def _lockout_set(self, action: Action) -> None:
        lockout = action.lockout
        assert lockout is not None
        if self._persist is not None:
            await self._persist.lockout_set(lockout, observed=action.observe_only)
        self._notifier.publish(
            LockoutSet(
                at=action.at,
                account_id=action.account_id,
                rule=action.rule,
                reason=action.reason,
                view=lockout_view(lockout, observed=action.observe_only),
                record=decision_record(action, WorkState.DONE, self._clock.now()),
                observed=action.observe_only,
            )
        )

    async def _lockout_cleared(self, action: Action) -> None:
        lockout = action.lockout
        assert lockout is not None
        by = action.cleared_by or ClearedBy.EXPIRY
        if self._persist is not None:
            await self._persist.lockout_cleared(lockout, by, action.reason, actor=action.actor)
        self._notifier.publish(
            LockoutCleared(
                at=action.at,
                account_id=action.account_id,
                rule=lockout.rule,
                cleared_by=str(by),
                reason=action.reason,
                view=lockout_cleared_view(lockout, action.at, str(by), action.reason),
                record=decision_record(action, WorkState.DONE, self._clock.now()),
            )
        )

    # ----- work items ---------------------------------------------------------------------------------
    def on_work_update(self, item: WorkItem) -> None:
        """The executor reports a state change: record it (one row per item), then announce it.

        The record and the push are built now, from this state; the announcement waits for the
        row's commit (its id is the entry's id)."""
        record = decision_record(item.action, item.state, self._clock.now(), item)
        seen = (record["state"], record.get("attempts"), record.get("confirmedMs"))
        if item.reported == seen:
            return  # the same state told twice: once is enough
        item.reported = seen
        # Queued now, with the values of this instant; the commit is awaited beside enforcement.
        commit = self._persist.enforcement(item, record) if self._persist is not None else None
        self._spawn(self._announce(item, WorkState(item.state), record, commit))

    async def _announce(
        self,
        item: WorkItem,
        state: WorkState,
        record: dict[str, Any],
        commit: Coroutine[Any, Any, int | None] | None,
    ) -> None:
        if commit is not None:
            row_id = await commit
            if row_id is not None:
                item.record_id = row_id
        self._notifier.publish(
            EnforcementChanged(
                at=self._clock.now(),
                account_id=item.account_id,
                rule=item.action.rule,
                state=str(state),
                final=state.final,
                failed=state is WorkState.FAILED,
                entry=enforcement_entry(item, record),
                record=record,
            )
        )
