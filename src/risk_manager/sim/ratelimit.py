"""Sliding-window request limits of the simulated gateway (spec/gateway.md §1.5, settings §6.9)."""

from __future__ import annotations

import time
from collections import deque


class SlidingWindow:
    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}

    def check(self, key: str, limit: int, window_s: float) -> float | None:
        """Record a request; None if allowed, else the seconds until the window has room again."""
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= window_s:
            hits.popleft()
        if len(hits) >= limit:
            return max(0.001, window_s - (now - hits[0]))
        hits.append(now)
        return None

    def clear(self) -> None:
        self._hits.clear()
