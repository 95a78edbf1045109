"""Enforcement executor: turns engine actions into verified broker calls (daemon.md §4).

Each broker-facing action becomes a work item. The item sends at once, then verifies against the
broker's own state (a position event or ``searchOpen``); a success reply is not proof. When the outcome
of a money-moving call is unknown (timeout, 5xx, dropped connection) the next step is always a read,
never a second blind call. Attempts back off (0, 0.25, 0.5, 1, 2 s); a flatten is bounded (5 rounds or
10 s) and then escalated as failed, after which it is tried again every 30 s while the item is kept.

Work on the same target joins the item already in flight, so however many events repeat a decision
there is exactly one close in effect per contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from risk_manager.daemon.broker_ops import BrokerOps, BrokerRejected, OutcomeUncertain
from risk_manager.daemon.urgency import Urgency
from risk_manager.engine import actions as A
from risk_manager.engine.actions import Action
from risk_manager.engine.enums import WORKING_STATUSES, OrderStatus
from risk_manager.engine.money import to_decimal
from risk_manager.gateway.session import REQUEST_SENT

log = logging.getLogger("risk_manager.daemon.executor")

BROKER_ACTIONS = frozenset(
    {
        A.CLOSE_POSITION,
        A.REDUCE_POSITION,
        A.CLOSE_ALL,
        A.CANCEL_ORDER,
        A.CANCEL_ALL,
        A.PLACE_STOP,
        A.MODIFY_STOP,
    }
)
BACKOFF = (0.0, 0.25, 0.5, 1.0, 2.0)
VERIFY_WAIT = 0.3
MAX_ROUNDS = 5
MAX_SECONDS = 10.0
RETRY_FAILED_EVERY = 30.0
# Not final: Open, Pending, PendingCancellation (a cancel is not done until the broker says so) and
# Suspended (engine/enums.py). An order listed as PendingCancellation gets no second cancel.
WORKING = WORKING_STATUSES
PENDING_CANCEL = OrderStatus.PENDING_CANCELLATION


def _status(order: dict[str, Any]) -> int:
    return int(order.get("status") or 0)


def working_status(orders: list[dict[str, Any]], order_id: int) -> int | None:
    """The status of ``order_id`` when a read lists it as still working, else None (it is gone)."""
    for o in orders:
        if int(o["id"]) == order_id and _status(o) in WORKING:
            return _status(o)
    return None


# Actions that take risk off: the pipeline steps aside until their first request is on the wire.
URGENT_ACTIONS = frozenset({A.CLOSE_POSITION, A.REDUCE_POSITION, A.CLOSE_ALL, A.CANCEL_ORDER, A.CANCEL_ALL})


def work_key(account_id: int, action: str, target: object, cause: str) -> str:
    return hashlib.sha1(f"{account_id}|{action}|{target}|{cause}".encode()).hexdigest()[:20]


@dataclass
class WorkItem:
    key: str
    action: Action
    cause: str
    received_ns: int | None
    state: str = "pending"
    attempts: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    first_request_ms: float | None = None
    confirmed_ms: float | None = None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    record_id: int | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    reported: tuple[Any, ...] | None = None  # last (state, attempts, confirmed) told to the world
    urgent: bool = False  # holds the pipeline's urgency gate until its first request is written

    @property
    def account_id(self) -> int:
        return self.action.account_id

    @property
    def target(self) -> str | int | None:
        a = self.action
        if a.action in (A.CANCEL_ORDER, A.MODIFY_STOP):
            return a.order_id
        return a.contract_id

    def elapsed_ms(self) -> float | None:
        if self.received_ns is None:
            return None
        return (time.perf_counter_ns() - self.received_ns) / 1e6


UpdateHook = Callable[[WorkItem], Awaitable[None] | None]


class Executor:
    def __init__(
        self,
        ops_for: Callable[[int], BrokerOps | None],
        on_update: UpdateHook | None = None,
        urgency: Urgency | None = None,
    ) -> None:
        self._ops_for = ops_for
        self._on_update = on_update
        self._inflight: dict[tuple[int, str, Any], WorkItem] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[tuple[int, Any], asyncio.Lock] = {}
        self._flat_waiters: dict[tuple[int, str], list[asyncio.Future[None]]] = {}
        self._order_waiters: dict[tuple[int, int], list[asyncio.Future[None]]] = {}
        self._sizes: dict[tuple[int, str], int] = {}  # last position size seen per (account, contract)
        self._final_orders: set[tuple[int, int]] = set()  # orders seen final (filled, cancelled, ...)
        self.urgency = urgency or Urgency()
        self.stopping = False

    # ----- submitting ------------------------------------------------------------------------------
    def _slot(self, action: Action) -> tuple[int, str, Any]:
        kind = action.action
        if kind in (A.CLOSE_POSITION, A.REDUCE_POSITION):
            return (action.account_id, "position", action.contract_id)
        if kind in (A.CANCEL_ORDER, A.MODIFY_STOP):
            return (action.account_id, "order", action.order_id)
        if kind == A.PLACE_STOP:
            return (action.account_id, "stop", action.contract_id)
        return (action.account_id, kind, None)

    def submit(self, action: Action, *, cause: str, received_ns: int | None = None) -> WorkItem | None:
        """Start (or join) the work for one action; returns the item that carries it."""
        if action.action not in BROKER_ACTIONS:
            return None
        acct = action.account_id
        # A flatten in flight already covers single closes and cancels of the same account.
        if action.action in (A.CLOSE_POSITION, A.REDUCE_POSITION):
            covering = self._inflight.get((acct, A.CLOSE_ALL, None))
            if covering is not None:
                return covering
        if action.action == A.CANCEL_ORDER:
            covering = self._inflight.get((acct, A.CANCEL_ALL, None)) or self._inflight.get(
                (acct, A.CLOSE_ALL, None)
            )
            if covering is not None:
                return covering
        slot = self._slot(action)
        existing = self._inflight.get(slot)
        if existing is not None:
            return existing
        item = WorkItem(
            work_key(acct, action.action, self._slot(action)[2], cause), action, cause, received_ns
        )
        if action.observe_only:
            item.state = "observed"
            item.done.set()
            self._notify(item)
            return item
        self._inflight[slot] = item
        if action.action in URGENT_ACTIONS:
            item.urgent = True
            self.urgency.hold()
        task = asyncio.get_running_loop().create_task(self._run(item, slot), name=f"enforce-{item.key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return item

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
            item.state = "interrupted"
            self._notify(item)
        return left

    # ----- event hooks (verification shortcuts) ------------------------------------------------------
    def on_position(self, account_id: int, contract_id: str, size: int) -> None:
        self._sizes[(account_id, contract_id)] = size
        if size == 0:
            for fut in self._flat_waiters.pop((account_id, contract_id), []):
                if not fut.done():
                    fut.set_result(None)

    def on_order(self, account_id: int, order_id: int, working: bool) -> None:
        if not working:
            self._final_orders.add((account_id, order_id))
            if len(self._final_orders) > 10_000:
                self._final_orders.clear()  # bounded memory; the read verifies whatever is forgotten
            for fut in self._order_waiters.pop((account_id, order_id), []):
                if not fut.done():
                    fut.set_result(None)

    async def _wait(self, table: dict[Any, list[asyncio.Future[None]]], key: Any, timeout: float) -> bool:
        """Wait for the confirming event; True if the broker's own event confirmed it in time."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        table.setdefault(key, []).append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            waiters = table.get(key)
            if waiters and fut in waiters:
                waiters.remove(fut)

    # ----- running -----------------------------------------------------------------------------------
    def _notify(self, item: WorkItem) -> None:
        if self._on_update is None:
            return
        try:
            result = self._on_update(item)
            if asyncio.iscoroutine(result):
                task = asyncio.get_running_loop().create_task(result)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except Exception:  # a reporting problem must never stop enforcement
            log.exception("enforcement update hook failed")

    def _set(self, item: WorkItem, state: str) -> None:
        if item.state != state:
            item.state = state
            self._notify(item)

    async def _run(self, item: WorkItem, slot: tuple[int, str, Any]) -> None:
        lock = self._locks.setdefault(
            (item.account_id, slot[2] if slot[1] != A.CLOSE_ALL else "*"), asyncio.Lock()
        )
        try:
            async with lock:
                ops = self._ops_for(item.account_id)
                if ops is None:
                    item.result = {"error": "no broker session for this account"}
                    self._set(item, "failed")
                    return
                if not item.urgent:
                    # An urgent item's first record is written as its request leaves ("sent"):
                    # reporting "pending" first would run bookkeeping ahead of the request.
                    self._notify(item)
                handler = {
                    A.CLOSE_POSITION: self._close_position,
                    A.REDUCE_POSITION: self._close_position,
                    A.CLOSE_ALL: self._flatten,
                    A.CANCEL_ALL: self._flatten,
                    A.CANCEL_ORDER: self._cancel_order,
                    A.PLACE_STOP: self._place_stop,
                    A.MODIFY_STOP: self._modify_stop,
                }[item.action.action]
                while True:
                    ok = await handler(item, ops)
                    if ok:
                        item.confirmed_ms = item.elapsed_ms()
                        self._set(item, "done")
                        log.info(
                            "%s %s confirmed after %d attempt(s)",
                            item.action.action,
                            item.target or "",
                            item.attempts,
                            extra={"acct": item.account_id, "rule": item.action.rule},
                        )
                        return
                    self._set(item, "failed")
                    log.critical(
                        "ENFORCEMENT FAILED - close manually: %s %s after %d attempts (%s)",
                        item.action.action,
                        item.target or "",
                        item.attempts,
                        item.result.get("error", "broker state not confirmed"),
                        extra={"acct": item.account_id, "rule": item.action.rule},
                    )
                    if self.stopping:
                        return
                    await asyncio.sleep(RETRY_FAILED_EVERY)
                    self._set(item, "retrying")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never let one work item take the executor down
            item.result = {"error": f"{type(exc).__name__}: {exc}"}
            log.exception("enforcement work item crashed", extra={"acct": item.account_id})
            self._set(item, "failed")
        finally:
            self._release(item)
            if self._inflight.get(slot) is item:
                del self._inflight[slot]
            item.done.set()

    @contextlib.contextmanager
    def _sending(self, item: WorkItem) -> Iterator[None]:
        """Around money-moving calls: the moment a request is on the wire the pipeline may go on
        (urgency released) and the item is reported "sent"; released in any case at the end."""

        def sent() -> None:
            self._release(item)
            self._set(item, "sent")

        token = REQUEST_SENT.set(sent)
        try:
            yield
        finally:
            REQUEST_SENT.reset(token)
            self._release(item)

    def _release(self, item: WorkItem) -> None:
        if item.urgent:
            item.urgent = False
            self.urgency.release()

    def _mark_request(self, item: WorkItem) -> None:
        item.attempts += 1
        if item.first_request_ms is None:
            item.first_request_ms = item.elapsed_ms()

    async def _sleep_backoff(self, attempt: int) -> None:
        delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
        if delay:
            await asyncio.sleep(delay * random.uniform(0.9, 1.1))

    async def _mutate(self, item: WorkItem, call: Awaitable[Any]) -> Any:
        """Send one money-moving call; classify its outcome without ever repeating it blindly."""
        self._mark_request(item)
        try:
            with self._sending(item):
                result = await call
        except BrokerRejected as exc:
            item.result = {"rejected": str(exc)}
            self._set(item, "verifying")
            return None
        except OutcomeUncertain as exc:
            item.result = {"uncertain": str(exc)}
            self._set(item, "uncertain")
            return None
        self._set(item, "verifying")
        return result

    # ----- positions -------------------------------------------------------------------------------------
    @staticmethod
    def _size_of(positions: list[dict[str, Any]], contract_id: str) -> int:
        for p in positions:
            if p.get("contractId") == contract_id:
                return int(p.get("size") or 0)
        return 0

    async def _close_position(self, item: WorkItem, ops: BrokerOps) -> bool:
        a = item.action
        acct, cid = a.account_id, a.contract_id
        assert cid is not None
        target: int | None = None  # size to end at (0 = flat)
        deadline = time.monotonic() + MAX_SECONDS
        for attempt in range(MAX_ROUNDS * 2):
            if attempt > 0 or item.state in ("uncertain", "retrying"):
                await self._sleep_backoff(attempt)
                size = self._size_of(await ops.open_positions(acct), cid)
                if target is None and a.action == A.REDUCE_POSITION:
                    target = max(0, size - (a.size or 0))
                if size <= (target or 0):
                    item.result = {"size": size}
                    return True
                if attempt > 0:
                    self._set(item, "retrying")
            if time.monotonic() > deadline:
                break
            if a.action == A.REDUCE_POSITION and a.size:
                if target is None:
                    known = self._sizes.get((acct, cid))
                    # The size the engine decided on is the one the last position event showed;
                    # a read is needed only when no event has shown it (e.g. straight after start).
                    size = known if known else self._size_of(await ops.open_positions(acct), cid)
                    target = max(0, size - a.size)
                    if size <= target:
                        return True
                    await self._mutate(item, ops.partial_close(acct, cid, size - target))
                else:
                    current = self._size_of(await ops.open_positions(acct), cid)
                    if current <= target:
                        return True
                    await self._mutate(item, ops.partial_close(acct, cid, current - target))
            else:
                await self._mutate(item, ops.close_contract(acct, cid))
            # Events may come before the call's answer: a flat already seen counts too.
            confirmed = self._sizes.get((acct, cid)) == 0 or await self._wait(
                self._flat_waiters, (acct, cid), VERIFY_WAIT
            )
            if confirmed and not target:
                item.result = {"size": 0, "confirmedBy": "position event"}
                return True  # the broker's own position event says flat: no read needed
            size = self._size_of(await ops.open_positions(acct), cid)
            if size <= (target or 0):
                item.result = {"size": size}
                return True
        item.result.setdefault("error", "position still open")
        return False

    async def _flatten(self, item: WorkItem, ops: BrokerOps) -> bool:
        """close_all / cancel_all: parallel cancels and closes, re-read, repeat (bounded)."""
        acct = item.account_id
        close = item.action.action == A.CLOSE_ALL
        deadline = time.monotonic() + MAX_SECONDS
        for round_no in range(MAX_ROUNDS):
            if round_no:
                await self._sleep_backoff(round_no)
                self._set(item, "retrying")
            orders, positions = await self._open_state(ops, acct, close)
            if not orders and not positions:
                item.result = {"rounds": round_no}
                return True
            if time.monotonic() > deadline:
                break
            calls = [ops.cancel_order(acct, int(o["id"])) for o in orders if _status(o) != PENDING_CANCEL]
            calls += [ops.close_contract(acct, str(p["contractId"])) for p in positions]
            self._mark_request(item)
            with self._sending(item):
                results = await asyncio.gather(*calls, return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException) and not isinstance(r, BrokerRejected | OutcomeUncertain):
                    item.result = {"error": f"{type(r).__name__}: {r}"}
            self._set(item, "verifying")
            await asyncio.sleep(VERIFY_WAIT / 3)
        orders, positions = await self._open_state(ops, acct, close)
        if not orders and not positions:
            return True
        item.result = {
            "error": "still open after the bounded flatten",
            "positions": [p.get("contractId") for p in positions],
            "orders": [o.get("id") for o in orders],
        }
        return False

    @staticmethod
    async def _open_state(
        ops: BrokerOps, acct: int, with_positions: bool
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Working orders and (optionally) open positions, read in parallel."""
        if with_positions:
            raw_orders, raw_positions = await asyncio.gather(ops.open_orders(acct), ops.open_positions(acct))
        else:
            raw_orders, raw_positions = await ops.open_orders(acct), []
        orders = [o for o in raw_orders if _status(o) in WORKING]
        positions = [p for p in raw_positions if int(p.get("size") or 0) > 0]
        return orders, positions

    # ----- orders ------------------------------------------------------------------------------------------
    async def _cancel_order(self, item: WorkItem, ops: BrokerOps) -> bool:
        acct, order_id = item.account_id, item.action.order_id
        assert order_id is not None
        for attempt in range(MAX_ROUNDS):
            if attempt:
                await self._sleep_backoff(attempt)
                self._set(item, "retrying")
            status: int | None = None
            if attempt or item.state == "uncertain":
                status = working_status(await ops.open_orders(acct), order_id)
                if status is None:
                    return True
            if status != PENDING_CANCEL:  # a pending cancellation only needs the broker's confirmation
                await self._mutate(item, ops.cancel_order(acct, order_id))
            if (acct, order_id) in self._final_orders or await self._wait(
                self._order_waiters, (acct, order_id), VERIFY_WAIT
            ):
                return True  # the broker's order event says final: no read needed
            if working_status(await ops.open_orders(acct), order_id) is None:
                return True
        item.result.setdefault("error", "order still working")
        return False

    async def _place_stop(self, item: WorkItem, ops: BrokerOps) -> bool:
        a = item.action
        acct, cid = a.account_id, a.contract_id
        assert cid is not None and a.stop_price is not None and a.size is not None and a.side is not None
        tag = f"rm-{item.key}"
        for attempt in range(MAX_ROUNDS):
            if attempt:
                await self._sleep_backoff(attempt)
                self._set(item, "retrying")
            mine = [o for o in await ops.open_orders(acct) if o.get("customTag") == tag] if attempt else []
            if mine:
                item.result = {"orderId": mine[0]["id"]}
                return True
            if not any(
                int(p.get("size") or 0) > 0 for p in await ops.open_positions(acct) if p["contractId"] == cid
            ):
                item.result = {"skipped": "position already closed"}
                return True
            order_id = await self._mutate(item, ops.place_stop(acct, cid, a.side, a.size, a.stop_price, tag))
            if order_id is not None:
                item.result = {"orderId": order_id}
                return True
        item.result.setdefault("error", "stop not confirmed")
        return False

    async def _modify_stop(self, item: WorkItem, ops: BrokerOps) -> bool:
        a = item.action
        acct, order_id = a.account_id, a.order_id
        assert order_id is not None
        for attempt in range(MAX_ROUNDS):
            if attempt:
                await self._sleep_backoff(attempt)
                self._set(item, "retrying")
            await self._mutate(item, ops.modify_order(acct, order_id, size=a.size, stop_price=a.stop_price))
            for o in await ops.open_orders(acct):
                if int(o["id"]) == order_id:
                    price = o.get("stopPrice")
                    if a.stop_price is None or (
                        price is not None and to_decimal(price) == Decimal(a.stop_price)
                    ):
                        return True
                    break
            else:
                item.result = {"skipped": "order no longer working"}
                return True
        item.result.setdefault("error", "stop not moved")
        return False
