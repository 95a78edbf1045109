"""The one text form of an instant outside the API envelope: UTC ISO-8601 with a ``Z`` (replay output,
lockout records, enforcement records)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
