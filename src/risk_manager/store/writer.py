"""The single writer thread (spec/daemon.md §6.1, §6.6).

It owns the only read-write connection. Every commit takes every job queued so far and runs them in
one transaction (group commit); a job that fails alone is rolled back to its savepoint and reported
to its caller, the others still commit. Critical jobs resolve their asyncio future only after COMMIT
returned, so ``await writer.call(job)`` means "on disk" (synchronous=FULL). Batched jobs
(positions, heartbeats) wait up to ``batch_window`` seconds for company, so a burst of position
events costs one fsync.

Nothing here may stall the daemon (issue 8 §1):

* The queue is bounded (``queue_limit``). ``submit`` and ``post`` never block: a full queue fails the
  write at once and counts it as lost.
* A storage failure (disk full, I/O error, read-only or vanished file system, busy) keeps the batch,
  in order, in a bounded backlog (``backlog.py``) retried every ``retry_every`` seconds. After
  ``give_up_after`` seconds of failure, or of a write that does not return (``stalled``), storage is
  *degraded*: waiting callers get ``StorageUnavailable``, and every new critical write fails fast at
  ``submit`` while its job joins the backlog, to be written when the disk is back.
* Corruption met while writing (or reported by a reader, ``request_replace``) is confirmed and the
  file replaced through ``reopen`` (spec §6.6); the batch then commits to the fresh database.

``events`` (called on this thread) hears about degradation, recovery and replacement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from risk_manager.store.backlog import Backlog
from risk_manager.store.errors import StorageUnavailable
from risk_manager.store.integrity import is_corruption, is_storage_failure
from risk_manager.store.jobs import Job, Op, resolve

log = logging.getLogger("risk_manager.store")

#: closes ``conn``, confirms the damage, moves the file aside and opens a fresh database; returns the
#: new connection and where the damaged file went (None: the file was sound and was only reopened)
Reopen = Callable[[sqlite3.Connection, str], tuple[sqlite3.Connection, Path | None]]

QUEUE_LIMIT = 20_000  # jobs waiting for the thread (a commit takes them all at once)
BACKLOG_LIMIT = 20_000  # jobs kept while storage fails (~1 KB each)
CHUNK = 2_000  # jobs per transaction when a backlog is written


class WriterEvents(Protocol):
    def degraded(self, reason: str) -> None: ...

    def recovered(self, written: int, lost: int) -> None: ...

    def replaced(self, moved_to: Path, problem: str) -> None: ...


_STOP = object()
_WAKE = object()  # a replace request: look at the flags now


class Writer:
    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        batch_window: float = 0.2,
        retry_every: float = 1.0,
        give_up_after: float = 10.0,
        queue_limit: int = QUEUE_LIMIT,
        backlog_limit: int = BACKLOG_LIMIT,
        events: WriterEvents | None = None,
        reopen: Reopen | None = None,
    ) -> None:
        self._conn = conn
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_limit)
        self._batch_window = batch_window
        self._retry_every = retry_every
        self._give_up_after = give_up_after
        self._backlog = Backlog(backlog_limit, self._count_lost)
        self._events = events
        self._reopen = reopen
        self._thread = threading.Thread(target=self._run, name="risk-db-writer", daemon=True)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._replace_problem: str | None = None
        self._failing_since: float | None = None
        self._attempt_since: float | None = None
        #: storage is degraded (writes failing or hanging for ``give_up_after``); read on any thread
        self.degraded = False
        self.reason: str | None = None
        self.corrupt = False
        self.commits = 0
        self.lost = 0  # records dropped since storage was last healthy

    # ----- API (event loop side) --------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def backlog(self) -> int:
        """Records waiting for the disk (backlog plus queue; approximate, read on any thread)."""
        return len(self._backlog) + self._queue.qsize()

    def post(self, fn: Job) -> None:
        """Queue a batched write (at most ``batch_window`` late); thread-safe, never blocks."""
        try:
            self._queue.put_nowait(Op(fn, None, None, False))
        except queue.Full:
            self._count_lost("the write queue is full")

    def submit(self, fn: Job) -> asyncio.Future[Any]:
        """Queue a critical write now; the future resolves with ``fn``'s result after COMMIT, or fails
        with ``StorageUnavailable`` at once while storage is degraded (the job is still kept)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if not self._thread.is_alive() and self._thread.ident is not None:
            fut.set_exception(StorageUnavailable("the database writer has stopped"))
            return fut
        op = Op(fn, fut, loop, True)
        if self.degraded:
            fut.set_exception(StorageUnavailable(f"storage degraded: {self.reason}"))
            op.future = None  # kept only to be written when the disk is back
        try:
            self._queue.put_nowait(op)
        except queue.Full:
            self._count_lost("the write queue is full")
            if not fut.done():
                fut.set_exception(StorageUnavailable("the database write queue is full"))
        return fut

    async def call(self, fn: Job) -> Any:
        return await self.submit(fn)

    async def flush(self) -> None:
        """Wait until everything queued before this call is committed."""
        await self.call(lambda conn: None)

    def request_replace(self, problem: str) -> None:
        """A reader met corruption: confirm it and replace the file (on the writer thread)."""
        self._replace_problem = problem
        self._wake.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_WAKE)

    def stalled(self, now: float | None = None) -> bool:
        """Called by a watchdog on the loop: a write that has not returned for ``give_up_after``
        seconds (a hanging disk) degrades storage even though no error came back."""
        since = self._attempt_since
        now = time.monotonic() if now is None else now
        if since is not None and now - since >= self._give_up_after and not self.degraded:
            self._degrade(f"database writes have not completed for {now - since:.0f} s", on_thread=False)
            return True
        return False

    def stop(self, timeout: float = 5.0) -> bool:
        """Commit what is queued, ``PRAGMA optimize``, close. Blocking: call it from a worker thread."""
        self._stopping = True
        self._wake.set()
        if self._thread.ident is None:
            self._conn.close()
            return True
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ----- the thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                if self._replace_problem is not None:
                    self._replace(self._replace_problem, confirm=True)
                if self._backlog:
                    if not self._retry_backlog():
                        break
                    continue
                batch, stop = self._next_batch()
                if batch:
                    self._commit(batch)
                if stop:
                    break
        except BaseException:  # pragma: no cover - a bug here must be loud
            log.critical("database writer thread died", exc_info=True)
            raise
        finally:
            self._finish()

    def _next_batch(self) -> tuple[list[Op], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        if first is _WAKE:
            return [], False
        batch: list[Op] = [first]
        if not first.critical:
            deadline = time.monotonic() + self._batch_window
            while not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    nxt = self._queue.get(timeout=left)
                except queue.Empty:
                    break
                if nxt is _STOP:
                    return batch, True
                if nxt is _WAKE:
                    break
                batch.append(nxt)
                if nxt.critical:
                    break
        stop = self._drain(batch)
        return batch, stop

    def _drain(self, into: list[Op] | deque[Op]) -> bool:
        """Move everything queued now into ``into``; True when the stop marker was among it."""
        while True:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                return False
            if nxt is _STOP:
                return True
            if nxt is not _WAKE:
                into.append(nxt)

    def _finish(self) -> None:
        left = len(self._backlog)
        if left:
            log.error("%d database records could not be written before the writer stopped", left)
        for op in self._backlog:
            resolve(op, error=StorageUnavailable("the database was closed"))
        self._backlog.clear()
        # Anything still queued after stop (should be nothing) is failed, never silently dropped.
        while True:
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(op, Op):
                resolve(op, error=StorageUnavailable("the database was closed"))
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA optimize")
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    # ----- committing ---------------------------------------------------------------------------------
    def _transaction(self, batch: list[Op]) -> list[tuple[Op, Any, BaseException | None]]:
        """One transaction for ``batch``; raises a storage failure or corruption for the whole batch."""
        conn = self._conn
        results: list[tuple[Op, Any, BaseException | None]] = []
        self._attempt_since = time.monotonic()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in batch:
                conn.execute("SAVEPOINT job")
                try:
                    value = op.fn(conn)
                except Exception as exc:
                    if is_corruption(exc) or is_storage_failure(exc):
                        raise
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    results.append((op, None, exc))
                else:
                    conn.execute("RELEASE job")
                    results.append((op, value, None))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        finally:
            self._attempt_since = None
        self.commits += 1
        return results

    def _commit(self, batch: list[Op], *, retried: bool = False) -> bool:
        """Commit a fresh batch; on a storage failure the batch becomes the backlog. True when done."""
        try:
            results = self._transaction(batch)
        except sqlite3.Error as exc:
            if is_corruption(exc) and not retried and self._replace(str(exc), confirm=False):
                return self._commit(batch, retried=True)
            return self._keep(batch, exc)
        for op, value, error in results:
            resolve(op, value, error)
        if self.degraded:  # a write that hung (see ``stalled``) came back after all
            self._recovered(len(batch))
        return True

    def _keep(self, batch: list[Op], exc: BaseException) -> bool:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.error("database write failed (%s); retrying every %.0f s", exc, self._retry_every)
        self.reason = _describe(exc)
        for op in batch:
            self._append(op)
        return False

    def _append(self, op: Op) -> None:
        if self.degraded and op.future is not None:
            resolve(op, error=StorageUnavailable(f"storage degraded: {self.reason}"))
        self._backlog.append(op)

    def _count_lost(self, why: str) -> None:
        with self._lock:
            self.lost += 1
            first = self.lost == 1
        if first:
            log.error("database records are being dropped: %s (counted; re-written from memory later)", why)

    def _retry_backlog(self) -> bool:
        """Wait ``retry_every``, then try to write the backlog. False when the writer must stop."""
        self._wake.wait(self._retry_every)
        self._wake.clear()
        stop = self._drain_backlog()
        failing_since = self._failing_since or time.monotonic()
        if not self.degraded and time.monotonic() - failing_since >= self._give_up_after:
            self._degrade(self.reason or "database writes are failing")
        written, replaced = 0, False
        if self.corrupt:  # an earlier replacement failed: try again before writing anything
            if not self._replace(self.reason or "database corrupt", confirm=False):
                return not (stop or self._stopping)
            replaced = True
        while self._backlog:
            chunk = self._backlog.head(CHUNK)
            try:
                results = self._transaction(chunk)
            except sqlite3.Error as exc:
                if is_corruption(exc) and not replaced and self._replace(str(exc), confirm=False):
                    replaced = True
                    continue
                self.reason = _describe(exc)
                break
            self._backlog.pop(len(chunk))
            for op, value, error in results:
                resolve(op, value, error)
            written += len(chunk)
        if not self._backlog:
            self._recovered(written)
        elif stop or self._stopping:
            return False
        return not stop

    def _drain_backlog(self) -> bool:
        pending: list[Op] = []
        stop = self._drain(pending)
        for op in pending:
            self._append(op)
        return stop

    # ----- health --------------------------------------------------------------------------------------
    def _degrade(self, reason: str, *, on_thread: bool = True) -> None:
        with self._lock:
            if self.degraded:
                return
            self.reason = reason
            self.degraded = True
        log.error("database writes given up for now (%s); the records are kept and retried", reason)
        self._tell("degraded", reason)  # first: a caller told "unavailable" already sees the state
        if on_thread:  # the backlog belongs to the writer thread
            for op in self._backlog:
                if op.future is not None:
                    resolve(op, error=StorageUnavailable(f"storage degraded: {reason}"))

    def _recovered(self, written: int) -> None:
        self._failing_since = None
        with self._lock:
            was, lost = self.degraded, self.lost
            self.degraded = False
            self.corrupt = False
            self.reason = None
            self.lost = 0
        if was or lost:
            log.info(
                "database writes succeed again: %d held records written%s",
                written,
                f", {lost} dropped (re-written from memory)" if lost else "",
            )
            self._tell("recovered", written, lost)

    def _replace(self, problem: str, *, confirm: bool) -> bool:
        """Corruption: move the file aside and continue on a fresh database. True when replaced (or
        when a reader's report turned out to be a sound file, reopened)."""
        self._replace_problem = None
        if self._reopen is None:
            self.corrupt = True
            self._degrade(f"database corrupt: {problem}")
            return False
        log.critical("database corruption detected while running: %s", problem)
        try:
            conn, moved = self._reopen(self._conn, problem)
        except Exception as exc:
            self.corrupt = True
            log.critical("the corrupt database could not be replaced: %s", exc)
            self._degrade(f"database corrupt and not replaced: {exc}")
            return False
        self._conn = conn
        self.corrupt = False
        if moved is not None:
            self._tell("replaced", moved, problem)
        elif not confirm:
            log.warning("the database file checks out sound; the connection was reopened")
        return True

    def _tell(self, what: str, *args: Any) -> None:
        if self._events is None:
            return
        try:
            getattr(self._events, what)(*args)
        except Exception:
            log.exception("storage %s callback failed", what)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"database writes failing: {text}"
