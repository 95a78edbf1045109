"""The journal (spec/gateway.md §6.6): what the simulator received and sent, with ns timestamps and seq numbers.

Outside tests measure enforcement latency from it, so an entry's ``ts_ns`` is taken at the moment the
request body was read or the event frames were about to be written. ``cause_seq`` links an event to the
entry (REST call, control call, quote, scenario step) whose work produced it; it travels in a context
variable so that deep matching code needs no extra parameters.
"""

from __future__ import annotations

import contextvars
import itertools
import time
from collections import deque
from typing import Any

from risk_manager.sim.wire import iso, plain, utcnow

CAUSE: contextvars.ContextVar[int | None] = contextvars.ContextVar("sim_cause_seq", default=None)


class Journal:
    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self.last_seq = 0

    def resize(self, max_entries: int) -> None:
        if max_entries != self._entries.maxlen:
            self._entries = deque(self._entries, maxlen=max_entries)

    def append(self, kind: str, **fields: Any) -> dict[str, Any]:
        return self.append_plain(kind, plain(fields))

    def append_plain(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        """``fields`` already JSON-ready (no Decimals or datetimes): the event path's fast lane."""
        self.last_seq += 1
        entry: dict[str, Any] = {
            "seq": self.last_seq,
            "kind": kind,
            "ts_ns": time.monotonic_ns(),
            "wall": iso(utcnow()),
        }
        entry.update(fields)
        self._entries.append(entry)
        return entry

    def clear(self) -> None:
        """Reset keeps the sequence counter running: seq numbers are never reused."""
        self._entries.clear()

    def page(self, since: int = 0, kinds: set[str] | None = None, limit: int = 10_000) -> dict[str, Any]:
        out: list[dict[str, Any]] = []
        oldest = self._entries[0]["seq"] if self._entries else self.last_seq + 1
        truncated = since + 1 < oldest and since < self.last_seq
        more = False
        # seq numbers are contiguous in the deque: start at ``since`` instead of scanning from the oldest
        start = min(max(0, since + 1 - oldest), len(self._entries))
        for entry in itertools.islice(self._entries, start, None):
            if entry["seq"] <= since:
                continue
            if kinds and entry["kind"] not in kinds:
                continue
            if len(out) >= limit:
                more = True
                break
            out.append(entry)
        result: dict[str, Any] = {"entries": out, "last_seq": self.last_seq, "truncated": truncated}
        if more:
            result["more"] = True
        return result
