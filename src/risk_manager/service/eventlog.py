"""The Windows Event Log sink: source ``RiskManager`` in the Application log, ids of daemon.md §7.3.

``EventLogSink`` turns daemon messages into events (``events.to_event``) and writes them off the
loop through an ``EventLogWriter`` (pywin32's ``ReportEvent`` on Windows; a recording writer in
the Linux tests). The source is registered by ``service install`` (it needs admin rights).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from risk_manager.daemon.notify import Message, QueuedSink
from risk_manager.service import win32_constants as W
from risk_manager.service.events import ERROR, INFORMATION, WARNING, ServiceEvent, to_event
from risk_manager.service.names import EVENT_SOURCE

EVENT_TYPES = {
    ERROR: W.EVENTLOG_ERROR_TYPE,
    WARNING: W.EVENTLOG_WARNING_TYPE,
    INFORMATION: W.EVENTLOG_INFORMATION_TYPE,
}
MAX_TEXT = 8000  # ReportEvent strings are limited to 31,839 characters; keep entries readable


class EventLogWriter(Protocol):
    def write(self, event: ServiceEvent) -> None: ...


class Win32EventLog:  # pragma: no cover - Windows only
    def __init__(self, source: str = EVENT_SOURCE) -> None:
        import win32evtlogutil

        self._report = win32evtlogutil.ReportEvent
        self._source = source

    def write(self, event: ServiceEvent) -> None:
        self._report(
            self._source, event.event_id, eventType=EVENT_TYPES[event.level], strings=[event.text[:MAX_TEXT]]
        )


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


class EventLogSink(DrainingSink):
    name = "eventlog"

    def __init__(self, writer: EventLogWriter) -> None:
        super().__init__()
        self.writer = writer
        self.crash_reported = False

    def wants(self, message: Message) -> bool:
        return to_event(message) is not None

    async def write(self, message: Message) -> None:
        event = to_event(message)
        if event is None:
            return
        if event.event_id == 1002:
            self.crash_reported = True
        await asyncio.to_thread(self.writer.write, event)

    def write_now(self, event: ServiceEvent) -> None:
        """Synchronous, after the event loop has ended (the crash record of the service host)."""
        self.writer.write(event)
