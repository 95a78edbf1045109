"""The base of the service-side event sinks (Event Log, journal): daemon messages that are events
(``events.to_event``) written by the sink's own task, the last one waited for at shutdown."""

from __future__ import annotations

from risk_manager.daemon.notify import Message, QueuedSink
from risk_manager.service.events import CRASHED, ServiceEvent, to_event


class DrainingSink(QueuedSink):
    """A ``QueuedSink`` writing each message in its own task (``QueuedSink.aclose`` lets the last
    one, "stopped", finish while the daemon closes)."""

    async def handle(self, message: Message) -> None:
        await self.write(message)

    async def write(self, message: Message) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


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
