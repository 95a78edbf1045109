"""Storage health (spec/daemon.md §6.6, issue 8 §1): what the writer thread reports about the disk,
carried onto the event loop and told to the world.

The writer thread says "degraded", "recovered" or "replaced"; ``StorageMonitor`` moves each report
onto the loop, keeps ``StorageHealth`` (what ``status``, the snapshot and every account's connection
view show), publishes ``StorageDegraded`` / ``StorageRecovered`` / ``DatabaseReplaced`` on the notifier
(the log, the alert webhook, the Event Log / journal and the dashboards learn it from there) and asks
the persistence to re-write what the daemon holds in memory when records were lost or the file was
replaced. A watchdog notices a write that never returns (a hanging disk), which raises no error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from risk_manager.daemon.notify import DatabaseReplaced, Notifier, StorageDegraded, StorageRecovered
from risk_manager.engine.timefmt import iso
from risk_manager.store.writer import Writer

log = logging.getLogger("risk_manager.daemon.persist")

WATCH_EVERY_S = 1.0

Clock = Callable[[], datetime]


@dataclass
class StorageHealth:
    degraded: bool = False
    reason: str | None = None
    since: datetime | None = None
    #: the last damaged file moved aside while running (None: none this run)
    replaced: str | None = None

    def note(self) -> str:
        """The storage note a push carries when its record could not be saved."""
        return f"degraded: {self.reason}" if self.degraded else "not saved yet: the disk is slow"

    def view(self, unsaved: int) -> dict[str, Any]:
        """``status`` / snapshot shape."""
        out: dict[str, Any] = {
            "state": "degraded" if self.degraded else "ok",
            "reason": self.reason,
            "since": iso(self.since),
            "unsaved": unsaved,
        }
        if self.replaced is not None:
            out["replacedFile"] = self.replaced
        return out


class StorageMonitor:
    """The writer's ``WriterEvents``: called on the writer thread, acted on on the loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
        notifier: Notifier | None,
        rewrite: Callable[[str], None],
    ) -> None:
        self.health = StorageHealth()
        self._loop = loop
        self._clock = clock
        self._notifier = notifier
        self.rewrite = rewrite

    # ----- writer thread -------------------------------------------------------------------------------
    def degraded(self, reason: str) -> None:
        self._soon(self._on_degraded, reason)

    def recovered(self, written: int, lost: int) -> None:
        self._soon(self._on_recovered, written, lost)

    def replaced(self, moved_to: Path, problem: str) -> None:
        self._soon(self._on_replaced, moved_to, problem)

    def _soon(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the process is ending
            self._loop.call_soon_threadsafe(fn, *args)

    # ----- loop ----------------------------------------------------------------------------------------
    def _publish(self, message: Any) -> None:
        if self._notifier is not None:
            self._notifier.publish(message)

    def _on_degraded(self, reason: str) -> None:
        h = self.health
        if h.degraded:
            return
        h.degraded, h.reason, h.since = True, reason, self._clock()
        self._publish(StorageDegraded(at=self._clock(), reason=reason))

    def _on_recovered(self, written: int, lost: int) -> None:
        h = self.health
        was = h.degraded
        h.degraded, h.reason, h.since = False, None, None
        if lost:
            self.rewrite(f"{lost} records were dropped while storage was failing")
        if was:
            log.info("storage recovered: %d records held in memory were written", written)
            self._publish(StorageRecovered(at=self._clock()))

    def _on_replaced(self, moved_to: Path, problem: str) -> None:
        self.health.replaced = str(moved_to)
        self.rewrite(f"the database was replaced ({problem})")
        self._publish(DatabaseReplaced(at=self._clock(), moved_to=str(moved_to)))

    def announce_replaced_at_open(self, moved_to: Path) -> None:
        """A corrupt file found at start-up (``open_database`` moved it aside): the alert."""
        self._publish(DatabaseReplaced(at=self._clock(), moved_to=str(moved_to)))

    async def watch(self, writer: Writer) -> None:
        """Once a second: a write that has not returned for too long degrades storage."""
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            writer.stalled()
