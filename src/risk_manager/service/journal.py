"""The journal sink: the Event Log's events as structured journal records (daemon.md §7.3).

Decision: speak journald's native protocol directly (one datagram of ``KEY=value`` fields to
``/run/systemd/journal/socket``) when that socket exists, so each record carries ``MESSAGE_ID``,
``PRIORITY``, ``SYSLOG_IDENTIFIER`` and the account; ``journalctl MESSAGE_ID=...`` finds every
"NOT PROTECTED" of a year. Without the socket (no systemd, a container) the record goes to stderr as
one line with the ``<N>`` priority prefix that journald and most log collectors understand; fields
other than the priority are lost there. No dependency (python-systemd is not needed for this).

Datagrams are sent non-blocking: when journald's queue is full the sink's own task retries for up
to a second, then drops the record (said once a minute by the notifier); the loop never waits.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import sys
from collections.abc import Callable
from pathlib import Path

from risk_manager.service.event_sink import EventSink
from risk_manager.service.events import ServiceEvent
from risk_manager.service.names import SYSLOG_IDENTIFIER

JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
RETRIES = 100
RETRY_S = 0.01


def encode_fields(fields: dict[str, str]) -> bytes:
    """journald's native format: ``KEY=value\\n``, or ``KEY\\n<le64 length><value>\\n`` for values
    holding a newline."""
    out = bytearray()
    for key, value in fields.items():
        data = value.encode("utf-8")
        if b"\n" in data:
            out += key.encode("ascii") + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode("ascii") + b"=" + data + b"\n"
    return bytes(out)


def event_fields(event: ServiceEvent) -> dict[str, str]:
    fields = {
        "MESSAGE": event.text,
        "MESSAGE_ID": event.message_id,
        "PRIORITY": str(event.priority),
        "SYSLOG_IDENTIFIER": SYSLOG_IDENTIFIER,
        "RISK_MANAGER_EVENT_ID": str(event.event_id),
    }
    if event.account_id is not None:
        fields["RISK_MANAGER_ACCOUNT"] = str(event.account_id)
    return fields


class NativeJournal:
    """Datagrams to journald's socket."""

    def __init__(self, path: Path = JOURNAL_SOCKET) -> None:
        self.path = path
        self._sock: socket.socket | None = None

    def send(self, event: ServiceEvent) -> None:
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.setblocking(False)
        self._sock.sendto(encode_fields(event_fields(event)), str(self.path))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class StderrJournal:
    """``<N>message`` lines (sd-daemon priority prefixes) on stderr."""

    def __init__(self, write: Callable[[str], object] | None = None) -> None:
        self._write = write

    def send(self, event: ServiceEvent) -> None:
        line = f"<{event.priority}>{SYSLOG_IDENTIFIER}[{event.event_id}]: {event.text}\n"
        if self._write is not None:
            self._write(line)
        else:
            sys.stderr.write(line)
            sys.stderr.flush()

    def close(self) -> None:
        pass


def default_transport() -> NativeJournal | StderrJournal:
    if os.name == "posix" and JOURNAL_SOCKET.is_socket():
        return NativeJournal()
    return StderrJournal()


class JournalSink(EventSink):
    name = "journal"

    def __init__(self, transport: NativeJournal | StderrJournal | None = None) -> None:
        super().__init__()
        self.transport = transport if transport is not None else default_transport()

    async def emit(self, event: ServiceEvent) -> None:
        if isinstance(self.transport, StderrJournal):
            await asyncio.to_thread(self.transport.send, event)
            return
        for _ in range(RETRIES):
            try:
                self.transport.send(event)
                return
            except BlockingIOError:  # journald's queue is full: give it a moment, off the loop's time
                await asyncio.sleep(RETRY_S)
        raise BlockingIOError(f"journald did not take the record within {RETRIES * RETRY_S:.0f} s")

    def write_now(self, event: ServiceEvent) -> None:
        self.transport.send(event)

    async def aclose(self) -> None:
        await super().aclose()
        self.transport.close()
