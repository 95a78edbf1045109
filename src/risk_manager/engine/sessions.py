"""Trading windows for RULE-009: inside/outside, window ends and the next session start.

A window is [start, end) local time on allowed weekdays that are not holidays; when end < start it
runs overnight and belongs to the day it starts on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from risk_manager.engine.trading_day import local_instant, zone

_SEARCH_DAYS = 400  # long enough to step over any run of holidays and weekends


@dataclass(frozen=True, slots=True)
class Window:
    start: time
    end: time
    tz: ZoneInfo
    weekdays: frozenset[int]  # Monday = 0
    holidays: frozenset[date]

    @classmethod
    def build(
        cls, start: time, end: time, tz_name: str, weekdays: Iterable[int], holidays: Iterable[date]
    ) -> Window:
        return cls(start, end, zone(tz_name), frozenset(weekdays), frozenset(holidays))

    @property
    def overnight(self) -> bool:
        return self.end < self.start

    def _open_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays

    def _bounds(self, day: date) -> tuple[datetime, datetime]:
        """The UTC [open, close) of the session that starts on a local day."""
        opens = local_instant(day, self.start, self.tz)
        close_day = day + timedelta(days=1) if self.overnight else day
        return opens, local_instant(close_day, self.end, self.tz)

    def session_containing(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The [open, close) of the session now is in, or None when outside every session."""
        local_day = now.astimezone(self.tz).date()
        for day in (local_day, local_day - timedelta(days=1)):
            if not self._open_day(day):
                continue
            opens, closes = self._bounds(day)
            if opens <= now < closes:
                return opens, closes
        return None

    def inside(self, now: datetime) -> bool:
        return self.session_containing(now) is not None

    def next_start(self, now: datetime) -> datetime:
        """The earliest session start strictly after now on an allowed, non-holiday day."""
        local_day = now.astimezone(self.tz).date()
        for offset in range(0, _SEARCH_DAYS):
            day = local_day + timedelta(days=offset)
            if not self._open_day(day):
                continue
            opens = local_instant(day, self.start, self.tz)
            if opens > now:
                return opens
        raise ValueError("no trading session in the next 400 days (every day is excluded)")

    def next_boundary(self, now: datetime) -> datetime:
        """The next instant > now at which inside/outside may change (a session start or end)."""
        current = self.session_containing(now)
        if current is not None:
            return current[1]
        return self.next_start(now)
