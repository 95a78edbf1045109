"""Sliding-window request limiter, one per login, with enforcement priority (spec/gateway.md §1.5).

The broker allows 200 requests per 60 s (``History/retrieveBars``: 50 per 30 s). The limiter keeps the
send times of the last window and admits a request only while the window has room. Two classes of
caller share it:

* **routine** (reconciliation sweeps, metadata loads) may use only ``routine_share`` of the limit
  (90 % by default), so that a burst of routine reads never leaves enforcement without budget;
* **priority** (enforcement calls and their verification reads) may use the full limit and, while
  any priority caller waits, no routine caller is admitted: waiting priority callers go first.

Waiters are served from a heap ordered by (class, arrival): only the head of the heap ever sleeps on
the clock; the others wait to be woken when they reach the head.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True, slots=True)
class _Waiter:
    rank: int  # 0 = priority, 1 = routine
    seq: int
    wake: asyncio.Event = field(compare=False, default_factory=asyncio.Event)


class SlidingWindowLimiter:
    """At most ``limit`` admissions in any ``window_s`` seconds; routine ones at most ``routine_share``."""

    def __init__(
        self,
        limit: int = 200,
        window_s: float = 60.0,
        *,
        routine_share: float = 0.9,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self.routine_limit = max(1, math.floor(limit * routine_share))
        self._clock = clock
        self._sent: deque[float] = deque()
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self.granted_priority = 0
        self.granted_routine = 0

    def __repr__(self) -> str:
        return f"SlidingWindowLimiter({self.limit}/{self.window_s}s, routine {self.routine_limit}, used {self.in_window()})"

    def in_window(self) -> int:
        self._expire(self._clock())
        return len(self._sent)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def _expire(self, now: float) -> None:
        edge = now - self.window_s
        while self._sent and self._sent[0] <= edge:
            self._sent.popleft()

    def _room_in(self, priority: bool, now: float) -> float:
        """0 if a request of this class may go now, else seconds until the window has room."""
        self._expire(now)
        cap = self.limit if priority else self.routine_limit
        if len(self._sent) < cap:
            return 0.0
        # The request may go once enough old entries leave the window.
        oldest_needed = self._sent[len(self._sent) - cap]
        return max(0.0, oldest_needed + self.window_s - now)

    async def acquire(self, priority: bool = False) -> None:
        """Wait for a slot; ``priority`` callers overtake every waiting routine caller."""
        if not self._waiters:  # nobody waits: room now means go now (the usual case, no waiter made)
            now = self._clock()
            if self._room_in(priority, now) <= 0:
                self._grant(priority, now)
                return
        me = _Waiter(0 if priority else 1, next(self._seq))
        heapq.heappush(self._waiters, me)
        try:
            while True:
                if self._waiters[0] is me:
                    now = self._clock()
                    wait = self._room_in(priority, now)
                    if wait <= 0:
                        heapq.heappop(self._waiters)
                        self._grant(priority, now)
                        self._wake_head()
                        return
                    me.wake.clear()
                    try:
                        await asyncio.wait_for(me.wake.wait(), timeout=wait)
                    except TimeoutError:
                        pass
                else:
                    me.wake.clear()
                    await me.wake.wait()
        except BaseException:
            if me in self._waiters:
                self._waiters.remove(me)
                heapq.heapify(self._waiters)
                self._wake_head()
            raise

    def _grant(self, priority: bool, now: float) -> None:
        self._sent.append(now)
        if priority:
            self.granted_priority += 1
        else:
            self.granted_routine += 1

    def _wake_head(self) -> None:
        if self._waiters:
            self._waiters[0].wake.set()
