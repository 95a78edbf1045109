"""Enforcement executor: turns engine actions into verified broker calls (spec/daemon.md §4).

Each broker-facing action becomes a work item (``work.py``). The item sends at once, then verifies
against the broker's own state (``procedures.py``); a success reply is not proof. Attempts back off
(0, 0.25, 0.5, 1, 2 s); a flatten is bounded (5 rounds or 10 s) and then escalated as failed, after
which it is tried again every 30 s while the item is kept.

Work on the same target joins the item already in flight, so however many events repeat a decision
there is exactly one close in effect per contract; a flatten in flight covers single closes and
cancels of its account.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from risk_manager.broker_ops import BrokerOps
from risk_manager.daemon.clock import SYSTEM_CLOCK, Clock
from risk_manager.daemon.enforcement.evidence import BrokerEvidence
from risk_manager.daemon.enforcement.procedures import Procedures
from risk_manager.daemon.enforcement.steps import ExecutorSettings, Steps
from risk_manager.daemon.enforcement.urgency import Urgency
from risk_manager.daemon.enforcement.work import WorkItem, WorkState, work_key
from risk_manager.engine.actions import BROKER_KINDS, ENFORCEMENT_KINDS, Action, ActionKind

log = logging.getLogger("risk_manager.daemon.executor")

Slot = tuple[int, str, Any]  # (account, what, target): one item in flight per slot
UpdateHook = Callable[[WorkItem], None]


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
        # One lock per target (a whole account for close_all), with the number of items using it,
        # so it is dropped with its last user (no lock kept per finished order).
        self._locks: dict[tuple[int, Any], tuple[asyncio.Lock, int]] = {}
        self.urgency = urgency or Urgency()
        self.evidence = BrokerEvidence()
        self.settings = settings or ExecutorSettings()
        self._steps = Steps(clock, self.urgency, self._report, self.settings)
        self._procedures = Procedures(self._steps, self.evidence)
        self.stopping = False

    # ----- submitting ------------------------------------------------------------------------------
    def submit(self, action: Action, *, cause: str, received_ns: int | None = None) -> WorkItem | None:
        """Start (or join) the work for one action; returns the item that carries it."""
        if action.kind not in BROKER_KINDS:
            return None
        covering = self._covering_flatten(action)
        if covering is not None:
            return covering
        slot = _slot(action)
        existing = self._inflight.get(slot)
        if existing is not None:
            return existing
        item = WorkItem(
            work_key(action.account_id, action.kind, slot[2], cause),
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
        task = asyncio.get_running_loop().create_task(self._run(item, slot), name=f"enforce-{item.key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return item

    def _covering_flatten(self, action: Action) -> WorkItem | None:
        """A flatten in flight already covers single closes and cancels of the same account."""
        acct = action.account_id
        if action.kind in (ActionKind.CLOSE_POSITION, ActionKind.REDUCE_POSITION):
            return self._inflight.get((acct, ActionKind.CLOSE_ALL, None))
        if action.kind is ActionKind.CANCEL_ORDER:
            return self._inflight.get((acct, ActionKind.CANCEL_ALL, None)) or self._inflight.get(
                (acct, ActionKind.CLOSE_ALL, None)
            )
        return None

    def set_update_hook(self, on_update: UpdateHook) -> None:
        self._on_update = on_update

    @property
    def in_flight(self) -> list[WorkItem]:
        return list(self._inflight.values())

    async def drain(self, timeout: float) -> list[WorkItem]:
        """Give in-flight work up to ``timeout`` seconds; return what is still open (interrupted)."""
        self.stopping = True
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        left = [i for i in self._inflight.values() if not i.done.is_set()]
        for task in list(self._tasks):
            task.cancel()
        for item in left:
            item.state = WorkState.INTERRUPTED
            self._report(item)
        return left

    # ----- event hooks (verification shortcuts) ------------------------------------------------------
    def on_position(self, account_id: int, contract_id: str, size: int) -> None:
        self.evidence.on_position(account_id, contract_id, size)

    def on_order(self, account_id: int, order_id: int, working: bool) -> None:
        self.evidence.on_order(account_id, order_id, working)

    # ----- running -----------------------------------------------------------------------------------
    def _report(self, item: WorkItem) -> None:
        if self._on_update is None:
            return
        try:
            self._on_update(item)
        except Exception:  # a reporting problem must never stop enforcement
            log.exception("enforcement update hook failed")

    async def _run(self, item: WorkItem, slot: Slot) -> None:
        steps = self._steps
        lock_key = (item.account_id, slot[2] if slot[1] != ActionKind.CLOSE_ALL else "*")
        lock, users = self._locks.get(lock_key) or (asyncio.Lock(), 0)
        self._locks[lock_key] = (lock, users + 1)
        try:
            async with lock:
                ops = self._ops_for(item.account_id)
                if ops is None:
                    item.result = {"error": "no broker session for this account"}
                    steps.set(item, WorkState.FAILED)
                    return
                if not item.urgent:
                    # An urgent item's first record is written as its request leaves ("sent"):
                    # reporting "pending" first would run bookkeeping ahead of the request.
                    self._report(item)
                while True:
                    if await self._procedures.run(item, ops):
                        item.confirmed_ms = item.elapsed_ms()
                        steps.set(item, WorkState.DONE)
                        return
                    steps.set(item, WorkState.FAILED)
                    if self.stopping:
                        return
                    await self._clock.sleep(self.settings.retry_failed_every_s)
                    steps.set(item, WorkState.RETRYING)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never let one work item take the executor down
            item.result = {"error": f"{type(exc).__name__}: {exc}"}
            log.exception("enforcement work item crashed", extra={"acct": item.account_id})
            steps.set(item, WorkState.FAILED)
        finally:
            steps.release(item)
            if self._inflight.get(slot) is item:
                del self._inflight[slot]
            lock, users = self._locks[lock_key]
            if users <= 1:
                del self._locks[lock_key]
            else:
                self._locks[lock_key] = (lock, users - 1)
            item.done.set()
