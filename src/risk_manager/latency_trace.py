"""Per-stage timestamps of the enforcement path, for ``bench/latency.py`` and ``docs/performance.md``.

Why: "the daemon is slower than a bare client" is not something to guess about. With the environment
variable ``RISK_MANAGER_LATENCY_TRACE`` naming a file, the daemon stamps every stage a breach goes
through (frame received by the hub socket, decoded, queued, taken by the pipeline, engine done,
dispatched, executor started, HTTP request started, request written) and every piece of work that
competes with it on the loop (quote frames and quote evaluations, other pipeline events, deferred
bookkeeping, garbage collections), in memory, and writes them as JSON to that file when it stops.

When the variable is not set, ``TRACE`` is None and each stage costs one attribute test; nothing is
recorded. Stamps are ``time.perf_counter_ns()``: on Linux and macOS the same clock as
``time.monotonic_ns()``, so they line up with the simulator journal's ``ts_ns`` on one machine.

The stages of one pipeline event are keyed by its sequence number; the executor's tasks inherit it
through the context variable ``KEY`` (asyncio copies the context into tasks created while it is set),
which is how the HTTP layer knows which event a request belongs to without knowing the daemon.
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections import deque
from contextvars import ContextVar
from pathlib import Path
from typing import Any

ENV = "RISK_MANAGER_LATENCY_TRACE"
LIMIT = 400_000  # stamps kept (a bench run makes well under this; memory stays bounded)

now_ns = time.perf_counter_ns

#: the pipeline event a task is working for (set by the pipeline, inherited by executor tasks)
KEY: ContextVar[int] = ContextVar("risk_manager_trace_key", default=0)


class Tracer:
    """In-memory stamps: ``marks`` (event key, stage, ns) and ``spans`` (what, start ns, end ns)."""

    def __init__(self, path: Path, limit: int = LIMIT) -> None:
        self.path = path
        self.marks: deque[tuple[int, str, int]] = deque(maxlen=limit)
        self.spans: deque[tuple[str, int, int]] = deque(maxlen=limit)
        self.meta: dict[str, Any] = {}
        # The user-hub frame being handled: its arrival and decode stamps go to the event it carries.
        self.rx_ns = 0
        self.read_ns = 0
        self.decoded_ns = 0
        self._gc_start = 0

    def mark(self, key: int, stage: str, ns: int | None = None) -> None:
        self.marks.append((key, stage, now_ns() if ns is None else ns))

    def span(self, what: str, start: int, end: int | None = None) -> None:
        self.spans.append((what, start, now_ns() if end is None else end))

    def frame(self, rx_ns: int, read_ns: int) -> None:
        """A hub frame is being decoded (bytes arrived at ``rx_ns``, the reader took the frame at
        ``read_ns``): the events it carries take these stamps when queued."""
        self.rx_ns = rx_ns
        self.read_ns = read_ns
        self.decoded_ns = 0

    def queued(self, key: int) -> None:
        """An account event entered the pipeline's FIFO (called by the pipeline)."""
        t = now_ns()
        if self.rx_ns:
            self.marks.append((key, "rx", self.rx_ns))
            self.marks.append((key, "read", self.read_ns))
            self.marks.append((key, "decoded", self.decoded_ns or t))
        self.marks.append((key, "queued", t))

    def gc_callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = now_ns()
        elif self._gc_start:
            self.spans.append((f"gc{info.get('generation', '?')}", self._gc_start, now_ns()))
            self._gc_start = 0

    def dump(self) -> None:
        doc = {
            "clock": "perf_counter_ns",
            "meta": self.meta,
            "marks": list(self.marks),
            "spans": list(self.spans),
        }
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        tmp.replace(self.path)


TRACE: Tracer | None = None


def enable(path: Path) -> Tracer:
    global TRACE
    tracer = Tracer(path)
    gc.callbacks.append(tracer.gc_callback)
    TRACE = tracer
    return tracer


def from_env() -> Tracer | None:
    """Enable tracing when ``RISK_MANAGER_LATENCY_TRACE`` is set (called once at daemon start)."""
    value = os.environ.get(ENV)
    if not value:
        return None
    return enable(Path(value))


def disable() -> None:
    global TRACE
    tracer = TRACE
    TRACE = None
    if tracer is not None and tracer.gc_callback in gc.callbacks:
        gc.callbacks.remove(tracer.gc_callback)
