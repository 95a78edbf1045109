"""Delay schedules: hub reconnects (spec/gateway.md §4.6) and REST read retries (§1.4)."""

from __future__ import annotations

import random
from collections.abc import Sequence

RECONNECT_DELAYS_S: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)
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
