"""What the broker's own events have shown about positions and orders: the cheapest proof that a
close or a cancel took effect (a success reply is not proof; spec/daemon.md §4.2).

The daemon feeds every position and order event in (``on_position``, ``on_order``); a procedure
waits for the event it expects (``wait_flat``, ``wait_final``) and falls back to a REST read when it
does not come in time.
"""

from __future__ import annotations

import asyncio
from typing import Any

MAX_FINAL_ORDERS = 10_000  # remembered final orders; forgetting one only costs a verification read


class BrokerEvidence:
    def __init__(self) -> None:
        self._sizes: dict[tuple[int, str], int] = {}  # last position size seen per (account, contract)
        self._final_orders: set[tuple[int, int]] = set()  # orders seen final (filled, cancelled, ...)
        self._flat_waiters: dict[tuple[int, str], list[asyncio.Future[None]]] = {}
        self._order_waiters: dict[tuple[int, int], list[asyncio.Future[None]]] = {}

    # ----- what the events say ------------------------------------------------------------------------
    def on_position(self, account_id: int, contract_id: str, size: int) -> None:
        self._sizes[(account_id, contract_id)] = size
        if size == 0:
            _wake(self._flat_waiters.pop((account_id, contract_id), []))

    def on_order(self, account_id: int, order_id: int, working: bool) -> None:
        if working:
            return
        self._final_orders.add((account_id, order_id))
        if len(self._final_orders) > MAX_FINAL_ORDERS:
            self._final_orders.clear()
        _wake(self._order_waiters.pop((account_id, order_id), []))

    def forget(self, account_id: int, contracts: list[str], orders: list[int]) -> None:
        """A read just showed these positions open and orders working: any earlier event saying
        otherwise is older than the read, so only a new event may confirm them."""
        for cid in contracts:
            if self._sizes.get((account_id, cid)) == 0:
                del self._sizes[(account_id, cid)]
        for oid in orders:
            self._final_orders.discard((account_id, oid))

    def size(self, account_id: int, contract_id: str) -> int | None:
        """The last size an event showed (None: no event has shown it)."""
        return self._sizes.get((account_id, contract_id))

    def is_flat(self, account_id: int, contract_id: str) -> bool:
        return self._sizes.get((account_id, contract_id)) == 0

    def is_final(self, account_id: int, order_id: int) -> bool:
        return (account_id, order_id) in self._final_orders

    # ----- waiting for it ----------------------------------------------------------------------------
    async def wait_flat(self, account_id: int, contract_id: str, timeout: float | None) -> bool:
        """True if the position is (or becomes within ``timeout``; None: ever) flat by the broker's
        own event."""
        if self.is_flat(account_id, contract_id):
            return True
        return await _wait(self._flat_waiters, (account_id, contract_id), timeout)

    async def wait_final(self, account_id: int, order_id: int, timeout: float | None) -> bool:
        if self.is_final(account_id, order_id):
            return True
        return await _wait(self._order_waiters, (account_id, order_id), timeout)

    async def wait_all(
        self, account_id: int, contracts: list[str], orders: list[int], timeout: float | None
    ) -> bool:
        """True once every position in ``contracts`` is flat and every order in ``orders`` final by
        the broker's events (a flatten round confirmed without a read)."""
        waits = [self.wait_flat(account_id, c, timeout) for c in contracts]
        waits += [self.wait_final(account_id, o, timeout) for o in orders]
        return all(await asyncio.gather(*waits)) if waits else True


def _wake(waiters: list[asyncio.Future[None]]) -> None:
    for fut in waiters:
        if not fut.done():
            fut.set_result(None)


async def _wait(table: dict[Any, list[asyncio.Future[None]]], key: Any, timeout: float | None) -> bool:
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    table.setdefault(key, []).append(fut)
    try:
        await asyncio.wait_for(fut, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        waiters = table.get(key)
        if waiters is not None:
            if fut in waiters:
                waiters.remove(fut)
            if not waiters:
                table.pop(key, None)
