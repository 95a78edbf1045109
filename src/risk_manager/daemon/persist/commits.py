"""Awaiting a critical commit without ever being held up by the disk (issue 8 §1).

The persistence queues a record at once and hands its caller an awaitable that resolves after COMMIT,
or to None when storage failed (``StorageUnavailable``), the database is closed, or the disk did not
answer within ``COMMIT_TIMEOUT_S``. It never raises into the pipeline, and records not saved because
of the storage are told once a minute with their count rather than one line each: the degraded state
itself is announced once, loudly (``health.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from risk_manager.store.errors import StorageUnavailable

log = logging.getLogger("risk_manager.daemon.persist")

# Nobody waits longer than this for a commit, whatever the disk does (the writer gives up on a
# failing disk after 10 s; this also covers a write that hangs).
COMMIT_TIMEOUT_S = 15.0
UNSAVED_LOG_EVERY_S = 60.0


class Unsaved:
    """Counts the records not saved because of the storage; one WARNING a minute."""

    def __init__(self) -> None:
        self.count = 0
        self._said = 0
        self._last = -UNSAVED_LOG_EVERY_S

    def __call__(self, what: str, why: str) -> None:
        self.count += 1
        log.debug("%s not saved now: %s", what, why)
        now = time.monotonic()
        if now - self._last >= UNSAVED_LOG_EVERY_S:
            log.warning(
                "%d record(s) not saved yet (latest: %s; %s); they are kept and written when storage recovers",
                self.count - self._said,
                what,
                why,
            )
            self._last, self._said = now, self.count


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()  # retrieved: a late failure is not reported as "never retrieved"


async def settle(fut: asyncio.Future[Any], what: str, unsaved: Unsaved) -> Any:
    """Await a critical write (``COMMIT_TIMEOUT_S`` at most): its result, or None (logged)."""
    fut.add_done_callback(_consume)
    try:
        return await asyncio.wait_for(asyncio.shield(fut), COMMIT_TIMEOUT_S)
    except asyncio.CancelledError:
        raise
    except TimeoutError:
        unsaved(what, f"no answer from the disk within {COMMIT_TIMEOUT_S:.0f} s")
        return None
    except StorageUnavailable as exc:
        unsaved(what, str(exc))
        return None
    except Exception as exc:
        log.error("%s could not be saved: %s", what, exc)
        return None


async def refused(what: str) -> None:
    log.error("%s not saved: the database is closed", what)
