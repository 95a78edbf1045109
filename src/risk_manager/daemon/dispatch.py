"""What happens after the engine decided (spec/daemon.md §3.1 stages 6-8): record, enforce, announce.

Enforcement never waits on storage (issue 8 §1): every broker action of a decision goes to the
executor first, at once; the decision's records (lockouts, enforcement rows, trades) are queued for
commit and awaited *beside* the pipeline, in tasks, so the next event is decided while the disk
works, fails or hangs. A lockout or enforcement push follows its commit, or, when the commit does
not come within ``COMMIT_WAIT_S`` or storage is degraded, goes out with ``"saved": false`` and a
storage note. Every decision and outcome is published on the notifier, from which
``enforcement.jsonl``, the log, the dashboards and the alerts learn it. State changes that are only
informational (positions, orders, trades, P&L for the dashboards) are deferred until the queued
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
from risk_manager.engine.rule_state import StreakMemo, streak_memo
from risk_manager.engine.state import AccountState

log = logging.getLogger("risk_manager.daemon.engine")

Deferred = Callable[[Callable[[], None]], None]
ContractSeen = Callable[[str, int], None]

# How long a lockout or enforcement push waits for its commit before it goes out marked unsaved (a
# healthy commit takes about a millisecond; the record stays queued and is written when it can be).
COMMIT_WAIT_S = 1.0


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
        # ... dashboards and records once the queued events have been decided; a fill's record
        # carries RULE-015's streak as this fill left it (later fills may be decided before it).
        streak = streak_memo(acct) if event.name == events.TRADE else None
        if self._defer is not None:
            self._defer(lambda: self._publish(event.name, payload, acct, cid, streak))
        else:
            self._publish(event.name, payload, acct, cid, streak)

    def _update(self, type_: str, data: dict[str, Any], acct: AccountState, now: datetime) -> None:
        self._notifier.publish(DashboardUpdate(at=now, account_id=acct.account_id, type=type_, data=data))

    def _publish(
        self, name: str, payload: dict[str, Any], acct: AccountState, cid: Any, streak: StreakMemo | None = None
    ) -> None:
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
                self._spawn(persist.trade(acct, trade, streak))
            self.account_changed(acct)
        elif name == events.ACCOUNT:
            self.account_changed(acct)

    def trades_caught_up(self, acct: AccountState, trades: list[events.TradeUpdate]) -> None:
        """Fills a reconcile gave the engine (missed while not watching): stored like live ones."""
        if self._persist is not None:
            self._spawn(self._persist.trades_caught_up(acct, trades))

    def account_changed(self, acct: AccountState) -> None:
        """Tell the dashboards an account's P&L, balance or ``canTrade`` (e.g. after a reconcile)."""
        now = self._clock.now()
        self._update("account", account_summary_view(self._engine, acct, now), acct, now)

    # ----- decisions (stage 5-6) ---------------------------------------------------------------------
    def on_actions(self, actions: list[Action], event: InternalEvent) -> None:
        """Hand the decision over without waiting for anything (nothing here touches a disk): the
        pipeline may call this from a hub reader's callback (an event decided on arrival)."""
        cause = f"e{event.seq}"
        for action in actions:  # the broker calls first: nothing below may delay a request
            if action.kind in BROKER_KINDS and action.lockout is None:
                self._executor.submit(action, cause=cause, received_ns=event.received_ns)
        for action in actions:
            kind = action.kind
            if kind is ActionKind.LOCKOUT and action.lockout is not None:
                self._lockout_set(action)
            elif kind is ActionKind.UNLOCK and action.lockout is not None:
                self._lockout_cleared(action)
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

    async def _committed(self, commit: Coroutine[Any, Any, Any] | None) -> tuple[Any, str | None]:
        """Await a queued commit for ``COMMIT_WAIT_S`` at most: (its result, None), or (None, the
        storage note) when it failed or did not come in time (it stays queued)."""
        if commit is None:
            return None, None
        task = asyncio.get_running_loop().create_task(commit)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        done, _ = await asyncio.wait({task}, timeout=COMMIT_WAIT_S)
        value = task.result() if task in done else None
        if value is not None:
            return value, None
        note = self._persist.storage_note() if self._persist is not None else "not saved"
        return None, note

    def _lockout_set(self, action: Action) -> None:
        lockout = action.lockout
        assert lockout is not None
        # Queued now (the values and the order of this instant); announced after the commit.
        commit = self._persist.lockout_set(lockout, observed=action.observe_only) if self._persist else None
        view = lockout_view(lockout, observed=action.observe_only)
        record = decision_record(action, WorkState.DONE, self._clock.now())
        self._spawn(self._announce_lockout(action, commit, view, record))

    async def _announce_lockout(
        self, action: Action, commit: Coroutine[Any, Any, Any] | None, view: dict[str, Any], record: dict[str, Any]
    ) -> None:
        _, note = await self._committed(commit)
        if note is not None:
            view, record = _unsaved(view, note), _unsaved(record, note)
        self._notifier.publish(
            LockoutSet(
                at=action.at,
                account_id=action.account_id,
                rule=action.rule,
                reason=action.reason,
                view=view,
                record=record,
                observed=action.observe_only,
            )
        )

    def _lockout_cleared(self, action: Action) -> None:
        lockout = action.lockout
        assert lockout is not None
        by = action.cleared_by or ClearedBy.EXPIRY
        commit = (
            self._persist.lockout_cleared(lockout, by, action.reason, actor=action.actor) if self._persist else None
        )
        view = lockout_cleared_view(lockout, action.at, str(by), action.reason)
        record = decision_record(action, WorkState.DONE, self._clock.now())
        self._spawn(self._announce_cleared(action, commit, view, record))

    async def _announce_cleared(
        self, action: Action, commit: Coroutine[Any, Any, Any] | None, view: dict[str, Any], record: dict[str, Any]
    ) -> None:
        lockout = action.lockout
        assert lockout is not None
        _, note = await self._committed(commit)
        if note is not None:
            view, record = _unsaved(view, note), _unsaved(record, note)
        self._notifier.publish(
            LockoutCleared(
                at=action.at,
                account_id=action.account_id,
                rule=lockout.rule,
                cleared_by=str(action.cleared_by or ClearedBy.EXPIRY),
                reason=action.reason,
                view=view,
                record=record,
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
        row_id, note = await self._committed(commit)
        if row_id is not None:
            item.record_id = row_id
        entry = enforcement_entry(item, record)
        if note is not None:
            entry, record = _unsaved(entry, note), _unsaved(record, note)
        self._notifier.publish(
            EnforcementChanged(
                at=self._clock.now(),
                account_id=item.account_id,
                rule=item.action.rule,
                state=str(state),
                final=state.final,
                failed=state is WorkState.FAILED,
                entry=entry,
                record=record,
            )
        )


def _unsaved(payload: dict[str, Any], note: str) -> dict[str, Any]:
    """A push or journal line whose record is not in the database (yet): said so, with the reason."""
    return payload | {"saved": False, "storage": note}
