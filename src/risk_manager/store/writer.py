"""The single writer thread (spec/daemon.md §6.1).

It owns the only read-write connection. Every commit takes every job queued so far and runs them in
one transaction (group commit); a job that fails alone is rolled back to its savepoint and reported
to its caller, the others still commit. Critical jobs resolve their asyncio future only after COMMIT
returned, so ``await writer.call(job)`` means "on disk" (synchronous=FULL). Batched jobs
(positions, heartbeats) wait up to ``batch_window`` seconds for company, so a burst of position
events costs one fsync.

A write error that is not the job's fault (disk full, I/O, busy) is retried every second with the
whole batch; after ``give_up_after`` seconds the waiting callers get ``StorageUnavailable`` (the
daemon carries on from memory) while the thread keeps retrying the records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from risk_manager.store.errors import StorageUnavailable
from risk_manager.store.integrity import is_corruption, is_transient

log = logging.getLogger("risk_manager.store")

Job = Callable[[sqlite3.Connection], Any]


class _Op:
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


_STOP = object()


def _resolve(op: _Op, result: Any = None, error: BaseException | None = None) -> None:
    fut, loop = op.future, op.loop
    op.future = None
    if fut is None or loop is None:
        if error is not None and not isinstance(error, StorageUnavailable):
            log.error("batched database write failed: %s", error)
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


class Writer:
    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        batch_window: float = 0.2,
        retry_every: float = 1.0,
        give_up_after: float = 10.0,
        on_degraded: Callable[[bool], None] | None = None,
    ) -> None:
        self._conn = conn
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._batch_window = batch_window
        self._retry_every = retry_every
        self._give_up_after = give_up_after
        self._on_degraded = on_degraded
        self._thread = threading.Thread(target=self._run, name="risk-db-writer", daemon=True)
        self._stopping = False
        self.degraded = False
        self.corrupt = False
        self.commits = 0

    # ----- API (event loop side) --------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def post(self, fn: Job) -> None:
        """Queue a batched write (at most ``batch_window`` late); thread-safe, never blocks."""
        self._queue.put(_Op(fn, None, None, False))

    def submit(self, fn: Job) -> asyncio.Future[Any]:
        """Queue a critical write now; the future resolves with ``fn``'s result after COMMIT."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if not self._thread.is_alive() and self._thread.ident is not None:
            fut.set_exception(StorageUnavailable("the database writer has stopped"))
            return fut
        self._queue.put(_Op(fn, fut, loop, True))
        return fut

    async def call(self, fn: Job) -> Any:
        return await self.submit(fn)

    async def flush(self) -> None:
        """Wait until everything queued before this call is committed."""
        await self.call(lambda conn: None)

    def stop(self, timeout: float = 5.0) -> bool:
        """Commit what is queued, ``PRAGMA optimize``, close. Blocking: call it from a worker thread."""
        self._stopping = True
        if self._thread.ident is None:
            self._conn.close()
            return True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ----- the thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        stop = False
        try:
            while not stop:
                first = self._queue.get()
                if first is _STOP:
                    break
                batch: list[_Op] = [first]
                if not first.critical:
                    deadline = time.monotonic() + self._batch_window
                    while True:
                        left = deadline - time.monotonic()
                        if left <= 0 or self._stopping:
                            break
                        try:
                            nxt = self._queue.get(timeout=left)
                        except queue.Empty:
                            break
                        if nxt is _STOP:
                            stop = True
                            break
                        batch.append(nxt)
                        if nxt.critical:
                            break
                while not stop:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop = True
                        break
                    batch.append(nxt)
                self._commit(batch)
        except BaseException:  # pragma: no cover - a bug here must be loud
            log.critical("database writer thread died", exc_info=True)
            raise
        finally:
            self._finish()

    def _finish(self) -> None:
        # Anything still queued after stop (should be nothing) is failed, never silently dropped.
        while True:
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                break
            if op is not _STOP:
                _resolve(op, error=StorageUnavailable("the database was closed"))
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA optimize")
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    def _commit(self, batch: list[_Op]) -> None:
        conn = self._conn
        first_failure: float | None = None
        while True:
            results: list[tuple[_Op, Any, BaseException | None]] = []
            try:
                conn.execute("BEGIN IMMEDIATE")
                for op in batch:
                    conn.execute("SAVEPOINT job")
                    try:
                        value = op.fn(conn)
                    except Exception as exc:
                        if is_corruption(exc) or is_transient(exc):
                            raise
                        conn.execute("ROLLBACK TO job")
                        conn.execute("RELEASE job")
                        results.append((op, None, exc))
                    else:
                        conn.execute("RELEASE job")
                        results.append((op, value, None))
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if is_corruption(exc):
                    self.corrupt = True
                    log.critical("database corruption detected while writing: %s", exc)
                    self._set_degraded(True)
                    for op in batch:
                        _resolve(op, error=StorageUnavailable(f"database corrupt: {exc}"))
                    return
                now = time.monotonic()
                first_failure = first_failure or now
                log.error("database write failed (%s); retrying every %.0f s", exc, self._retry_every)
                if now - first_failure >= self._give_up_after:
                    self._set_degraded(True)
                    for op in batch:
                        _resolve(op, error=StorageUnavailable(f"database writes failing: {exc}"))
                    if self._stopping:
                        return
                time.sleep(self._retry_every)
                continue
            self.commits += 1
            if self.degraded:
                self._set_degraded(False)
            for op, value, error in results:
                _resolve(op, value, error)
            return

    def _set_degraded(self, value: bool) -> None:
        if self.degraded == value:
            return
        self.degraded = value
        if self._on_degraded is not None:
            try:
                self._on_degraded(value)
            except Exception:
                log.exception("storage degraded callback failed")
