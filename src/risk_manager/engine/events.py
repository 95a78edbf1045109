"""Broker payloads turned into typed records the rules read.

Payloads come from the user and market hubs (bare or wrapped as ``{"action": n, "data": {...}}``),
from REST reconciliation, or from a replay file. Anything the rules depend on is validated here, so
a malformed event is rejected whole (``MalformedEvent``) before it can touch state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from risk_manager.engine.enums import ACTIVE_STATUSES, WORKING_STATUSES, OrderStatus, PositionType
from risk_manager.engine.money import to_decimal

ACCOUNT = "GatewayUserAccount"
POSITION = "GatewayUserPosition"
ORDER = "GatewayUserOrder"
TRADE = "GatewayUserTrade"
QUOTE = "GatewayQuote"
CONTRACT = "Contract"
TICK = "Tick"

EVENT_NAMES = frozenset({ACCOUNT, POSITION, ORDER, TRADE, QUOTE, CONTRACT, TICK})


class MalformedEvent(ValueError):
    """A broker event the engine cannot use; the caller logs it and skips it."""


def unwrap(data: Any) -> Mapping[str, Any]:
    """Accept a bare payload or the hub's ``{"action": n, "data": {...}}`` wrapper.

    spec/gateway.md §4.4: an object with an object ``data`` member and no ``id`` member is a wrapper.
    """
    if not isinstance(data, Mapping):
        raise MalformedEvent(f"payload must be an object, got {type(data).__name__}")
    inner = data.get("data")
    if isinstance(inner, Mapping) and "id" not in data:
        return inner
    return data


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 broker timestamps (UTC when no offset is given); None when absent or unreadable."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python < 3.11 cannot read 7 fractional digits (.NET); trim to microseconds.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = ""
        rest = ""
        for i, ch in enumerate(tail):
            if ch.isdigit():
                digits += ch
            else:
                rest = tail[i:]
                break
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest}" if digits else head + rest
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(payload: Mapping[str, Any], key: str, *, required: bool = True) -> int | None:
    value = payload.get(key)
    if value is None:
        if required:
            raise MalformedEvent(f"missing field '{key}'")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedEvent(f"field '{key}' must be an integer, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise MalformedEvent(f"field '{key}' must be an integer, got {value!r}") from None
    if isinstance(value, float) and number != value:
        raise MalformedEvent(f"field '{key}' must be an integer, got {value!r}")
    return number


def _dec(payload: Mapping[str, Any], key: str, *, required: bool = True) -> Decimal | None:
    value = payload.get(key)
    if value is None:
        if required:
            raise MalformedEvent(f"missing field '{key}'")
        return None
    try:
        return to_decimal(value)
    except ValueError as exc:
        raise MalformedEvent(f"field '{key}': {exc}") from None


def _str(payload: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = payload.get(key)
    if value is None or value == "":
        if required:
            raise MalformedEvent(f"missing field '{key}'")
        return None
    if not isinstance(value, str):
        raise MalformedEvent(f"field '{key}' must be a string, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    account_id: int
    name: str | None
    balance: Decimal | None
    can_trade: bool | None  # None: field missing (treated as true, with a warning)


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    position_id: int | None
    account_id: int
    contract_id: str
    size: int
    type: int
    average_price: Decimal
    created: datetime | None

    @property
    def signed_size(self) -> int:
        return -self.size if self.type == PositionType.SHORT else self.size


ORDER_TYPE_MARKET = 2


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    order_id: int
    account_id: int
    contract_id: str
    status: int
    type: int
    side: int
    size: int
    limit_price: Decimal | None
    stop_price: Decimal | None
    custom_tag: str | None
    updated: datetime | None

    @property
    def working(self) -> bool:
        """Not final yet (Open, Pending, PendingCancellation, Suspended): it may still fill."""
        return self.status in WORKING_STATUSES

    @property
    def active(self) -> bool:
        """On the market and staying there (Open, Pending): what can protect a position."""
        return self.status in ACTIVE_STATUSES

    @property
    def cancellable(self) -> bool:
        """Working and worth a cancel: a market order is only "working" for the instant before its
        fill (and the product's own closes are market orders), so rules judge its position instead;
        an order whose cancellation is already pending needs no second cancel."""
        return (
            self.working and self.type != ORDER_TYPE_MARKET and self.status != OrderStatus.PENDING_CANCELLATION
        )


@dataclass(frozen=True, slots=True)
class TradeUpdate:
    trade_id: int
    account_id: int
    contract_id: str
    created: datetime | None
    price: Decimal | None
    pnl: Decimal | None  # None: an opening fill
    fees: Decimal  # exchange / clearing / regulatory fees of this fill
    side: int | None
    size: int
    voided: bool
    order_id: int | None
    commissions: Decimal = Decimal(0)  # broker commission of this fill (null or absent: none)

    @property
    def charges(self) -> Decimal:
        """Everything this fill cost, each charge once: net P&L subtracts exactly this."""
        return self.fees + self.commissions


@dataclass(frozen=True, slots=True)
class ContractInfo:
    contract_id: str
    name: str | None
    symbol_id: str | None
    tick_size: Decimal
    tick_value: Decimal
    description: str | None = None


def parse_account(data: Any) -> AccountUpdate:
    p = unwrap(data)
    account_id = _int(p, "id")
    assert account_id is not None
    can_trade = p.get("canTrade")
    if can_trade is not None and not isinstance(can_trade, bool):
        raise MalformedEvent(f"field 'canTrade' must be true or false, got {can_trade!r}")
    return AccountUpdate(account_id, p.get("name"), _dec(p, "balance", required=False), can_trade)


def parse_position(data: Any) -> PositionUpdate:
    p = unwrap(data)
    account_id = _int(p, "accountId")
    contract_id = _str(p, "contractId")
    size = _int(p, "size")
    assert account_id is not None and contract_id is not None and size is not None
    if size < 0:
        raise MalformedEvent(f"field 'size' must be >= 0, got {size}")
    ptype = _int(p, "type", required=size > 0)
    if size > 0 and ptype not in (PositionType.LONG, PositionType.SHORT):
        raise MalformedEvent(f"field 'type' must be 1 (long) or 2 (short), got {ptype!r}")
    avg = _dec(p, "averagePrice", required=size > 0)
    return PositionUpdate(
        _int(p, "id", required=False),
        account_id,
        contract_id,
        size,
        ptype or 0,
        avg if avg is not None else Decimal(0),
        parse_time(p.get("creationTimestamp")),
    )


def parse_order(data: Any) -> OrderUpdate:
    p = unwrap(data)
    order_id = _int(p, "id")
    account_id = _int(p, "accountId")
    contract_id = _str(p, "contractId")
    status = _int(p, "status")
    otype = _int(p, "type")
    side = _int(p, "side")
    size = _int(p, "size")
    assert order_id is not None and account_id is not None and contract_id is not None
    assert status is not None and otype is not None and side is not None and size is not None
    # Statuses 7 (PendingCancellation) and 8 (Suspended) are working (enums.py); other unknown
    # statuses and types are kept as they are: not working and not stops (spec/gateway.md §7.3).
    if side not in (0, 1):
        raise MalformedEvent(f"field 'side' must be 0 (buy) or 1 (sell), got {side}")
    tag = p.get("customTag")
    return OrderUpdate(
        order_id,
        account_id,
        contract_id,
        status,
        otype,
        side,
        size,
        _dec(p, "limitPrice", required=False),
        _dec(p, "stopPrice", required=False),
        tag if isinstance(tag, str) else None,
        parse_time(p.get("updateTimestamp") or p.get("creationTimestamp")),
    )


def parse_trade(data: Any) -> TradeUpdate:
    p = unwrap(data)
    trade_id = _int(p, "id")
    account_id = _int(p, "accountId")
    contract_id = _str(p, "contractId")
    assert trade_id is not None and account_id is not None and contract_id is not None
    voided = p.get("voided", False)
    if not isinstance(voided, bool):
        raise MalformedEvent(f"field 'voided' must be true or false, got {voided!r}")
    # ``fees`` (exchange/clearing) and ``commissions`` (broker) are separate charges; either may be
    # absent or null. A client that reads ``commissions`` as ``fees`` when ``fees`` is missing would
    # count the same money once, and so does this (docs/engine.md, "Fees and commissions").
    fees = _dec(p, "fees", required=False)
    commissions = _dec(p, "commissions", required=False)
    return TradeUpdate(
        trade_id,
        account_id,
        contract_id,
        parse_time(p.get("creationTimestamp")),
        _dec(p, "price", required=False),
        _dec(p, "profitAndLoss", required=False),
        fees if fees is not None else Decimal(0),
        _int(p, "side", required=False),
        _int(p, "size", required=False) or 0,
        voided,
        _int(p, "orderId", required=False),
        commissions if commissions is not None else Decimal(0),
    )


def parse_contract(data: Any) -> ContractInfo:
    p = unwrap(data)
    contract_id = _str(p, "id")
    tick_size = _dec(p, "tickSize")
    tick_value = _dec(p, "tickValue")
    assert contract_id is not None and tick_size is not None and tick_value is not None
    if tick_size <= 0 or tick_value <= 0:
        raise MalformedEvent("fields 'tickSize' and 'tickValue' must be > 0")
    return ContractInfo(
        contract_id,
        _str(p, "name", required=False),
        _str(p, "symbolId", required=False),
        tick_size,
        tick_value,
        _str(p, "description", required=False),
    )
