"""Broker payloads turned into typed records the rules read.

Payloads come from the user and market hubs (bare or wrapped as ``{"action": n, "data": {...}}``),
from REST reconciliation, or from a replay file. Anything the rules depend on is validated here, so
a malformed event is rejected whole (``MalformedEvent``) before it can touch state: wrong types,
NaN and infinities, and numbers no real futures account can show (``plausible.py``). The error
names the account the payload claims, so the log says whose event was skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from risk_manager.engine.enums import ACTIVE_STATUSES, WORKING_STATUSES, OrderStatus, PositionType
from risk_manager.engine.money import to_decimal
from risk_manager.engine.plausible import (
    EARLIEST,
    ID_MAX,
    ID_MIN,
    LATEST,
    MONEY_MAX,
    NUMBER_TEXT_MAX,
    PRICE_MAX,
    PRICE_MAX_FLOAT,
    SIZE_MAX,
    TEXT_MAX,
    TICK_MAX,
    TICK_SIZE_MIN,
    show,
)

ACCOUNT = "GatewayUserAccount"
POSITION = "GatewayUserPosition"
ORDER = "GatewayUserOrder"
TRADE = "GatewayUserTrade"
QUOTE = "GatewayQuote"
CONTRACT = "Contract"
TICK = "Tick"

EVENT_NAMES = frozenset({ACCOUNT, POSITION, ORDER, TRADE, QUOTE, CONTRACT, TICK})


class MalformedEvent(ValueError):
    """A broker event the engine cannot use; the caller logs it and skips it.

    ``account_id`` is the account the payload names (when it names one), also in the message.
    """

    def __init__(self, message: str, account_id: int | None = None) -> None:
        super().__init__(message if account_id is None else f"account {account_id}: {message}")
        self.account_id = account_id


def _claimed_account(payload: Mapping[str, Any], key: str) -> int | None:
    value = payload.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and ID_MIN <= value <= ID_MAX:
        return value
    return None


class _about_account:  # noqa: N801 - used like the function it replaced (a class costs less per event)
    """Errors raised inside name the account the payload claims."""

    __slots__ = ("_key", "_payload")

    def __init__(self, payload: Mapping[str, Any], key: str = "accountId") -> None:
        self._payload = payload
        self._key = key

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, MalformedEvent) and exc.account_id is None:
            account = _claimed_account(self._payload, self._key)
            if account is not None:
                raise MalformedEvent(str(exc), account) from None


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
    if not isinstance(value, str) or not value or len(value) > TEXT_MAX:
        return None
    try:  # the broker's usual form ("...T14:30:00.1234567+00:00" or "...Z") reads as it is
        parsed = datetime.fromisoformat(value)
    except ValueError:
        pass
    else:
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
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


def _time(payload: Mapping[str, Any], *keys: str) -> datetime | None:
    """A broker timestamp (the first of ``keys`` present); outside EARLIEST..LATEST it is read as
    missing, like an unreadable one (the clock is used): date arithmetic near the calendar's limits
    would overflow inside a rule."""
    value = None
    for key in keys:
        value = payload.get(key)
        if value:
            break
    parsed = parse_time(value)
    if parsed is None or not EARLIEST <= parsed < LATEST:
        return None
    return parsed


def _int(
    payload: Mapping[str, Any], key: str, *, required: bool = True, low: int = ID_MIN, high: int = ID_MAX
) -> int | None:
    """An integer field within [low, high] (ids by default: 64-bit, as at the broker and in SQLite)."""
    value = payload.get(key)
    if type(value) is int and low <= value <= high:
        return value  # the usual case, decided at once
    if value is None:
        if required:
            raise MalformedEvent(f"missing field '{key}'")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedEvent(f"field '{key}' must be an integer, got {show(value)}")
    if isinstance(value, str) and len(value) > NUMBER_TEXT_MAX:
        raise MalformedEvent(f"field '{key}' must be an integer, got {show(value)}")
    try:
        number = int(value)
    except (ValueError, OverflowError):
        raise MalformedEvent(f"field '{key}' must be an integer, got {show(value)}") from None
    if isinstance(value, float) and number != value:
        raise MalformedEvent(f"field '{key}' must be an integer, got {show(value)}")
    if not low <= number <= high:
        raise MalformedEvent(f"field '{key}' must be between {low} and {high}, got {show(value)}")
    return number


def _size(payload: Mapping[str, Any], key: str, *, required: bool = True) -> int | None:
    """A number of contracts: 0 to SIZE_MAX."""
    return _int(payload, key, required=required, low=0, high=SIZE_MAX)


def _dec(
    payload: Mapping[str, Any], key: str, *, required: bool = True, limit: Decimal = PRICE_MAX
) -> Decimal | None:
    """A finite decimal field with |value| <= limit (prices by default)."""
    value = payload.get(key)
    if value is None:
        if required:
            raise MalformedEvent(f"missing field '{key}'")
        return None
    if isinstance(value, str) and len(value) > NUMBER_TEXT_MAX:
        raise MalformedEvent(f"field '{key}': expected a number, got {show(value)}")
    try:
        number = to_decimal(value)
    except ValueError as exc:
        raise MalformedEvent(f"field '{key}': {exc}") from None
    if abs(number) > limit:
        raise MalformedEvent(
            f"field '{key}' is {show(value)}: beyond any futures account's range (|value| <= {limit:,})"
        )
    return number


def _money(payload: Mapping[str, Any], key: str) -> Decimal | None:
    """An optional money amount (P&L, fees, balance): |value| <= MONEY_MAX."""
    return _dec(payload, key, required=False, limit=MONEY_MAX)


def _str(payload: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = payload.get(key)
    if value is None or value == "":
        if required:
            raise MalformedEvent(f"missing field '{key}'")
        return None
    if not isinstance(value, str):
        raise MalformedEvent(f"field '{key}' must be a string, got {show(value)}")
    if len(value) > TEXT_MAX:
        raise MalformedEvent(f"field '{key}' is {len(value)} characters long (at most {TEXT_MAX})")
    return value


def _bool(payload: Mapping[str, Any], key: str) -> bool | None:
    value = payload.get(key)
    if value is not None and not isinstance(value, bool):
        raise MalformedEvent(f"field '{key}' must be true or false, got {show(value)}")
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
    with _about_account(p, "id"):
        account_id = _int(p, "id")
        assert account_id is not None
        return AccountUpdate(account_id, _str(p, "name", required=False), _money(p, "balance"), _bool(p, "canTrade"))


def parse_position(data: Any) -> PositionUpdate:
    p = unwrap(data)
    with _about_account(p):
        account_id = _int(p, "accountId")
        contract_id = _str(p, "contractId")
        size = _int(p, "size")
        assert account_id is not None and contract_id is not None and size is not None
        if size < 0:
            raise MalformedEvent(f"field 'size' must be >= 0, got {size}")
        if size > SIZE_MAX:
            raise MalformedEvent(f"field 'size' must be at most {SIZE_MAX:,} contracts, got {size}")
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
            _time(p, "creationTimestamp"),
        )


def parse_order(data: Any) -> OrderUpdate:
    p = unwrap(data)
    with _about_account(p):
        order_id = _int(p, "id")
        account_id = _int(p, "accountId")
        contract_id = _str(p, "contractId")
        status = _int(p, "status")
        otype = _int(p, "type")
        side = _int(p, "side")
        size = _size(p, "size")
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
            # Only used to recognise the product's own orders: an odd tag is simply not ours.
            tag if isinstance(tag, str) and len(tag) <= TEXT_MAX else None,
            _time(p, "updateTimestamp", "creationTimestamp"),
        )


def parse_trade(data: Any) -> TradeUpdate:
    p = unwrap(data)
    with _about_account(p):
        trade_id = _int(p, "id")
        account_id = _int(p, "accountId")
        contract_id = _str(p, "contractId")
        assert trade_id is not None and account_id is not None and contract_id is not None
        voided = _bool(p, "voided")
        # ``fees`` (exchange/clearing) and ``commissions`` (broker) are separate charges; either may be
        # absent or null. A client that reads ``commissions`` as ``fees`` when ``fees`` is missing would
        # count the same money once, and so does this (docs/engine.md, "Fees and commissions").
        fees = _money(p, "fees")
        commissions = _money(p, "commissions")
        return TradeUpdate(
            trade_id,
            account_id,
            contract_id,
            _time(p, "creationTimestamp"),
            _dec(p, "price", required=False),
            _money(p, "profitAndLoss"),
            fees if fees is not None else Decimal(0),
            _int(p, "side", required=False),
            _size(p, "size", required=False) or 0,
            bool(voided),
            _int(p, "orderId", required=False),
            commissions if commissions is not None else Decimal(0),
        )


def parse_contract(data: Any) -> ContractInfo:
    p = unwrap(data)
    contract_id = _str(p, "id")
    tick_size = _dec(p, "tickSize", limit=TICK_MAX)
    tick_value = _dec(p, "tickValue", limit=TICK_MAX)
    assert contract_id is not None and tick_size is not None and tick_value is not None
    if tick_size < TICK_SIZE_MIN or tick_value <= 0:
        raise MalformedEvent(
            f"contract {contract_id}: 'tickSize' must be >= {TICK_SIZE_MIN} and 'tickValue' > 0, "
            f"got {show(p.get('tickSize'))} and {show(p.get('tickValue'))}"
        )
    return ContractInfo(
        contract_id,
        _str(p, "name", required=False),
        _str(p, "symbolId", required=False),
        tick_size,
        tick_value,
        _str(p, "description", required=False),
    )


def check_quote_price(contract_id: str, value: Any) -> None:
    """A quote's price field: a finite number within the price bound (None: field not sent).

    Called on the engine's hot path, so plain floats and ints (what the hub sends) are checked with
    two comparisons; anything else goes through the full conversion.
    """
    if value is None:
        return
    kind = type(value)
    if kind is float or kind is int:
        if -PRICE_MAX_FLOAT <= value <= PRICE_MAX_FLOAT:  # NaN fails both comparisons
            return
        raise MalformedEvent(f"quote for {contract_id}: price {show(value)} is not a finite futures price")
    try:
        _dec({"price": value}, "price")  # strings and Decimals: the full check
    except MalformedEvent as exc:
        raise MalformedEvent(f"quote for {contract_id}: {exc}") from None
