"""What one local-API connection may cost the daemon (issue 8 §5): token buckets per connection.

Any local process may connect without logging in, so every connection gets a budget that keeps the
event loop free for enforcement whatever it sends:

* **frames**: every frame read costs ``1 + len // 4096`` tokens. Past the budget the server stops
  reading that connection for a while (TCP pushes back on the sender); nothing is answered, nothing
  queued, so a flood costs the loop a bounded amount per second however fast it is sent.
* **snapshot**, **health** and **history** (history also server-wide, since a client may open many connections):
  answered ``rate_limited`` (with ``retryAfterMs``) past their budget,
  without building anything or touching the database; the connection is then not read again until
  that wait is over, so a client looping on the refusal gets one answer per refill, not one per frame.

New connections are budgeted server-wide as well (HTTP 503 past it, before the WebSocket handshake).

Buckets read the event loop's clock (``time.monotonic``), not the daemon's injected ``Clock``: they
bound load, they decide nothing (the same split as the pipeline's batching, ``daemon/clock.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

FRAME_BYTES_PER_TOKEN = 4096


@dataclass(frozen=True)
class Rate:
    per_s: float
    burst: float


@dataclass(frozen=True)
class ApiLimits:
    """Per-connection budgets, the server-wide ones a client could otherwise multiply by opening
    connections, and the send buffer cap; ``docs/local-api.md`` has the table."""

    frames: Rate = Rate(per_s=20.0, burst=40.0)
    snapshot: Rate = Rate(per_s=2.0, burst=5.0)
    #: ``health`` (monitoring polls it; cheap, but any local process may ask)
    health: Rate = Rate(per_s=2.0, burst=5.0)
    history: Rate = Rate(per_s=2.0, burst=10.0)
    #: history requests from all connections together (each one reads the database)
    history_total: Rate = Rate(per_s=5.0, burst=20.0)
    #: new connections to the whole server (a handshake and its log lines cost the loop)
    connections: Rate = Rate(per_s=20.0, burst=40.0)
    #: bytes queued for one client (not yet written to its socket) before it is disconnected
    send_buffer_bytes: int = 1024 * 1024
    #: messages queued for one client before it is disconnected (spec/daemon.md §9.1: 1,000)
    send_queue_messages: int = 1000


class TokenBucket:
    def __init__(self, rate: Rate, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._monotonic = monotonic
        self._tokens = rate.burst
        self._at = monotonic()

    def _refill(self) -> float:
        now = self._monotonic()
        self._tokens = min(self._rate.burst, self._tokens + (now - self._at) * self._rate.per_s)
        self._at = now
        return self._tokens

    def try_take(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens and return 0, or take nothing and return the seconds until it could."""
        tokens = self._refill()
        if tokens >= cost:
            self._tokens = tokens - cost
            return 0.0
        return (cost - tokens) / self._rate.per_s

    def charge(self, cost: float) -> float:
        """Take ``cost`` tokens even into debt; return the seconds until the balance is back to zero."""
        self._tokens = self._refill() - cost
        return max(0.0, -self._tokens / self._rate.per_s)


def frame_cost(frame: str | bytes) -> float:
    return 1.0 + len(frame) // FRAME_BYTES_PER_TOKEN


def retry_after_ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


class ConnectionBudget:
    """The buckets of one connection."""

    def __init__(self, limits: ApiLimits, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.frames = TokenBucket(limits.frames, monotonic)
        self.snapshot = TokenBucket(limits.snapshot, monotonic)
        self.health = TokenBucket(limits.health, monotonic)
        self.history = TokenBucket(limits.history, monotonic)
