"""Reusable field types for the config models: money, counts, wall-clock times, zones, symbols.

Each type does its own conversion and raises a message that says what was expected, so the loader can
show it to an admin unchanged.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


def describe(value: Any) -> str:
    """How a YAML value reads back to the admin (``true``, ``null``, ``'abc'``, ``a list``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def fail(message: str) -> PydanticCustomError:
    """An error whose text the loader shows as is."""
    return PydanticCustomError("config", "{message}", {"message": message})


def fail_at(path: tuple[str | int, ...], message: str) -> PydanticCustomError:
    """An error raised by a container's validator but belonging to one of its children (``path``)."""
    return PydanticCustomError("config_path", "{message}", {"message": message, "path": path})


def _to_decimal(value: Any) -> Decimal:
    # Floats go through repr so that 300.1 in YAML is Decimal("300.1"), never 300.099999...
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(f"expected a number, got {describe(value)}")
    elif isinstance(value, int):
        result = Decimal(value)
    else:
        try:
            result = Decimal(repr(float(value)))
        except InvalidOperation:  # pragma: no cover - repr of a float is always parseable
            raise fail(f"expected a number, got {describe(value)}") from None
    if not result.is_finite():
        raise fail(f"expected a finite number, got {describe(value)}")
    return result


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise fail(f"expected a number, got {describe(value)}")
    return float(value)


def parse_hhmm(value: Any) -> time:
    """``"17:00"`` -> ``time(17, 0)``; anything else is an error naming the expected format."""
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        match = _HHMM.match(value.strip())
        if match:
            hour, minute = int(match.group(1)), int(match.group(2))
            if hour < 24 and minute < 60:
                return time(hour, minute)
    raise fail(f'expected a time as "HH:MM" (24-hour clock, in quotes), got {describe(value)}')


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (cached; ZoneInfo objects are immutable)."""
    return _zone(name)


def _check_zone(value: str) -> str:
    name = value.strip()
    try:
        if not name:
            raise ValueError
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise fail(f"unknown time zone {value!r} (expected an IANA name such as America/Chicago)") from None
    return name


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        raise fail(f"expected a date as YYYY-MM-DD without a time, got {describe(value)}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise fail(f"expected a date as YYYY-MM-DD, got {describe(value)}")


def _symbol(value: str) -> str:
    symbol = value.strip().upper()
    if not symbol:
        raise fail("expected a symbol such as MNQ, got an empty string")
    return symbol


def _non_empty(value: str) -> str:
    text = value.strip()
    if not text:
        raise fail("expected a non-empty string")
    return text


def check_url(value: str, schemes: tuple[str, ...] = ("http", "https", "ws", "wss")) -> str:
    """A broker or webhook URL: one of ``schemes`` and a host; trailing slashes removed."""
    text = value.strip()
    try:
        parts = urlsplit(text)
        ok = parts.scheme in schemes and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise fail(f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}, got {value!r}")
    return text.rstrip("/")


Money = Annotated[Decimal, BeforeValidator(_to_decimal), Field(gt=0)]
"""A positive money amount in account currency (config holds magnitudes, spec/rules.md §1.4)."""

def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise fail(f"expected a number of at least 0, got {value}")
    return value


NonNegativeMoney = Annotated[Decimal, BeforeValidator(_to_decimal), AfterValidator(_not_negative)]
"""A money amount that may be zero (a buffer, a scratch threshold)."""

Count = Annotated[int, Field(ge=1)]
"""A limit on contracts or trades: at least 1."""

Ticks = Annotated[int, Field(ge=1)]
Seconds = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, BeforeValidator(_to_float), Field(gt=0)]
WallTime = Annotated[time, BeforeValidator(parse_hhmm)]
TimeZoneName = Annotated[str, AfterValidator(_check_zone)]
Symbol = Annotated[str, AfterValidator(_symbol)]
NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]
Day = Annotated[date, BeforeValidator(_to_date)]
