"""The daemon's one clock (nautilus_trader's injected ``Clock`` idea).

Every component that needs the time takes a ``Clock`` instead of calling ``datetime.now``: wall time
for business decisions and records (``now``), a monotonic reading for durations and deadlines, and
``sleep`` for waits that belong to a procedure (retry back-off, periodic retries). ``ManualClock``
lets a test run a trading day, a daily reset or a retry ladder in milliseconds.

Scheduling internals that only bound latency (the pipeline's quote batching, the hub client's ping
timer) keep using the event loop's own time: they are not decisions.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC wall time."""
        ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to (tests).

    With ``auto_advance`` (the default) ``sleep`` advances it at once after letting the loop run, so a
    procedure's back-off costs no real time (unit tests of one component). A whole daemon under test
    wants ``auto_advance=False``: waits then take real time and the wall clock moves only by
    ``advance``/``set`` (a daily reset or a week in milliseconds, without retry loops spinning)."""

    def __init__(self, start: datetime | None = None, *, auto_advance: bool = True) -> None:
        start = start or datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._mono = 1000.0
        self._auto_advance = auto_advance
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (never backwards: a monotonic reading cannot go back)."""
        delta = (when.astimezone(UTC) - self._now).total_seconds()
        if delta < 0:
            raise ValueError("ManualClock cannot go backwards")
        self.advance(delta)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if not self._auto_advance:
            await asyncio.sleep(seconds)
            return
        await asyncio.sleep(0)
        self.advance(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()
