"""How each kind of work is carried out and verified (spec/daemon.md §4.2).

Every procedure sends, then verifies against the broker's own state (an event, else a read); when
the outcome of a call is unknown the next step is a read, never a second blind call. A procedure
returns True when the broker's state shows the goal reached, False when the bounded attempt ran out
(``item.result`` says what remains).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from risk_manager.broker_ops import BrokerOps, BrokerRejected, OutcomeUncertain
from risk_manager.daemon.enforcement.evidence import BrokerEvidence
from risk_manager.daemon.enforcement.steps import Steps
from risk_manager.daemon.enforcement.work import WorkItem, WorkState
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


class Procedures:
    def __init__(self, steps: Steps, evidence: BrokerEvidence) -> None:
        self.steps = steps
        self.evidence = evidence
        self.settings = steps.settings
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
        return await self._by_kind[item.action.kind](item, ops)

    # ----- positions -----------------------------------------------------------------------------------
    async def close_position(self, item: WorkItem, ops: BrokerOps) -> bool:
        steps, clock = self.steps, self.steps.clock
        a = item.action
        acct, cid = a.account_id, a.contract_id
        assert cid is not None
        reduce = a.kind is ActionKind.REDUCE_POSITION
        target: int | None = None  # size to end at (0 = flat)
        deadline = clock.monotonic() + self.settings.max_seconds
        for attempt in range(self.settings.max_rounds * 2):
            if attempt > 0 or item.state in (WorkState.UNCERTAIN, WorkState.RETRYING):
                await steps.backoff(attempt)
                size = _size_of(await ops.open_positions(acct), cid)
                if target is None and reduce:
                    target = max(0, size - (a.size or 0))
                if size <= (target or 0):
                    item.result = {"size": size}
                    return True
                if attempt > 0:
                    steps.set(item, WorkState.RETRYING)
            if clock.monotonic() > deadline:
                break
            if reduce and a.size:
                if target is None:
                    known = self.evidence.size(acct, cid)
                    # The size the engine decided on is the one the last position event showed;
                    # a read is needed only when no event has shown it (e.g. straight after start).
                    size = known if known else _size_of(await ops.open_positions(acct), cid)
                    target = max(0, size - a.size)
                    if size <= target:
                        return True
                    await steps.mutate(item, ops.partial_close(acct, cid, size - target))
                else:
                    current = _size_of(await ops.open_positions(acct), cid)
                    if current <= target:
                        return True
                    await steps.mutate(item, ops.partial_close(acct, cid, current - target))
            else:
                await steps.mutate(item, ops.close_contract(acct, cid))
            # Events may come before the call's answer: a flat already seen counts too.
            confirmed = await self.evidence.wait_flat(acct, cid, self.settings.verify_wait_s)
            if confirmed and not target:
                item.result = {"size": 0, "confirmedBy": "position event"}
                return True  # the broker's own position event says flat: no read needed
            size = _size_of(await ops.open_positions(acct), cid)
            if size <= (target or 0):
                item.result = {"size": size}
                return True
        item.result.setdefault("error", "position still open")
        return False

    async def flatten(self, item: WorkItem, ops: BrokerOps) -> bool:
        """close_all / cancel_all: parallel cancels and closes, re-read, repeat (bounded)."""
        steps, clock = self.steps, self.steps.clock
        acct = item.account_id
        close = item.action.kind is ActionKind.CLOSE_ALL
        deadline = clock.monotonic() + self.settings.max_seconds
        for round_no in range(self.settings.max_rounds):
            if round_no:
                await steps.backoff(round_no)
                steps.set(item, WorkState.RETRYING)
            orders, positions = await _open_state(ops, acct, close)
            if not orders and not positions:
                item.result = {"rounds": round_no}
                return True
            if clock.monotonic() > deadline:
                break
            calls = [ops.cancel_order(acct, int(o["id"])) for o in orders if _status(o) != PENDING_CANCEL]
            calls += [ops.close_contract(acct, str(p["contractId"])) for p in positions]
            steps.mark_request(item)
            with steps.sending(item):
                results = await asyncio.gather(*calls, return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException) and not isinstance(r, BrokerRejected | OutcomeUncertain):
                    item.result = {"error": f"{type(r).__name__}: {r}"}
            steps.set(item, WorkState.VERIFYING)
            await clock.sleep(self.settings.verify_wait_s / 3)
        orders, positions = await _open_state(ops, acct, close)
        if not orders and not positions:
            return True
        item.result = {
            "error": "still open after the bounded flatten",
            "positions": [p.get("contractId") for p in positions],
            "orders": [o.get("id") for o in orders],
        }
        return False

    # ----- orders ------------------------------------------------------------------------------------------
    async def cancel_order(self, item: WorkItem, ops: BrokerOps) -> bool:
        steps = self.steps
        acct, order_id = item.account_id, item.action.order_id
        assert order_id is not None
        for attempt in range(self.settings.max_rounds):
            if attempt:
                await steps.backoff(attempt)
                steps.set(item, WorkState.RETRYING)
            status: int | None = None
            if attempt or item.state is WorkState.UNCERTAIN:
                status = working_status(await ops.open_orders(acct), order_id)
                if status is None:
                    return True
            if status != PENDING_CANCEL:  # a pending cancellation only needs the broker's confirmation
                await steps.mutate(item, ops.cancel_order(acct, order_id))
            if await self.evidence.wait_final(acct, order_id, self.settings.verify_wait_s):
                return True  # the broker's order event says final: no read needed
            if working_status(await ops.open_orders(acct), order_id) is None:
                return True
        item.result.setdefault("error", "order still working")
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
            mine = [o for o in await ops.open_orders(acct) if o.get("customTag") == tag] if attempt else []
            if mine:
                item.result = {"orderId": mine[0]["id"]}
                return True
            if not any(
                int(p.get("size") or 0) > 0 for p in await ops.open_positions(acct) if p["contractId"] == cid
            ):
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
