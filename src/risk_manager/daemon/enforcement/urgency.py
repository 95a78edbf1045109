"""Enforcement first: while a money-moving request is on its way out, the pipeline waits.

The pipeline and the executor share one event loop. Every ``await`` inside the HTTP client hands the
loop to whoever is ready, and the pipeline is nearly always ready (the rest of a fill's events,
quotes), so without this an enforcement request would leave only after several unrelated events had
been processed. The executor holds the gate from the moment a breach is submitted until its first
request has been written to the socket (or has failed); the pipeline pauses between events while the
gate is held, never longer than ``MAX_PAUSE_S``, and the user hub's reader pauses between frames,
never longer than ``READ_PAUSE_S``. A request started eagerly (``risk_manager/eager_tasks.py``) has
usually left before the reader asks; when it cannot leave at once (a new connection, a wait for the
REST budget), the fill's next frames would otherwise be decoded and decided ahead of it.
"""

from __future__ import annotations

import asyncio

MAX_PAUSE_S = 0.02
# A request normally leaves within 0.3-2 ms; a longer wait (the REST budget) must not stall the hub.
READ_PAUSE_S = 0.002


class Urgency:
    def __init__(self) -> None:
        self._held = 0
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def held(self) -> bool:
        return self._held > 0

    def hold(self) -> None:
        self._held += 1

    def release(self) -> None:
        if self._held > 0:
            self._held -= 1
        if self._held == 0 and self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def cleared(self, limit: float = MAX_PAUSE_S) -> asyncio.Future[None] | None:
        """None when the gate is clear; otherwise a future done when it clears or after ``limit``
        seconds, whichever comes first (no task, one timer: this is on the enforcement path)."""
        if not self._held:
            return None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(limit, self._expire, waiter)
        waiter.add_done_callback(lambda _: timer.cancel())
        self._waiters.append(waiter)
        return waiter

    def _expire(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_result(None)
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass

    async def wait_clear(self, limit: float = MAX_PAUSE_S) -> None:
        waiter = self.cleared(limit)
        if waiter is not None:
            await waiter
