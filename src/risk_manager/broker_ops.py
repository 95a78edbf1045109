"""What the executor needs from the broker, as a small protocol (the gateway client implements it).

Mutating calls raise ``BrokerRejected`` for ``success:false`` (which means "verify", never "failed")
and ``OutcomeUncertain`` for a timeout, 5xx or connection error (the call may have been executed).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol


class BrokerRejected(Exception):
    """The broker answered success:false (e.g. closing an already-flat position)."""


class OutcomeUncertain(Exception):
    """No answer we can trust: the call may or may not have been executed."""


class BrokerOps(Protocol):
    async def close_contract(self, account_id: int, contract_id: str) -> None: ...

    async def partial_close(self, account_id: int, contract_id: str, size: int) -> None: ...

    async def cancel_order(self, account_id: int, order_id: int) -> None: ...

    async def place_stop(
        self, account_id: int, contract_id: str, side: int, size: int, stop_price: Decimal, custom_tag: str
    ) -> int | None: ...

    async def modify_order(
        self, account_id: int, order_id: int, *, size: int | None = None, stop_price: Decimal | None = None
    ) -> None: ...

    async def open_positions(self, account_id: int) -> list[dict[str, Any]]: ...

    async def open_orders(self, account_id: int) -> list[dict[str, Any]]: ...

    async def orders_since(self, account_id: int, start: datetime) -> list[dict[str, Any]]: ...
