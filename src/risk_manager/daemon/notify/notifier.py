"""One fan-out point for everything the daemon tells the world (freqtrade's ``send_msg`` idea).

``Notifier.publish`` hands a message to every subscribed sink, in subscription order, on the event
loop's thread. A sink's ``deliver`` must not block or await: a sink that does I/O queues the message
and works in its own task (``QueuedSink``). A sink that raises is logged (once a minute at most) and
skipped; it never affects enforcement or the other sinks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from risk_manager.daemon.notify.messages import Message

log = logging.getLogger("risk_manager.daemon.notify")

SINK_QUEUE_SIZE = 100  # spec/daemon.md §7.4: each sink has its own bounded queue
COMPLAIN_EVERY_S = 60.0


class Sink(Protocol):
    """Receives every published message (ignoring the kinds it does not handle)."""

    name: str

    def deliver(self, message: Message) -> None: ...


@runtime_checkable
class BackgroundSink(Sink, Protocol):
    """A sink with its own task: started with the notifier, closed at shutdown (bounded)."""

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class _Complainer:
    """At most one warning per minute per sink, so a broken sink cannot flood the log."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._last: dict[str, float] = {}
        self._monotonic = monotonic

    def __call__(self, sink: str, what: str, exc_info: bool = False) -> None:
        now = self._monotonic()
        if now - self._last.get(sink, -COMPLAIN_EVERY_S) >= COMPLAIN_EVERY_S:
            self._last[sink] = now
            log.warning("notification sink %s: %s", sink, what, exc_info=exc_info)


class Notifier:
    def __init__(self) -> None:
        self._sinks: list[Sink] = []
        self._complain = _Complainer()
        self._started = False

    @property
    def sinks(self) -> tuple[Sink, ...]:
        return tuple(self._sinks)

    def subscribe(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def unsubscribe(self, sink: Sink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def publish(self, message: Message) -> None:
        for sink in self._sinks:
            try:
                sink.deliver(message)
            except Exception:
                self._complain(sink.name, f"failed on {type(message).__name__}", exc_info=True)

    async def start(self) -> None:
        self._started = True
        for sink in list(self._sinks):
            if isinstance(sink, BackgroundSink):
                try:
                    await sink.start()
                except Exception:
                    self._complain(sink.name, "could not start", exc_info=True)

    async def aclose(self, timeout: float = 1.0) -> None:
        """Close background sinks (each given ``timeout`` at most, in parallel)."""
        closing = [s.aclose() for s in self._sinks if isinstance(s, BackgroundSink)]
        if not closing:
            return
        results = await asyncio.gather(
            *(asyncio.wait_for(c, timeout) for c in closing), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, TimeoutError):
                log.warning("a notification sink did not close cleanly: %s", result)


class QueuedSink:
    """Base for sinks that do I/O: a bounded queue (full -> the message is dropped, and said once a
    minute) drained by one task calling ``handle``; a failing ``handle`` drops that message only."""

    name = "queued"

    def __init__(self, maxsize: int = SINK_QUEUE_SIZE) -> None:
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=maxsize)
        self._task: asyncio.Task[None] | None = None
        self._complain = _Complainer()
        self._busy = False
        self.dropped = 0

    def wants(self, message: Message) -> bool:
        """Filter on the loop thread: only wanted messages take a queue slot."""
        return True

    def deliver(self, message: Message) -> None:
        if not self.wants(message):
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1
            self._complain(self.name, f"queue full; {self.dropped} message(s) dropped so far")

    async def handle(self, message: Message) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain(), name=f"sink-{self.name}")

    async def _drain(self) -> None:
        while True:
            message = await self._queue.get()
            self._busy = True
            try:
                await self.handle(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._complain(self.name, f"could not deliver {type(message).__name__}", exc_info=True)
            finally:
                self._busy = False

    async def aclose(self) -> None:
        """Let what is queued, and the message being handled, finish (the notifier bounds how long:
        the last message, e.g. "stopped", is written while the daemon closes), then stop."""
        if self._task is None:
            return
        try:
            while (self._busy or not self._queue.empty()) and not self._task.done():
                await asyncio.sleep(0.005)
        finally:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
