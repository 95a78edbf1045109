"""Wire conventions shared by every simulator module: timestamps, numbers, enums, strict JSON.

The simulator keeps money and prices as ``Decimal``; they become JSON numbers only at the edge, via
``plain()``. ``float(Decimal)`` is exact enough here because every value is already rounded to cents or
to the tick grid, and ``repr(float)`` prints the shortest text that round-trips.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from risk_manager.engine.events import parse_time

# Enums (spec/gateway.md §3)
LIMIT, MARKET, STOP_LIMIT, STOP, TRAILING_STOP, JOIN_BID, JOIN_ASK = 1, 2, 3, 4, 5, 6, 7
BUY, SELL = 0, 1
ST_OPEN, ST_FILLED, ST_CANCELLED, ST_EXPIRED, ST_REJECTED, ST_PENDING = 1, 2, 3, 4, 5, 6
ST_PENDING_CANCEL, ST_SUSPENDED = 7, 8  # sent by the live gateway (issue 9; docs/simulator.md)
WORKING = frozenset({ST_OPEN, ST_PENDING, ST_PENDING_CANCEL, ST_SUSPENDED})  # not final
LIVE = frozenset({ST_OPEN, ST_PENDING, ST_PENDING_CANCEL})  # in the book: may trigger and fill
LISTED_OPEN = LIVE  # what Order/searchOpen lists (suspended bracket children are left out)
LONG, SHORT = 1, 2

ORDER_TYPE_NAMES = {
    "limit": LIMIT,
    "market": MARKET,
    "stop_limit": STOP_LIMIT,
    "stoplimit": STOP_LIMIT,
    "stop": STOP,
    "trailing_stop": TRAILING_STOP,
    "trailingstop": TRAILING_STOP,
    "join_bid": JOIN_BID,
    "joinbid": JOIN_BID,
    "join_ask": JOIN_ASK,
    "joinask": JOIN_ASK,
}
SIDE_NAMES = {"buy": BUY, "bid": BUY, "sell": SELL, "ask": SELL}


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` (spec/gateway.md §6.4)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"


def parse_ts(value: Any) -> datetime | None:
    """ISO-8601 with ``Z``/offset and 0-7 fractional digits, as UTC; no offset means UTC. None if
    unparsable. The same reading as the product's (spec/gateway.md §1.3), so it is the product's parser."""
    if not isinstance(value, str):
        return None
    ts = parse_time(value)
    return None if ts is None else ts.astimezone(UTC)


def money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def to_decimal(value: Any) -> Decimal | None:
    """A JSON number (already Decimal when parsed with ``loads``) or numeric string; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float | str):
        try:
            result = Decimal(str(value))
        except (InvalidOperation, ValueError):
            return None
        return result if result.is_finite() else None
    return None


def num(value: Decimal | None) -> float | int | None:
    """Decimal → JSON number (int when integral, so ``YM`` prices print as ``47000``)."""
    if value is None:
        return None
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def plain(obj: Any) -> Any:
    """Recursively turn Decimals into JSON numbers and datetimes into ISO strings."""
    if isinstance(obj, Decimal):
        return num(obj)
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if isinstance(obj, datetime):
        return iso(obj)
    return obj


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return num(obj)
    if isinstance(obj, datetime):
        return iso(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(obj: Any) -> str:
    """Strict compact JSON (no NaN) of an object that may still hold Decimals.

    The C encoder walks the structure and calls back only for Decimals and datetimes, which is much
    cheaper than converting the whole tree first (this is the simulator's hottest path)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, default=_default)


def loads(text: str) -> Any:
    """Parse request JSON keeping numbers exact (floats as Decimal)."""
    return json.loads(text, parse_float=Decimal)


def enum_value(value: Any, names: dict[str, int]) -> int | None:
    """Control-API convenience: an integer, or a name such as ``market`` / ``buy``. The public REST
    API takes integers only (``strict.py``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str):
        key = value.strip().lower()
        if key in names:
            return names[key]
        if key.lstrip("-").isdigit():
            return int(key)
    return None
