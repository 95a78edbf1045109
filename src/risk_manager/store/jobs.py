"""A write job for the writer thread (``writer.py``) and how its caller learns the outcome.

A job is a function of the writer's connection, run inside the writer's transaction. A critical job
carries an asyncio future of the caller's loop, resolved from the writer thread (thread-safe) after
COMMIT; a batched job, or a critical one whose caller was already told "unavailable", carries none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from risk_manager.store.errors import StorageUnavailable

log = logging.getLogger("risk_manager.store")

Job = Callable[[sqlite3.Connection], Any]


class Op:
    __slots__ = ("fn", "future", "loop", "critical")

    def __init__(
        self,
        fn: Job,
        future: asyncio.Future[Any] | None,
        loop: asyncio.AbstractEventLoop | None,
        critical: bool,
    ) -> None:
        self.fn = fn
        self.future = future
        self.loop = loop
        self.critical = critical


def resolve(op: Op, result: Any = None, error: BaseException | None = None) -> None:
    fut, loop = op.future, op.loop
    op.future = None
    if fut is None or loop is None:
        if error is not None and not isinstance(error, StorageUnavailable):
            log.error("database write failed: %s", error)
        return

    def settle() -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop is already closed (crash path)
        loop.call_soon_threadsafe(settle)
