"""Trading-day arithmetic: reset instants in an IANA zone, correct across DST.

The trading day containing instant t starts at the latest reset instant <= t. Reset instants are
built from the local date and wall-clock time each day, so 17:00 America/Chicago is 23:00 UTC in
winter and 22:00 UTC in summer, and the DST transition days still have exactly one reset.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_instant(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a local date.

    A wall time that does not exist (inside a spring-forward gap) maps to the instant the clocks
    jump to; an ambiguous one (fall-back) takes its first occurrence.
    """
    naive = datetime.combine(day, wall)
    aware = naive.replace(tzinfo=tz, fold=0)
    utc = aware.astimezone(UTC)
    # Round-trip check for the spring-forward gap: the time does not exist locally.
    back = utc.astimezone(tz).replace(tzinfo=None)
    if back != naive:
        # In a gap, fold=0 reads the wall time with the offset from before the jump, which lands
        # after the jump (02:30 CST = 03:30 CDT); fold=1 would land before it (01:30 CST), too early.
        # Snap back to the transition itself: the first instant whose local time is >= the wall time.
        while (utc - timedelta(minutes=1)).astimezone(tz).replace(tzinfo=None) >= naive:
            utc -= timedelta(minutes=1)
    return utc


def reset_at_or_before(now: datetime, reset_time: time, tz: ZoneInfo) -> datetime:
    """The latest reset instant <= now: the start of the trading day that contains now."""
    local_day = now.astimezone(tz).date()
    candidate = local_instant(local_day, reset_time, tz)
    if candidate > now:
        candidate = local_instant(local_day - timedelta(days=1), reset_time, tz)
    return candidate


def next_reset_after(now: datetime, reset_time: time, tz: ZoneInfo) -> datetime:
    """The earliest reset instant strictly after now: when an until_reset lockout ends."""
    local_day = now.astimezone(tz).date()
    for offset in range(0, 3):
        candidate = local_instant(local_day + timedelta(days=offset), reset_time, tz)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: a reset happens every day")


def trading_date(now: datetime, reset_time: time, tz: ZoneInfo) -> date:
    """The label of the trading day containing now: the local date on which it ends."""
    start = reset_at_or_before(now, reset_time, tz)
    return (start.astimezone(tz) + timedelta(days=1)).date()
