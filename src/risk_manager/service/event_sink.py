"""The base of the service-side event sinks (Event Log, journal): daemon messages that are events
(``events.to_event``) written by the sink's own task, the last one waited for at shutdown."""

from __future__ import annotations

import asyncio

from risk_manager.daemon.notify import Message, QueuedSink
from risk_manager.service.events import CRASHED, ServiceEvent, to_event


class DrainingSink(QueuedSink):
    """A ``QueuedSink`` whose ``aclose`` also waits for the message being written (the last event,
    "stopped", is written while the daemon closes; cancelling it mid-write would lose it)."""

    def __init__(self) -> None:
        super().__init__()
        self._busy = 0

    async def handle(self, message: Message) -> None:
        self._busy += 1
        try:
            await self.write(message)
        finally:
            self._busy -= 1

    async def write(self, message: Message) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def aclose(self) -> None:
        task = self._task
        while task is not None and not task.done() and (self._busy or not self._queue.empty()):
            await asyncio.sleep(0.005)
        await super().aclose()


class EventSink(DrainingSink):
    """Turns messages into ``ServiceEvent``s; subclasses ``emit`` them (async) or ``write_now``
    (synchronously, after the loop has ended: the crash record of the service entry)."""

    def __init__(self) -> None:
        super().__init__()
        self.crash_reported = False

    def wants(self, message: Message) -> bool:
        return to_event(message) is not None

    async def write(self, message: Message) -> None:
        event = to_event(message)
        if event is None:
            return
        if event.event_id == CRASHED:
            self.crash_reported = True
        await self.emit(event)

    async def emit(self, event: ServiceEvent) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def write_now(self, event: ServiceEvent) -> None:  # pragma: no cover - overridden
        raise NotImplementedError
