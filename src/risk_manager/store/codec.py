"""How values are written to the database (spec/daemon.md §6.1).

Money is decimal text (``"-512.40"``) so it round-trips exactly; timestamps are UTC ISO-8601 with
milliseconds and a ``Z`` so that text order is time order; JSON columns use compact JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


def ts(value: datetime | None) -> str | None:
    """UTC ISO-8601 with milliseconds: ``2025-11-20T15:04:09.553Z``. Naive datetimes are refused."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    u = value.astimezone(UTC)
    return u.strftime("%Y-%m-%dT%H:%M:%S.") + f"{u.microsecond // 1000:03d}Z"


def parse_ts(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def money(value: Decimal | int | None) -> str | None:
    return None if value is None else str(Decimal(value))


def dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime):
        return ts(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


def dumps(obj: Any) -> str | None:
    """Compact JSON, or NULL for an empty / missing value."""
    if obj is None or obj == {} or obj == []:
        return None
    return json.dumps(obj, separators=(",", ":"), default=_default, sort_keys=True)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
