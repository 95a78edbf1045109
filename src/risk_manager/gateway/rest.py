"""The ProjectX Gateway REST endpoints of spec/gateway.md §2, one method each, over a :class:`GatewaySession`.

Methods return the payload (a list, a dict or an id), never the envelope; failures raise the
exceptions of :mod:`risk_manager.gateway.errors`. Numbers arrive as ``Decimal`` (parsed from the JSON
text), ids as ``int``, contract ids as ``str``. Only the fields listed in §2 are ever sent.

Mutating endpoints (``Order/place|cancel|modify``, ``Position/closeContract|partialCloseContract``)
are never repeated after a 5xx, timeout or connection error and run with rate-limit priority. Reads
are routine unless the caller passes ``priority=True`` (enforcement verification reads).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from risk_manager.gateway.errors import ProtocolError
from risk_manager.gateway.session import GatewaySession, RestSettings


def format_ts(moment: datetime) -> str:
    """UTC, ISO-8601, whole seconds, ``Z`` (spec/gateway.md §1.3). Naive datetimes are refused."""
    if moment.tzinfo is None:
        raise ValueError("timestamps sent to the gateway must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _list(data: Any, key: str, path: str) -> list[dict[str, Any]]:
    """The objects under ``key`` of a successful envelope, or the answer itself when the gateway sent a
    bare array (session ``bare_list``). Unknown fields of the objects are kept and ignored later."""
    value = data if isinstance(data, list) else data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ProtocolError(f"{path}: '{key}' is not a list of objects", path=path)
    return value


class RestClient:
    """Every endpoint of spec/gateway.md §2 for one login. Owns its :class:`GatewaySession`."""

    def __init__(self, user_name: str, api_key: str, settings: RestSettings | None = None) -> None:
        self.session = GatewaySession(user_name, api_key, settings)

    def __repr__(self) -> str:
        return f"RestClient({self.session!r})"

    __str__ = __repr__

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.session.aclose()

    # ----- auth -----------------------------------------------------------------------------------------
    async def login(self) -> None:
        """Log in now (otherwise the first call does it); raises ``AuthRejected`` on bad credentials."""
        await self.session.token()

    async def token(self) -> str:
        """Current valid token, refreshed as needed: pass this as the hubs' token provider."""
        return await self.session.token()

    async def logout(self) -> None:
        await self.session.logout()

    async def ping(self) -> bool:
        """``GET /api/Status/ping`` (no auth): True when the answer is ``"pong"``."""
        answer: Any = await self.session.get_json("/api/Status/ping")
        return bool(answer == "pong")

    # ----- accounts and contracts -------------------------------------------------------------------------
    async def search_accounts(
        self, only_active: bool = True, *, priority: bool = False
    ) -> list[dict[str, Any]]:
        path = "/api/Account/search"
        data = await self.session.call(
            path, {"onlyActiveAccounts": only_active}, priority=priority, bare_list=True
        )
        return _list(data, "accounts", path)

    async def search_contracts(self, search_text: str, live: bool = False) -> list[dict[str, Any]]:
        path = "/api/Contract/search"
        data = await self.session.call(path, {"searchText": search_text, "live": live}, bare_list=True)
        return _list(data, "contracts", path)

    async def contract_by_id(self, contract_id: str) -> dict[str, Any] | None:
        """The contract (possibly expired, ``activeContract:false``); unknown id raises ``ApiError``."""
        data = await self.session.call("/api/Contract/searchById", {"contractId": contract_id})
        contract = data.get("contract")
        return contract if isinstance(contract, dict) else None

    async def available_contracts(self, live: bool = False) -> list[dict[str, Any]]:
        path = "/api/Contract/available"
        return _list(await self.session.call(path, {"live": live}, bare_list=True), "contracts", path)

    # ----- positions --------------------------------------------------------------------------------------
    async def open_positions(self, account_id: int, *, priority: bool = False) -> list[dict[str, Any]]:
        path = "/api/Position/searchOpen"
        data = await self.session.call(path, {"accountId": account_id}, priority=priority, bare_list=True)
        return _list(data, "positions", path)

    async def close_contract(self, account_id: int, contract_id: str) -> None:
        body = {"accountId": account_id, "contractId": contract_id}
        await self.session.call("/api/Position/closeContract", body, mutating=True)

    async def partial_close_contract(self, account_id: int, contract_id: str, size: int) -> None:
        body = {"accountId": account_id, "contractId": contract_id, "size": size}
        await self.session.call("/api/Position/partialCloseContract", body, mutating=True)

    # ----- orders -----------------------------------------------------------------------------------------
    async def place_order(
        self,
        account_id: int,
        contract_id: str,
        order_type: int,
        side: int,
        size: int,
        *,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail_price: Decimal | None = None,
        custom_tag: str | None = None,
        stop_loss_bracket: dict[str, int] | None = None,
        take_profit_bracket: dict[str, int] | None = None,
    ) -> int | None:
        """``Order/place``; returns the new ``orderId`` (None if the broker sent none)."""
        body: dict[str, Any] = {
            "accountId": account_id,
            "contractId": contract_id,
            "type": order_type,
            "side": side,
            "size": size,
        }
        optional = {
            "limitPrice": limit_price,
            "stopPrice": stop_price,
            "trailPrice": trail_price,
            "customTag": custom_tag,
            "stopLossBracket": stop_loss_bracket,
            "takeProfitBracket": take_profit_bracket,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        data = await self.session.call("/api/Order/place", body, mutating=True)
        order_id = data.get("orderId")
        return order_id if isinstance(order_id, int) and not isinstance(order_id, bool) else None

    async def cancel_order(self, account_id: int, order_id: int) -> None:
        await self.session.call(
            "/api/Order/cancel", {"accountId": account_id, "orderId": order_id}, mutating=True
        )

    async def modify_order(
        self,
        account_id: int,
        order_id: int,
        *,
        size: int | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail_price: Decimal | None = None,
    ) -> None:
        body: dict[str, Any] = {"accountId": account_id, "orderId": order_id}
        optional = {
            "size": size,
            "limitPrice": limit_price,
            "stopPrice": stop_price,
            "trailPrice": trail_price,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        await self.session.call("/api/Order/modify", body, mutating=True)

    async def open_orders(self, account_id: int, *, priority: bool = False) -> list[dict[str, Any]]:
        path = "/api/Order/searchOpen"
        data = await self.session.call(path, {"accountId": account_id}, priority=priority, bare_list=True)
        return _list(data, "orders", path)

    async def search_orders(
        self, account_id: int, start: datetime, end: datetime | None = None, *, priority: bool = False
    ) -> list[dict[str, Any]]:
        path = "/api/Order/search"
        body: dict[str, Any] = {"accountId": account_id, "startTimestamp": format_ts(start)}
        if end is not None:
            body["endTimestamp"] = format_ts(end)
        return _list(await self.session.call(path, body, priority=priority, bare_list=True), "orders", path)

    # ----- trades and history -----------------------------------------------------------------------------
    async def search_trades(
        self, account_id: int, start: datetime, end: datetime | None = None
    ) -> list[dict[str, Any]]:
        path = "/api/Trade/search"
        body: dict[str, Any] = {"accountId": account_id, "startTimestamp": format_ts(start)}
        if end is not None:
            body["endTimestamp"] = format_ts(end)
        return _list(await self.session.call(path, body, bare_list=True), "trades", path)

    async def retrieve_bars(
        self,
        contract_id: str,
        start: datetime,
        end: datetime,
        *,
        unit: int = 2,
        unit_number: int = 1,
        limit: int = 1000,
        include_partial_bar: bool = False,
        live: bool = False,
    ) -> list[dict[str, Any]]:
        """``History/retrieveBars`` (own limiter: 50 per 30 s); bars newest first."""
        path = "/api/History/retrieveBars"
        body = {
            "contractId": contract_id,
            "live": live,
            "startTime": format_ts(start),
            "endTime": format_ts(end),
            "unit": unit,
            "unitNumber": unit_number,
            "limit": limit,
            "includePartialBar": include_partial_bar,
        }
        return _list(await self.session.call(path, body, bare_list=True), "bars", path)
