"""Reconnect delays (trader-cli.md §4.2): 1, 2, 4, 8, then every 10 s, each with ±10 % jitter."""

from __future__ import annotations

import random
from collections.abc import Callable

STEPS = (1.0, 2.0, 4.0, 8.0)
CAP = 10.0
JITTER = 0.10


class Backoff:
    def __init__(self, rand: Callable[[], float] = random.random) -> None:
        self._rand = rand
        self.attempt = 0

    def next_delay(self) -> float:
        """The wait before the next attempt; counts the attempt."""
        base = STEPS[self.attempt] if self.attempt < len(STEPS) else CAP
        self.attempt += 1
        return base * (1 + JITTER * (2 * self._rand() - 1))

    def reset(self) -> None:
        self.attempt = 0
