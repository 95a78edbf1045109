"""A thread of its own for blocking notification I/O (Apprise sends with ``requests`` and ``smtplib``).

Why not ``asyncio.to_thread``: the default executor is shared with the store's reads and the config
reload; a notification endpoint that hangs for its socket timeouts must never hold those threads.
Why not a ``ThreadPoolExecutor``: its threads are joined at interpreter exit, so a hanging send would
hold up the process's end. This is one daemon thread per sink, running calls in order; the awaiting
side only ever waits on a future.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop | None, "asyncio.Future[Any] | None"]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return  # the caller stopped waiting (cancelled at shutdown)
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class BlockingWorker:
    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the worker thread; this coroutine only waits (cancellable)."""
        self.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, loop, future))
        return await future

    def post(self, fn: Callable[[], object]) -> None:
        """Queue ``fn()`` without waiting for it (its result and errors are dropped)."""
        self.start()
        self._jobs.put((fn, None, None))

    def stop(self) -> None:
        """The thread ends after the call it is running, if any (it is never waited for)."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, loop, future = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn()
            except BaseException as exc:  # handed to the awaiting side as it is
                error = exc
            if loop is None or future is None:
                continue  # posted: nobody waits
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:
                pass  # the loop is closed: nobody is waiting any more
