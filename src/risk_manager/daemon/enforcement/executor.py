"""Enforcement executor: turns engine actions into verified broker calls (spec/daemon.md §4).

Each broker-facing action becomes a work item (``work.py``). The item sends at once, then verifies
against the broker's own state (``procedures.py``); a success reply is not proof. Attempts back off
(0, 0.25, 0.5, 1, 2 s); a flatten is bounded (5 rounds or 10 s) and then escalated as failed, after
which it is tried again every 30 s while the item is kept.

Work on the same target joins the item already in flight, so however many events repeat a decision
there is exactly one close in effect per contract; a flatten in flight covers single closes and
cancels of its account. A breach is never parked behind a failure: a decision that joins an item
which failed its bound (or is about to) wakes it for a fresh attempt at once, and the broker's own
events showing the target reached wake a failed item to verify, so its record follows the broker.

Records left unfinished by an earlier run are resumed (``resume``) once their account is reconciled:
re-checked against the broker and carried out only as far as still needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from risk_manager import latency_trace
from risk_manager.broker_ops import BrokerOps
from risk_manager.daemon.clock import SYSTEM_CLOCK, Clock
from risk_manager.daemon.enforcement.evidence import BrokerEvidence
from risk_manager.daemon.enforcement.procedures import Procedures
from risk_manager.daemon.enforcement.steps import ExecutorSettings, Steps
from risk_manager.daemon.enforcement.urgency import Urgency
from risk_manager.daemon.enforcement.work import WorkItem, WorkState, work_key
from risk_manager.eager_tasks import start_now
from risk_manager.engine.actions import BROKER_KINDS, ENFORCEMENT_KINDS, Action, ActionKind

log = logging.getLogger("risk_manager.daemon.executor")

Slot = tuple[Any, str, Any]  # (account, what, target): one item in flight per slot
UpdateHook = Callable[[WorkItem], None]

_POSITION_KINDS = frozenset({ActionKind.CLOSE_POSITION, ActionKind.REDUCE_POSITION, ActionKind.CLOSE_ALL})
_ORDER_KINDS = frozenset({ActionKind.CANCEL_ORDER, ActionKind.CANCEL_ALL, ActionKind.CLOSE_ALL})
_ACCOUNT_KINDS = frozenset({ActionKind.CLOSE_ALL, ActionKind.CANCEL_ALL})


def _slot(action: Action) -> Slot:
    kind = action.kind
    if kind in (ActionKind.CLOSE_POSITION, ActionKind.REDUCE_POSITION):
        return (action.account_id, "position", action.contract_id)
    if kind in (ActionKind.CANCEL_ORDER, ActionKind.MODIFY_STOP):
        return (action.account_id, "order", action.order_id)
    if kind is ActionKind.PLACE_STOP:
        return (action.account_id, "stop", action.contract_id)
    return (action.account_id, str(kind), None)


class Executor:
    def __init__(
        self,
        ops_for: Callable[[int], BrokerOps | None],
        on_update: UpdateHook | None = None,
        urgency: Urgency | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        settings: ExecutorSettings | None = None,
    ) -> None:
        self._ops_for = ops_for
        self._on_update = on_update
        self._clock = clock
        self._inflight: dict[Slot, WorkItem] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: dict[asyncio.Task[Any], WorkItem] = {}  # every item being worked on, by task
        # One lock per target (a whole account for close_all), with the number of items using it,
        # so it is dropped with its last user (no lock kept per finished order).
        self._locks: dict[tuple[int, Any], tuple[asyncio.Lock, int]] = {}
        self.urgency = urgency or Urgency()
        self.evidence = BrokerEvidence()
        self.settings = settings or ExecutorSettings()
        self._steps = Steps(clock, self.urgency, self._report, self.settings)
        self._procedures = Procedures(self._steps, self.evidence, self._companions)
        self.stopping = False
        # Event numbers (the cause of most items) restart with every run; this run's tag keeps a new
        # item's key from ever meeting the unfinished record of an earlier run.
        self.run_tag = secrets.token_hex(4)

    # ----- submitting ------------------------------------------------------------------------------
    def submit(self, action: Action, *, cause: str, received_ns: int | None = None) -> WorkItem | None:
        """Start (or join) the work for one action; returns the item that carries it."""
        if action.kind not in BROKER_KINDS:
            return None
        slot = _slot(action)
        existing = self._covering_flatten(action) or self._inflight.get(slot)
        if existing is not None:
            self._wake(existing, urgent=True)
            return existing
        item = WorkItem(
            work_key(action.account_id, action.kind, slot[2], f"{cause}@{self.run_tag}"),
            action,
            cause,
            received_ns,
            created=self._clock.now(),
        )
        if action.observe_only:
            item.state = WorkState.OBSERVED
            item.done.set()
            self._report(item)
            return item
        self._inflight[slot] = item
        if action.kind in ENFORCEMENT_KINDS:
            item.urgent = True  # the pipeline steps aside until its first request is on the wire
            self.urgency.hold()
        self._start(item, slot)
        return item

    def resume(
        self,
        action: Action,
        *,
        key: str,
        cause: str,
        created: datetime,
        attempts: int = 0,
        record_id: int | None = None,
    ) -> WorkItem | None:
        """Carry on with a record an earlier run left unfinished (spec/daemon.md §2.3): the item
        keeps the record's key (so its outcome lands on the same row), starts from a read of the
        broker's state and sends only what is still needed. Runs beside this run's own items,
        serialised with them per target."""
        if action.kind not in BROKER_KINDS:
            return None
        item = WorkItem(key, action, cause, None, created=created, attempts=attempts, record_id=record_id)
        item.state = WorkState.RETRYING  # the first step is a read: the earlier outcome is unknown
        item.resumed = True
        if action.observe_only:
            item.state = WorkState.OBSERVED
            item.result = {"recheckedAtStart": True, "observed": "observe-only: nothing sent"}
            item.done.set()
            self._report(item)
            return item
        self._start(item, ("resume", key, None))
        return item

    def _start(self, item: WorkItem, slot: Slot) -> None:
        # Eager where Python can: the first request may be on the wire before this returns.
        task = start_now(self._run(item, slot), name=f"enforce-{item.key}")
        if not task.done():
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _wake(self, item: WorkItem, *, urgent: bool) -> None:
        """A new decision (``urgent``) or new broker evidence for an item already in flight: if it
        failed its bound, or does so later, it tries again at once instead of waiting for the
        periodic retry."""
        if item.done.is_set() or self.stopping:
            return
        if urgent and item.resting and not item.urgent and item.action.kind in ENFORCEMENT_KINDS:
            item.urgent = True  # a breach again: its request goes out ahead of the pipeline
            self.urgency.hold()
        item.wake.set()

    def _covering_flatten(self, action: Action) -> WorkItem | None:
        """A flatten in flight already covers single closes and cancels of the same account, and
        stop placements and moves on it (a flattened position needs no stop)."""
        acct = action.account_id
        if action.kind in (
            ActionKind.CLOSE_POSITION,
            ActionKind.REDUCE_POSITION,
            ActionKind.PLACE_STOP,
            ActionKind.MODIFY_STOP,
        ):
            return self._inflight.get((acct, ActionKind.CLOSE_ALL, None))
        if action.kind is ActionKind.CANCEL_ORDER:
            return self._inflight.get((acct, ActionKind.CANCEL_ALL, None)) or self._inflight.get(
                (acct, ActionKind.CLOSE_ALL, None)
            )
        return None

    def _companions(self, item: WorkItem) -> list[WorkItem]:
        """The other items in flight on ``item``'s account."""
        return [i for i in self._inflight.values() if i.account_id == item.account_id and i is not item]

    def set_update_hook(self, on_update: UpdateHook) -> None:
        self._on_update = on_update

    @property
    def in_flight(self) -> list[WorkItem]:
        return list(self._inflight.values())

    async def drain(self, timeout: float) -> list[WorkItem]:
        """Give in-flight work up to ``timeout`` seconds; return what is still open (interrupted).

        Items resting after a failed bound are not waited for: they are interrupted at once, so
        the next start re-checks them against the broker."""
        self.stopping = True
        busy = [t for t in self._tasks if not self._resting(t)]
        if busy:
            await asyncio.wait(busy, timeout=timeout)
        left = [i for i in self._items if not i.done.is_set()]
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for item in left:
            item.state = WorkState.INTERRUPTED
            self._report(item)
        return left

    @property
    def _items(self) -> list[WorkItem]:
        return list(self._running.values())

    def _resting(self, task: asyncio.Task[None]) -> bool:
        item = self._running.get(task)
        return item is not None and item.resting

    # ----- event hooks (verification shortcuts) ------------------------------------------------------
    def on_position(self, account_id: int, contract_id: str, size: int) -> None:
        self.evidence.on_position(account_id, contract_id, size)
        if size == 0:
            self._wake_resting(account_id, _POSITION_KINDS, contract_id)

    def on_order(self, account_id: int, order_id: int, working: bool) -> None:
        self.evidence.on_order(account_id, order_id, working)
        if not working:
            self._wake_resting(account_id, _ORDER_KINDS, order_id)

    def _wake_resting(self, account_id: int, kinds: frozenset[ActionKind], target: object) -> None:
        """The broker's events show a target reached: failed items of the account that it concerns
        verify at once, so a record never says "failed" for long about something that is done."""
        for item in self._running.values():
            if not item.resting or item.account_id != account_id or item.action.kind not in kinds:
                continue
            if item.action.kind in _ACCOUNT_KINDS or item.target == target:
                self._wake(item, urgent=False)

    # ----- running -----------------------------------------------------------------------------------
    def _report(self, item: WorkItem) -> None:
        if self._on_update is None:
            return
        try:
            self._on_update(item)
        except Exception:  # a reporting problem must never stop enforcement
            log.exception("enforcement update hook failed")

    async def _run(self, item: WorkItem, slot: Slot) -> None:
        trace = latency_trace.TRACE
        if trace is not None:
            trace.mark(latency_trace.KEY.get(), "exec")
        steps = self._steps
        target = item.target
        lock_key = (item.account_id, "*" if item.action.kind is ActionKind.CLOSE_ALL else target)
        lock, users = self._locks.get(lock_key) or (asyncio.Lock(), 0)
        self._locks[lock_key] = (lock, users + 1)
        task = asyncio.current_task()
        if task is not None:
            self._running[task] = item
        try:
            first = True
            while True:
                item.wake.clear()
                async with lock:  # held per attempt: never while resting between attempts
                    ops = self._ops_for(item.account_id)
                    if ops is None:
                        item.result = {"error": "no broker session for this account"}
                        steps.set(item, WorkState.FAILED)
                        return
                    if first and not item.urgent:
                        # An urgent item's first record is written as its request leaves ("sent"):
                        # reporting "pending" first would run bookkeeping ahead of the request.
                        self._report(item)
                    first = False
                    if await self._procedures.run(item, ops):
                        item.confirmed_ms = item.elapsed_ms()
                        if item.resumed:
                            item.result = dict(item.result) | {"recheckedAtStart": True}
                        steps.set(item, WorkState.DONE)
                        return
                    steps.release(item)
                    steps.set(item, WorkState.FAILED)
                if self.stopping:
                    return
                await self._rest(item)
                if self.stopping:
                    return
                steps.set(item, WorkState.RETRYING)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never let one work item take the executor down
            item.result = {"error": f"{type(exc).__name__}: {exc}"}
            log.exception("enforcement work item crashed", extra={"acct": item.account_id})
            steps.set(item, WorkState.FAILED)
        finally:
            steps.release(item)
            item.resting = False
            if task is not None:
                self._running.pop(task, None)
            if self._inflight.get(slot) is item:
                del self._inflight[slot]
            lock, users = self._locks[lock_key]
            if users <= 1:
                del self._locks[lock_key]
            else:
                self._locks[lock_key] = (lock, users - 1)
            item.done.set()

    async def _rest(self, item: WorkItem) -> None:
        """After a failed bound: the periodic retry, or at once when woken (a new breach joined the
        item, or the broker's events showed a change worth verifying)."""
        if item.wake.is_set():
            return  # a new decision came while the bound ran out: no pause
        item.resting = True
        sleeper = asyncio.ensure_future(self._clock.sleep(self.settings.retry_failed_every_s))
        waker = asyncio.ensure_future(item.wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            item.resting = False
            for t in (sleeper, waker):
                t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(sleeper, waker, return_exceptions=True)
