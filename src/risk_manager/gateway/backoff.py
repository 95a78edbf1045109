"""Delay schedules: hub reconnects (spec/gateway.md §4.6) and REST read retries (§1.4)."""

from __future__ import annotations

import random
from collections.abc import Sequence

RECONNECT_DELAYS_S: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)
# While a hub is down the accounts it serves are NOT PROTECTED: keep trying every half second (each
# attempt is one cheap negotiate or a refused connection), so that the end of an outage is noticed
# within a second (spec/daemon.md §13: protected again <= 3 s after the broker is back). Only a long
# outage, or the broker asking (429 Retry-After), falls back to the slower schedule above.
OUTAGE_DELAYS_S: tuple[float, ...] = (0.0, 0.25, 0.5)
FAST_RECONNECT_FOR_S = 120.0
READ_RETRY_DELAYS_S: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)


def reconnect_delay(
    attempt: int,
    delays: Sequence[float] = RECONNECT_DELAYS_S,
    jitter: float = 0.2,
    rng: random.Random | None = None,
) -> float:
    """Delay before reconnect attempt ``attempt`` (0-based): the schedule, then its last value
    forever, each ±``jitter`` so that many clients do not reconnect in lock-step."""
    base = delays[min(attempt, len(delays) - 1)]
    if base <= 0:
        return 0.0
    r = rng.uniform(-jitter, jitter) if rng is not None else random.uniform(-jitter, jitter)
    return max(0.0, base * (1.0 + r))


class ReconnectSchedule:
    """The delay before each reconnect attempt of one outage: fast for ``fast_for_s``, then the slow
    schedule from its start; a server's ``Retry-After`` is always honoured."""

    def __init__(
        self,
        fast: Sequence[float] = OUTAGE_DELAYS_S,
        slow: Sequence[float] = RECONNECT_DELAYS_S,
        fast_for_s: float = FAST_RECONNECT_FOR_S,
        jitter: float = 0.2,
    ) -> None:
        self._fast, self._slow, self._fast_for_s, self._jitter = fast, slow, fast_for_s, jitter
        self.attempt = 0
        self._slow_from: int | None = None

    def reset(self) -> None:
        """A connection that lived: the next outage starts fast again."""
        self.attempt = 0
        self._slow_from = None

    def next(self, outage_s: float, retry_after_s: float | None = None) -> float:
        if outage_s < self._fast_for_s:
            delay = reconnect_delay(self.attempt, self._fast, self._jitter)
        else:
            if self._slow_from is None:
                self._slow_from = self.attempt
            delay = reconnect_delay(self.attempt - self._slow_from, self._slow, self._jitter)
        self.attempt += 1
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return delay
