"""The simulator's records of accounts, orders, positions and trades, and their REST/hub shapes.

Plain data shared by the matching engine (``matching.py``) and the bracket logic (``brackets.py``);
``to_wire`` is the one place each object's gateway shape (gateway.md §2.9) is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from risk_manager.sim.contracts import Contract
from risk_manager.sim.wire import LONG, ST_OPEN, iso, money, utcnow


@dataclass(slots=True)
class Account:
    id: int
    name: str
    balance: Decimal
    can_trade: bool = True
    is_visible: bool = True
    simulated: bool = True
    active: bool = True
    user: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "balance": money(self.balance),
            "canTrade": self.can_trade,
            "isVisible": self.is_visible,
            "simulated": self.simulated,
        }


@dataclass(slots=True)
class Order:
    id: int
    account_id: int
    contract: Contract
    type: int
    side: int
    size: int
    limit: Decimal | None = None
    stop: Decimal | None = None
    trail: Decimal | None = None
    custom_tag: str | None = None
    status: int = ST_OPEN
    fill_volume: int = 0
    filled_price: Decimal | None = None
    created: datetime = field(default_factory=utcnow)
    updated: datetime = field(default_factory=utcnow)
    sl_bracket: dict[str, int] | None = None
    tp_bracket: dict[str, int] | None = None
    chunks: list[int] | None = None
    triggered: bool = False
    oco_group: int | None = None  # id of the entry whose bracket this order is
    linked_id: int | None = None  # a take-profit child: its stop-loss sibling
    bracket_ticks: int = 0
    protective: bool = False

    def to_wire(self) -> dict[str, Any]:
        wire = {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract.id,
            "symbolId": self.contract.symbol_id,
            "creationTimestamp": iso(self.created),
            "updateTimestamp": iso(self.updated),
            "status": self.status,
            "type": self.type,
            "side": self.side,
            "size": self.size,
            "limitPrice": self.limit,
            "stopPrice": self.stop,
            "fillVolume": self.fill_volume,
            "filledPrice": self.filled_price,
            "customTag": self.custom_tag,
        }
        if self.oco_group is not None:  # fields the live gateway adds on bracket children
            wire["parentOrderId"] = self.oco_group
            wire["linkedOrderId"] = self.linked_id
        return wire


@dataclass(slots=True)
class Position:
    id: int
    account_id: int
    contract: Contract
    type: int
    size: int
    average: Decimal
    created: datetime = field(default_factory=utcnow)

    @property
    def signed(self) -> int:
        return self.size if self.type == LONG else -self.size

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract.id,
            "creationTimestamp": iso(self.created),
            "type": self.type,
            "size": self.size,
            "averagePrice": self.average,
        }


@dataclass(slots=True)
class Trade:
    id: int
    account_id: int
    contract: Contract
    price: Decimal
    pnl: Decimal | None
    fees: Decimal
    side: int
    size: int
    order_id: int
    voided: bool = False
    created: datetime = field(default_factory=utcnow)
    commissions: Decimal | None = None  # broker commission; None: the gateway sends null

    @property
    def charges(self) -> Decimal:
        return self.fees + (self.commissions or Decimal(0))

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract.id,
            "creationTimestamp": iso(self.created),
            "price": self.price,
            "profitAndLoss": self.pnl,
            "fees": self.fees,
            "commissions": self.commissions,
            "side": self.side,
            "size": self.size,
            "voided": self.voided,
            "orderId": self.order_id,
        }


@dataclass(slots=True)
class Result:
    code: int = 0
    message: str | None = None
    order_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass(slots=True)
class OrderRequest:
    account_id: int
    contract_id: str
    type: int
    side: int
    size: int
    limit: Decimal | None = None
    stop: Decimal | None = None
    trail: Decimal | None = None
    custom_tag: str | None = None
    sl_bracket: dict[str, int] | None = None
    tp_bracket: dict[str, int] | None = None
    fills: list[int] | None = None
