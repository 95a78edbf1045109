"""Enforcement first: while a money-moving request is on its way out, the pipeline waits.

The pipeline and the executor share one event loop. Every ``await`` inside the HTTP client hands the
loop to whoever is ready, and the pipeline is nearly always ready (the rest of a fill's events,
quotes), so without this an enforcement request would leave only after several unrelated events had
been processed. The executor holds the gate from the moment a breach is submitted until its first
request has been written to the socket (or has failed); the pipeline pauses between events while the
gate is held, never longer than ``MAX_PAUSE_S``.
"""

from __future__ import annotations

import asyncio

MAX_PAUSE_S = 0.02


class Urgency:
    def __init__(self) -> None:
        self._held = 0
        self._clear = asyncio.Event()
        self._clear.set()

    @property
    def held(self) -> bool:
        return self._held > 0

    def hold(self) -> None:
        self._held += 1
        self._clear.clear()

    def release(self) -> None:
        if self._held > 0:
            self._held -= 1
        if self._held == 0:
            self._clear.set()

    async def wait_clear(self, limit: float = MAX_PAUSE_S) -> None:
        if self._held:
            try:
                await asyncio.wait_for(self._clear.wait(), limit)
            except TimeoutError:
                pass
