"""An in-memory broker behind the executor's ``BrokerOps`` seam, for fast unit tests.

The real seam is narrow (closes, cancels, stop placement and modification, two reads), so a test
implementation can be exact about what matters to the executor: which calls were made, in what order
and how many at once, and what each call's answer was. Every call can be scripted to succeed, be
rejected (``success:false``), raise ``OutcomeUncertain`` before or after it took effect, succeed
without any effect (a broker that accepted but did not act), or be held until the test releases it.
Like the real user hub it can feed position and order events into the executor, before the call's
answer (as the hub often does) or just after it. Like the real HTTP session it calls the
``REQUEST_SENT`` hook as a money-moving request leaves.

The executor itself is tested end to end against the simulator elsewhere; this only makes the
retry ladder, uncertain outcomes and joining cheap to pin down.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from risk_manager.broker_ops import BrokerRejected, OutcomeUncertain
from risk_manager.daemon.clock import ManualClock
from risk_manager.engine.enums import OrderStatus, OrderType
from risk_manager.gateway.session import REQUEST_SENT

#: ok: takes effect; reject: success:false, no effect; uncertain_before: no answer, no effect;
#: uncertain_after: takes effect, then no answer; noop: success:true but nothing happens.
Mode = Literal["ok", "reject", "uncertain_before", "uncertain_after", "noop"]
Events = Literal["before", "after", "none"]
MUTATING = ("close_contract", "partial_close", "cancel_order", "place_stop", "modify_order")
READS = ("open_positions", "open_orders", "orders_since")
WAIT_S = 2.0  # the longest any helper waits for something that should happen within milliseconds


@dataclass(frozen=True)
class Call:
    name: str
    account_id: int
    args: tuple[Any, ...] = ()


class FakeBroker:
    """Positions and orders per account; implements ``risk_manager.broker_ops.BrokerOps``."""

    def __init__(self) -> None:
        self.positions: dict[int, dict[str, int]] = defaultdict(dict)
        self.orders: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
        self.calls: list[Call] = []
        self.events: Events = "before"
        self.executor: Any = None  # receives on_position / on_order like the hub would feed it
        self.on_execute: Callable[[Call], None] | None = None  # side effect after a call took effect
        self._script: dict[str, deque[Mode]] = defaultdict(deque)
        self._default: dict[str, Mode] = {}
        self._gates: dict[str, asyncio.Event] = {}
        self._arrived = asyncio.Event()
        self._next_id = 1000
        self.active: Counter[tuple[int, str]] = Counter()  # mutating calls in progress per contract
        self.max_active: Counter[tuple[int, str]] = Counter()
        self.active_total = 0

    # ----- setting the scene -------------------------------------------------------------------------
    def open_position(self, account_id: int, contract_id: str, size: int) -> None:
        self.positions[account_id][contract_id] = size

    def add_order(
        self,
        account_id: int,
        contract_id: str,
        *,
        order_type: int = OrderType.LIMIT,
        stop_price: Decimal | None = None,
        custom_tag: str | None = None,
        side: int = 1,
        size: int = 1,
    ) -> int:
        self._next_id += 1
        order = {
            "id": self._next_id,
            "accountId": account_id,
            "contractId": contract_id,
            "status": int(OrderStatus.OPEN),
            "type": int(order_type),
            "side": side,
            "size": size,
            "stopPrice": stop_price,
            "customTag": custom_tag,
        }
        self.orders[account_id][self._next_id] = order
        return self._next_id

    def script(self, method: str, *modes: Mode) -> None:
        """The next calls of ``method`` behave as ``modes`` (then as the default)."""
        self._script[method].extend(modes)

    def always(self, method: str, mode: Mode) -> None:
        self._default[method] = mode

    def hold(self, method: str) -> None:
        """Calls of ``method`` wait (after the request has left) until :meth:`release`."""
        self._gates[method] = asyncio.Event()

    def release(self, method: str) -> None:
        self._gates.pop(method).set()

    # ----- what happened ------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return [c.name for c in self.calls]

    def count(self, name: str) -> int:
        return sum(1 for c in self.calls if c.name == name)

    def resent_after_read(self, send: str, read: str) -> bool:
        """``send`` was made exactly twice, with a ``read`` between the two (never a blind repeat)."""
        names = self.names()
        at = [i for i, n in enumerate(names) if n == send]
        return len(at) == 2 and read in names[at[0] : at[1]]

    def size(self, account_id: int, contract_id: str) -> int:
        return self.positions[account_id].get(contract_id, 0)

    def working(self, account_id: int) -> list[dict[str, Any]]:
        return [o for o in self.orders[account_id].values() if o["status"] == OrderStatus.OPEN]

    async def wait_calls(self, name: str, n: int = 1) -> None:
        """Until ``n`` calls of ``name`` have arrived (fails after WAIT_S)."""
        async with asyncio.timeout(WAIT_S):
            while self.count(name) < n:
                self._arrived.clear()
                await self._arrived.wait()

    async def wait_active(self, n: int) -> None:
        """Until ``n`` money-moving calls are in progress at the same time."""
        async with asyncio.timeout(WAIT_S):
            while self.active_total < n:
                self._arrived.clear()
                await self._arrived.wait()

    # ----- BrokerOps ------------------------------------------------------------------------------------
    async def close_contract(self, account_id: int, contract_id: str) -> None:
        def apply() -> None:
            if self.size(account_id, contract_id) <= 0:
                raise BrokerRejected(f"no open position in {contract_id}")
            self._set_size(account_id, contract_id, 0)

        await self._mutate(Call("close_contract", account_id, (contract_id,)), contract_id, apply)

    async def partial_close(self, account_id: int, contract_id: str, size: int) -> None:
        def apply() -> None:
            have = self.size(account_id, contract_id)
            if size <= 0 or size > have:
                raise BrokerRejected(f"cannot close {size} of {have}")
            self._set_size(account_id, contract_id, have - size)

        await self._mutate(Call("partial_close", account_id, (contract_id, size)), contract_id, apply)

    async def cancel_order(self, account_id: int, order_id: int) -> None:
        order = self.orders[account_id].get(order_id)

        def apply() -> None:
            if order is None or order["status"] != OrderStatus.OPEN:
                raise BrokerRejected(f"order {order_id} is not working")
            order["status"] = int(OrderStatus.CANCELLED)
            self._emit(lambda: self.executor.on_order(account_id, order_id, False))

        target = order["contractId"] if order else f"order {order_id}"
        await self._mutate(Call("cancel_order", account_id, (order_id,)), target, apply)

    async def place_stop(
        self, account_id: int, contract_id: str, side: int, size: int, stop_price: Decimal, custom_tag: str
    ) -> int | None:
        def apply() -> int:
            oid = self.add_order(
                account_id,
                contract_id,
                order_type=OrderType.STOP,
                stop_price=stop_price,
                custom_tag=custom_tag,
                side=side,
                size=size,
            )
            self._emit(lambda: self.executor.on_order(account_id, oid, True))
            return oid

        call = Call("place_stop", account_id, (contract_id, side, size, stop_price, custom_tag))
        result: int | None = await self._mutate(call, contract_id, apply)
        return result

    async def modify_order(
        self, account_id: int, order_id: int, *, size: int | None = None, stop_price: Decimal | None = None
    ) -> None:
        order = self.orders[account_id].get(order_id)

        def apply() -> None:
            if order is None or order["status"] != OrderStatus.OPEN:
                raise BrokerRejected(f"order {order_id} is not working")
            if size is not None:
                order["size"] = size
            if stop_price is not None:
                order["stopPrice"] = stop_price

        target = order["contractId"] if order else f"order {order_id}"
        await self._mutate(Call("modify_order", account_id, (order_id, size, stop_price)), target, apply)

    async def open_positions(self, account_id: int) -> list[dict[str, Any]]:
        await self._read(Call("open_positions", account_id))
        return [
            {"accountId": account_id, "contractId": cid, "size": size, "type": 1}
            for cid, size in self.positions[account_id].items()
            if size > 0
        ]

    async def open_orders(self, account_id: int) -> list[dict[str, Any]]:
        await self._read(Call("open_orders", account_id))
        return [dict(o) for o in self.working(account_id)]

    async def orders_since(self, account_id: int, start: datetime) -> list[dict[str, Any]]:
        await self._read(Call("orders_since", account_id, (start,)))
        return [dict(o) for o in self.orders[account_id].values()]

    # ----- mechanics ------------------------------------------------------------------------------------
    def _mode(self, name: str) -> Mode:
        queue = self._script[name]
        return queue.popleft() if queue else self._default.get(name, "ok")

    def _arrive(self, call: Call) -> None:
        self.calls.append(call)
        self._arrived.set()

    async def _read(self, call: Call) -> None:
        self._arrive(call)
        mode = self._mode(call.name)  # taken at once: the order of parallel calls is the call order
        gate = self._gates.get(call.name)
        if gate is not None:
            await gate.wait()
        if mode in ("uncertain_before", "uncertain_after"):
            raise OutcomeUncertain(f"{call.name}: timed out")

    async def _mutate(self, call: Call, contract_id: str, apply: Callable[[], Any]) -> Any:
        self._arrive(call)
        mode = self._mode(call.name)
        sent = REQUEST_SENT.get()
        if sent is not None:
            sent()  # the request is on the wire
        key = (call.account_id, contract_id)
        self.active[key] += 1
        self.active_total += 1
        self.max_active[key] = max(self.max_active[key], self.active[key])
        self._arrived.set()
        try:
            gate = self._gates.get(call.name)
            if gate is not None:
                await gate.wait()
            if mode == "reject":
                raise BrokerRejected(f"{call.name}: rejected")
            if mode == "uncertain_before":
                raise OutcomeUncertain(f"{call.name}: connection failed")
            if mode == "noop":
                return None
            result = apply()
            if self.on_execute is not None:
                self.on_execute(call)
            if mode == "uncertain_after":
                raise OutcomeUncertain(f"{call.name}: timed out after it was executed")
            return result
        finally:
            self.active[key] -= 1
            self.active_total -= 1

    def _set_size(self, account_id: int, contract_id: str, size: int) -> None:
        self.positions[account_id][contract_id] = size
        self._emit(lambda: self.executor.on_position(account_id, contract_id, size))

    def _emit(self, event: Callable[[], None]) -> None:
        if self.executor is None or self.events == "none":
            return
        if self.events == "before":
            event()  # the hub's event overtakes the REST answer
        else:
            asyncio.get_running_loop().call_soon(event)


class HeldClock(ManualClock):
    """A ManualClock whose sleeps of one chosen length wait until the test releases them, so a test
    can look at an item while it waits for its periodic retry."""

    def __init__(self, held_s: float) -> None:
        super().__init__()
        self.held_s = held_s
        self.waiting = asyncio.Event()
        self._gate = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        if seconds == self.held_s:
            self.slept.append(seconds)
            self.waiting.set()
            await self._gate.wait()
            self._gate.clear()
            self.advance(seconds)
            return
        await super().sleep(seconds)

    def release(self) -> None:
        self.waiting.clear()
        self._gate.set()
