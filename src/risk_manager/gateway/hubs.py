"""The two ProjectX hubs (spec/gateway.md §4): user (accounts, orders, positions, fills) and market (quotes).

Both are :class:`HubConnection` s with the subscription helpers of §4.3 and the payload decoding of
§4.4. ``on_event(target, payload)`` receives one object per call: user payloads unwrapped from
``{"action":..,"data":..}`` (lists split into elements); market payloads with ``contractId`` set from
the event's first argument (arrays split into elements). ``GatewayLogout`` is passed with its raw
arguments list.
"""

from __future__ import annotations

from typing import Any

from risk_manager.gateway.hub import HubConnection
from risk_manager.gateway.payloads import market_items, user_items


class UserHub(HubConnection):
    """``/hubs/user``: ``SubscribeAccounts`` once, then orders/positions/trades per account."""

    kind = "user"

    def _decode(self, target: str, arguments: list[Any]) -> tuple[list[Any], str | None]:
        if target.startswith("GatewayUser"):
            return user_items(arguments)
        return [arguments], None

    async def subscribe_accounts(self) -> None:
        await self.subscribe("SubscribeAccounts")

    async def subscribe_account(self, account_id: int) -> None:
        """Orders, positions and fills of one account (each replayed after every reconnect)."""
        for method in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades"):
            await self.subscribe(method, account_id)

    async def unsubscribe_account(self, account_id: int) -> None:
        for method in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades"):
            await self.unsubscribe(method, account_id)


class MarketHub(HubConnection):
    """``/hubs/market``: quotes (and, unused by the product, market trades and depth) per contract."""

    kind = "market"

    def _decode(self, target: str, arguments: list[Any]) -> tuple[list[Any], str | None]:
        if target in ("GatewayQuote", "GatewayTrade", "GatewayDepth"):
            return market_items(arguments)
        return [arguments], None

    async def subscribe_quotes(self, contract_id: str) -> None:
        await self.subscribe("SubscribeContractQuotes", contract_id)

    async def unsubscribe_quotes(self, contract_id: str) -> None:
        await self.unsubscribe("SubscribeContractQuotes", contract_id)

    async def subscribe_trades(self, contract_id: str) -> None:
        await self.subscribe("SubscribeContractTrades", contract_id)

    async def subscribe_depth(self, contract_id: str) -> None:
        await self.subscribe("SubscribeContractMarketDepth", contract_id)
