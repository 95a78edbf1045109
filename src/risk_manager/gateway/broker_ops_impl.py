"""The executor's :class:`~risk_manager.broker_ops.BrokerOps` on top of :class:`RestClient`.

The REST client already raises the executor's two outcome kinds (``ApiError`` is a
``BrokerRejected``; ``TransportFailure`` and ``RateLimited`` are ``OutcomeUncertain``), so this adapter
only fixes the call shapes and runs every call - including the verification reads - with rate-limit
priority, because all of it is enforcement.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from risk_manager.gateway.rest import RestClient

ORDER_TYPE_STOP = 4


class RestBrokerOps:
    """BrokerOps for one login."""

    def __init__(self, rest: RestClient) -> None:
        self.rest = rest

    def __repr__(self) -> str:
        return f"RestBrokerOps({self.rest!r})"

    async def close_contract(self, account_id: int, contract_id: str) -> None:
        await self.rest.close_contract(account_id, contract_id)

    async def partial_close(self, account_id: int, contract_id: str, size: int) -> None:
        await self.rest.partial_close_contract(account_id, contract_id, size)

    async def cancel_order(self, account_id: int, order_id: int) -> None:
        await self.rest.cancel_order(account_id, order_id)

    async def place_stop(
        self, account_id: int, contract_id: str, side: int, size: int, stop_price: Decimal, custom_tag: str
    ) -> int | None:
        return await self.rest.place_order(
            account_id, contract_id, ORDER_TYPE_STOP, side, size, stop_price=stop_price, custom_tag=custom_tag
        )

    async def modify_order(
        self, account_id: int, order_id: int, *, size: int | None = None, stop_price: Decimal | None = None
    ) -> None:
        await self.rest.modify_order(account_id, order_id, size=size, stop_price=stop_price)

    async def open_positions(self, account_id: int) -> list[dict[str, Any]]:
        return await self.rest.open_positions(account_id, priority=True)

    async def open_orders(self, account_id: int) -> list[dict[str, Any]]:
        return await self.rest.open_orders(account_id, priority=True)

    async def orders_since(self, account_id: int, start: datetime) -> list[dict[str, Any]]:
        return await self.rest.search_orders(account_id, start, priority=True)
