"""How each kind of work is carried out and verified (spec/daemon.md §4.2).

Every procedure sends, then verifies against the broker's own state (an event, else a read); when
the outcome of a call is unknown the next step is a read, never a second blind call. A procedure
returns True when the broker's state shows the goal reached, False when the bounded attempt ran out
and the broker's state, read after the last attempt, shows it still missing (``item.result`` says
what remains). A read that fails is repeated (``Steps.read``): it never turns into a failure, since
it says nothing about the broker's state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from risk_manager.broker_ops import BrokerOps, BrokerRejected, OutcomeUncertain
from risk_manager.daemon.enforcement.evidence import BrokerEvidence
from risk_manager.daemon.enforcement.steps import Steps
from risk_manager.daemon.enforcement.work import WorkItem, WorkState
from risk_manager.eager_tasks import start_now
from risk_manager.engine.actions import ActionKind
from risk_manager.engine.enums import WORKING_STATUSES, OrderStatus
from risk_manager.engine.money import to_decimal

# Not final: Open, Pending, PendingCancellation (a cancel is not done until the broker says so) and
# Suspended (engine/enums.py). An order listed as PendingCancellation gets no second cancel.
PENDING_CANCEL = OrderStatus.PENDING_CANCELLATION


def _status(order: dict[str, Any]) -> int:
    return int(order.get("status") or 0)


def working_status(orders: list[dict[str, Any]], order_id: int) -> int | None:
    """The status of ``order_id`` when a read lists it as still working, else None (it is gone)."""
    for o in orders:
        if int(o["id"]) == order_id and _status(o) in WORKING_STATUSES:
            return _status(o)
    return None


def _size_of(positions: list[dict[str, Any]], contract_id: str) -> int:
    for p in positions:
        if p.get("contractId") == contract_id:
            return int(p.get("size") or 0)
    return 0


Companions = Callable[[WorkItem], list[WorkItem]]


def _none(item: WorkItem) -> list[WorkItem]:
    return []


class Procedures:
    def __init__(self, steps: Steps, evidence: BrokerEvidence, companions: Companions = _none) -> None:
        self.steps = steps
        self.evidence = evidence
        self.settings = steps.settings
        #: the other items in flight on the same account (a flatten works around them)
        self._companions = companions
        self._by_kind = {
            ActionKind.CLOSE_POSITION: self.close_position,
            ActionKind.REDUCE_POSITION: self.close_position,
            ActionKind.CLOSE_ALL: self.flatten,
            ActionKind.CANCEL_ALL: self.flatten,
            ActionKind.CANCEL_ORDER: self.cancel_order,
            ActionKind.PLACE_STOP: self.place_stop,
            ActionKind.MODIFY_STOP: self.modify_stop,
        }

    async def run(self, item: WorkItem, ops: BrokerOps) -> bool:
        a = item.action
        if item.resumed and (
            a.kind in (ActionKind.PLACE_STOP, ActionKind.MODIFY_STOP)
            or (a.kind is ActionKind.REDUCE_POSITION and not a.size)
        ):
            return await self.recheck(item, ops)
        return await self._by_kind[a.kind](item, ops)

    async def recheck(self, item: WorkItem, ops: BrokerOps) -> bool:
        """An earlier run's stop placement, stop move or reduction whose parameters were not kept:
        find what it did at the broker; what is still needed the rules decide again (the start-up
        reconcile evaluates every rule), so nothing is sent from this record."""
        a, acct = item.action, item.account_id
        again = "re-decided by the rules at start"
        if a.kind is ActionKind.PLACE_STOP:
            orders = await self.steps.read(item, lambda: ops.open_orders(acct))
            mine = [o for o in orders if o.get("customTag") == f"rm-{item.key}"]
            if mine:
                item.result = {"orderId": mine[0]["id"]}
            elif a.contract_id is not None and not await self._size(item, ops, acct, a.contract_id):
                item.result = {"skipped": "position already closed"}
            else:
                item.result = {"notPlaced": again}
        elif a.kind is ActionKind.MODIFY_STOP:
            assert a.order_id is not None
            working = await self._working(item, ops, acct, a.order_id)
            item.result = {"skipped": "order no longer working"} if working is None else {"notConfirmed": again}
        else:
            assert a.contract_id is not None
            item.result = {"size": await self._size(item, ops, acct, a.contract_id), "reduction": again}
        return True

    # ----- positions -----------------------------------------------------------------------------------
    async def _size(self, item: WorkItem, ops: BrokerOps, acct: int, cid: str) -> int:
        """The broker's size of one position (a verification read, retried until it answers)."""
        return _size_of(await self.steps.read(item, lambda: ops.open_positions(acct)), cid)

    async def close_position(self, item: WorkItem, ops: BrokerOps) -> bool:
        steps, clock, evidence = self.steps, self.steps.clock, self.evidence
        a = item.action
        acct, cid = a.account_id, a.contract_id
        assert cid is not None
        reduce = a.kind is ActionKind.REDUCE_POSITION and bool(a.size)
        target: int | None = None  # size to end at (0 = flat), fixed before the first reduction
        size: int | None = None  # the broker's size as last read
        deadline = clock.monotonic() + self.settings.max_seconds + item.stalled_s
        for attempt in range(self.settings.max_rounds * 2):
            size = None
            if attempt > 0 or item.state in (WorkState.UNCERTAIN, WorkState.RETRYING):
                # Every attempt after the first (and the first of a retried or uncertain item) starts
                # from the broker's state: only what is still needed is sent.
                if attempt:
                    await steps.backoff(attempt)
                size = await self._size(item, ops, acct, cid)
                if target is None and reduce:
                    target = max(0, size - (a.size or 0))
                if size <= (target or 0):
                    item.result = {"size": size}
                    return True
                if attempt:
                    steps.set(item, WorkState.RETRYING)
            if clock.monotonic() - item.stalled_s > deadline:
                break  # the read just above verified the last attempt
            if reduce:
                if size is None:
                    known = evidence.size(acct, cid)
                    # The size the engine decided on is the one the last position event showed;
                    # a read is needed only when no event has shown it (e.g. straight after start).
                    size = known if known else await self._size(item, ops, acct, cid)
                if target is None:
                    target = max(0, size - (a.size or 0))
                if size <= target:
                    item.result = {"size": size}
                    return True
                await steps.mutate(item, ops.partial_close(acct, cid, size - target))
            elif size is None and evidence.is_flat(acct, cid):
                item.result = {"size": 0, "confirmedBy": "position event"}
                return True  # flat by the broker's event since the decision: nothing to send
            elif await steps.mutate_until(
                item, ops.close_contract(acct, cid), self._flat_after(acct, cid, read=size is not None)
            ):
                item.result = {"size": 0, "confirmedBy": "position event"}
                return True  # the broker's own position event says flat: no read needed
            # Events may come before the call's answer: a flat already seen counts too.
            if not target and await evidence.wait_flat(acct, cid, self.settings.verify_wait_s):
                item.result = {"size": 0, "confirmedBy": "position event"}
                return True
            size = await self._size(item, ops, acct, cid)
            if size <= (target or 0):
                item.result = {"size": size}
                return True
        item.result = dict(item.result) | {"error": "position still open", "size": size}
        return False

    def _flat_after(self, acct: int, cid: str, *, read: bool) -> Coroutine[Any, Any, bool]:
        """Waiting for the flat event that confirms a close (after a read, only a newer one counts)."""
        if read:
            self.evidence.forget(acct, [cid], [])
        return self.evidence.wait_flat(acct, cid, None)

    async def flatten(self, item: WorkItem, ops: BrokerOps) -> bool:
        """close_all / cancel_all: parallel cancels and closes, verify, repeat (bounded).

        Each round starts from a read of the broker's open positions and working orders, so the
        item is called failed only after the last round too has been verified; a round whose
        targets the broker's own events showed closed is confirmed without waiting for the
        answers (a close that executed but answers late is not "sent" for seconds)."""
        steps, clock = self.steps, self.steps.clock
        acct = item.account_id
        close = item.action.kind is ActionKind.CLOSE_ALL
        deadline = clock.monotonic() + self.settings.max_seconds + item.stalled_s
        round_no = 0
        confirmed = False
        while True:
            if round_no and not confirmed:
                await steps.backoff(round_no)
            orders, positions = await steps.read(item, lambda: _open_state(ops, acct, close))
            if not orders and not positions:
                if await self._companions_settled(item, deadline):
                    continue  # they may have left something (a stop placed on a flat position): read again
                item.result = {"rounds": round_no}
                return True
            if round_no >= self.settings.max_rounds or clock.monotonic() - item.stalled_s > deadline:
                item.result = dict(item.result) | {
                    "error": "still open after the bounded flatten",
                    "positions": [p.get("contractId") for p in positions],
                    "orders": [o.get("id") for o in orders],
                }
                return False
            if round_no:
                steps.set(item, WorkState.RETRYING)
            confirmed = await self._flatten_round(item, ops, orders, positions)
            round_no += 1

    async def _companions_settled(self, item: WorkItem, deadline: float) -> bool:
        """Before a flatten calls the account flat, the other items in flight on it (a close, a
        cancel, a stop placement) finish; True when there were any (the broker is read again)."""
        others = [
            i
            for i in self._companions(item)
            if not i.done.is_set()
            and i.action.kind not in (ActionKind.CLOSE_ALL, ActionKind.CANCEL_ALL)  # never each other
            and i.state is not WorkState.FAILED  # parked until its periodic retry: nothing in flight
        ]
        if not others:
            return False
        left = max(0.0, deadline - self.steps.clock.monotonic())
        await asyncio.wait([asyncio.ensure_future(i.done.wait()) for i in others], timeout=left)
        return True

    def _closing(self, item: WorkItem) -> set[str]:
        """Contracts another item in flight is already closing: the flatten does not send a second
        close. An item that failed its bound and rests until its periodic retry is closing nothing:
        the flatten closes that contract itself (the resting item then verifies on the flat event)."""
        return {
            i.action.contract_id
            for i in self._companions(item)
            if i.action.kind in (ActionKind.CLOSE_POSITION, ActionKind.REDUCE_POSITION)
            and i.action.contract_id is not None
            and not i.done.is_set()
            and i.state is not WorkState.FAILED
        }

    async def _flatten_round(
        self, item: WorkItem, ops: BrokerOps, orders: list[dict[str, Any]], positions: list[dict[str, Any]]
    ) -> bool:
        """One round's cancels and closes in parallel; True when the broker's events confirmed all."""
        steps, acct = self.steps, item.account_id
        oids = [int(o["id"]) for o in orders]
        cids = [str(p["contractId"]) for p in positions]
        self.evidence.forget(acct, cids, oids)  # the read above is newer than any event seen
        # An order already pending cancellation only needs the broker's confirmation, and a contract
        # another item is closing only its flat event (both waited for below): no second request.
        closing = self._closing(item)
        calls = [ops.cancel_order(acct, int(o["id"])) for o in orders if _status(o) != PENDING_CANCEL]
        calls += [ops.close_contract(acct, cid) for cid in cids if cid not in closing]
        steps.mark_request(item)
        with steps.sending(item):
            started = [start_now(call) for call in calls]  # each on the wire as it is made
            sending = asyncio.ensure_future(asyncio.gather(*started, return_exceptions=True))
            watching = asyncio.ensure_future(self.evidence.wait_all(acct, cids, oids, None))
            both: set[asyncio.Future[Any]] = {sending, watching}
            try:
                await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
                if not sending.done():
                    item.result = {"answer": "not awaited: the broker's events confirmed the round first"}
                    steps.set(item, WorkState.VERIFYING)
                    return True
                uncertain = False
                item.result = {}
                for r in sending.result():
                    if isinstance(r, OutcomeUncertain):
                        uncertain = True
                        item.result["uncertain"] = str(r)
                    elif isinstance(r, BrokerRejected):
                        item.result["rejected"] = str(r)
                    elif isinstance(r, BaseException):
                        item.result["error"] = f"{type(r).__name__}: {r}"
                steps.set(item, WorkState.UNCERTAIN if uncertain else WorkState.VERIFYING)
                if not watching.done():
                    await asyncio.wait({watching}, timeout=self.settings.verify_wait_s)
                return watching.done() and not watching.cancelled() and watching.result()
            finally:
                for task in (sending, watching):
                    if not task.done():
                        task.cancel()
                await asyncio.gather(sending, watching, return_exceptions=True)

    # ----- orders ------------------------------------------------------------------------------------------
    async def _working(self, item: WorkItem, ops: BrokerOps, acct: int, order_id: int) -> int | None:
        """The order's status when a read lists it as still working (None: it is gone)."""
        orders = await self.steps.read(item, lambda: ops.open_orders(acct))
        return working_status(orders, order_id)

    async def cancel_order(self, item: WorkItem, ops: BrokerOps) -> bool:
        steps, evidence = self.steps, self.evidence
        acct, order_id = item.account_id, item.action.order_id
        assert order_id is not None
        for attempt in range(self.settings.max_rounds):
            if attempt:
                await steps.backoff(attempt)
                steps.set(item, WorkState.RETRYING)
            status: int | None = None
            if attempt or item.state in (WorkState.UNCERTAIN, WorkState.RETRYING):
                status = await self._working(item, ops, acct, order_id)
                if status is None:
                    return True
                evidence.forget(acct, [], [order_id])  # the read is newer than any event seen
            elif evidence.is_final(acct, order_id):
                return True  # final by the broker's event since the decision: nothing to send
            # A pending cancellation only needs the broker's confirmation: no second cancel.
            if status != PENDING_CANCEL and await steps.mutate_until(
                item, ops.cancel_order(acct, order_id), evidence.wait_final(acct, order_id, None)
            ):
                return True
            if await evidence.wait_final(acct, order_id, self.settings.verify_wait_s):
                return True  # the broker's order event says final: no read needed
            if await self._working(item, ops, acct, order_id) is None:
                return True
        item.result = dict(item.result) | {"error": "order still working"}
        return False

    async def place_stop(self, item: WorkItem, ops: BrokerOps) -> bool:
        steps = self.steps
        a = item.action
        acct, cid = a.account_id, a.contract_id
        assert cid is not None and a.stop_price is not None and a.size is not None and a.side is not None
        tag = f"rm-{item.key}"
        for attempt in range(self.settings.max_rounds):
            if attempt:
                await steps.backoff(attempt)
                steps.set(item, WorkState.RETRYING)
            if attempt or item.state in (WorkState.UNCERTAIN, WorkState.RETRYING):
                # A placement whose outcome is unknown is looked for by its tag before any new one.
                orders = await steps.read(item, lambda: ops.open_orders(acct))
                mine = [o for o in orders if o.get("customTag") == tag]
                if mine:
                    item.result = {"orderId": mine[0]["id"]}
                    return True
            if not await self._size(item, ops, acct, cid):
                item.result = {"skipped": "position already closed"}
                return True
            order_id = await steps.mutate(item, ops.place_stop(acct, cid, a.side, a.size, a.stop_price, tag))
            if order_id is not None:
                item.result = {"orderId": order_id}
                return True
        item.result.setdefault("error", "stop not confirmed")
        return False

    async def modify_stop(self, item: WorkItem, ops: BrokerOps) -> bool:
        steps = self.steps
        a = item.action
        acct, order_id = a.account_id, a.order_id
        assert order_id is not None
        for attempt in range(self.settings.max_rounds):
            if attempt:
                await steps.backoff(attempt)
                steps.set(item, WorkState.RETRYING)
            await steps.mutate(item, ops.modify_order(acct, order_id, size=a.size, stop_price=a.stop_price))
            for o in await steps.read(item, lambda: ops.open_orders(acct)):
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


async def _open_state(
    ops: BrokerOps, acct: int, with_positions: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Working orders and (optionally) open positions, read in parallel."""
    if with_positions:
        raw_orders, raw_positions = await asyncio.gather(ops.open_orders(acct), ops.open_positions(acct))
    else:
        raw_orders, raw_positions = await ops.open_orders(acct), []
    orders = [o for o in raw_orders if _status(o) in WORKING_STATUSES]
    positions = [p for p in raw_positions if int(p.get("size") or 0) > 0]
    return orders, positions
