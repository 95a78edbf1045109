"""The Windows Event Log sink: source ``RiskManager`` in the Application log, ids of daemon.md §7.3.

``EventLogSink`` turns daemon messages into events (``events.to_event``) and writes them off the
loop through an ``EventLogWriter`` (pywin32's ``ReportEvent`` on Windows; a recording writer in
the Linux tests). The source is registered by ``service install`` (it needs admin rights).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from risk_manager.service import win32_constants as W
from risk_manager.service.event_sink import EventSink
from risk_manager.service.events import ERROR, INFORMATION, WARNING, ServiceEvent
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


class EventLogSink(EventSink):
    name = "eventlog"

    def __init__(self, writer: EventLogWriter) -> None:
        super().__init__()
        self.writer = writer

    async def emit(self, event: ServiceEvent) -> None:
        await asyncio.to_thread(self.writer.write, event)

    def write_now(self, event: ServiceEvent) -> None:
        self.writer.write(event)
