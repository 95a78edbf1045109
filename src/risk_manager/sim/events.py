"""An event the simulator wants delivered on a hub, before routing, wrapping and faults are applied."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# user-hub streams, keyed by the Subscribe* method that selects them
USER_STREAMS = {
    "GatewayUserAccount": "SubscribeAccounts",
    "GatewayUserOrder": "SubscribeOrders",
    "GatewayUserPosition": "SubscribePositions",
    "GatewayUserTrade": "SubscribeTrades",
}
MARKET_STREAMS = {
    "GatewayQuote": "SubscribeContractQuotes",
    "GatewayTrade": "SubscribeContractTrades",
    "GatewayDepth": "SubscribeContractMarketDepth",
}


@dataclass(slots=True)
class Event:
    hub: str  # "user" or "market"
    target: str
    payload: Any  # user: the object; market: the second argument
    account_id: int | None = None
    contract_id: str | None = None
    user: str | None = None  # owning user of account-scoped events


Emit = Callable[[Event], None]
