"""How the dashboard writes money, prices, times and durations (trader-cli.md §10).

Money: sign, ``$``, thousands separators, two decimals (``−$1,512.40``; the minus is U+2212 so it is
never mistaken for a dash). Prices keep the decimals the daemon sent (the contract's tick precision).
Times are ``HH:MM:SS`` in the account's trading time zone; durations drop leading zero units.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUS = "\u2212"

# Generic names for the North American zones a futures trader reads ("17:00 CT").
_GENERIC = {
    "CST": "CT",
    "CDT": "CT",
    "EST": "ET",
    "EDT": "ET",
    "MST": "MT",
    "MDT": "MT",
    "PST": "PT",
    "PDT": "PT",
}


def dec(value: Any) -> Decimal | None:
    """A decimal from the API's text (``None`` and garbage give None, never a float)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def money(value: Any, *, signed: bool = True, plus: bool = False) -> str:
    """``−$1,512.40``; ``+$12.00`` with ``plus`` (monochrome needs the sign); ``n/a`` when unknown."""
    amount = dec(value)
    if amount is None:
        return "n/a"
    cents = amount.quantize(Decimal("0.01"))
    text = f"${abs(cents):,.2f}"
    if not signed:
        return text
    if cents < 0:
        return MINUS + text
    if cents > 0 and plus:
        return "+" + text
    return text


def price(value: Any, like: Any = None) -> str:
    """A price with thousands separators and the decimals of ``like`` (the tick precision)."""
    amount = dec(value)
    if amount is None:
        return "n/a"
    places = _places(like) if like is not None else _places(value)
    return f"{amount:,.{places}f}"


def _places(value: Any) -> int:
    text = str(value)
    return len(text.split(".", 1)[1]) if "." in text else 0


def duration(seconds: float) -> str:
    """``2h 37m 55s``, ``3m 12s``, ``7s``: leading zero units dropped."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def parse_time(value: Any) -> datetime | None:
    """The API's UTC ISO-8601 text (``…Z``) as an aware datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def zone(name: Any) -> tzinfo:
    try:
        return ZoneInfo(str(name)) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def zone_abbrev(when: datetime, tz: tzinfo) -> str:
    name = when.astimezone(tz).strftime("%Z")
    return _GENERIC.get(name, name)


def clock(when: datetime | None, tz: tzinfo) -> str:
    return "--:--:--" if when is None else when.astimezone(tz).strftime("%H:%M:%S")


def hhmm(when: datetime | None, tz: tzinfo) -> str:
    return "--:--" if when is None else when.astimezone(tz).strftime("%H:%M")


def age(seconds: float) -> str:
    return f"{duration(seconds)} ago"


def pct(value: Any) -> str:
    if value is None:
        return "—"
    return f"{float(value):.0f} %"
