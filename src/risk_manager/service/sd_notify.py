"""The daemon side of systemd's notify protocol, spoken directly on ``$NOTIFY_SOCKET`` (daemon.md §10.2).

- ``READY=1`` (with ``STATUS=``) when the daemon reports readiness (``DaemonStarted``: every login
  had its first attempt and the reachable accounts are protected);
- ``STATUS=2/3 accounts protected`` whenever the protected count changes;
- ``WATCHDOG=1`` from a task on the event loop every ``min(10 s, WatchdogSec / 2)``: when the loop
  hangs the pings stop and systemd kills and restarts the service;
- ``STOPPING=1`` when shutdown begins.

A datagram per message, non-blocking; ``@name`` is an abstract socket. Without ``NOTIFY_SOCKET`` (not
started by systemd) ``notify_sink_from_env`` returns None and nothing is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Mapping

from risk_manager.daemon.notify import (
    DaemonStarted,
    DaemonStopping,
    Message,
    ProtectionChanged,
    StatusChanged,
)

WATCHDOG_MAX_INTERVAL_S = 10.0


def socket_address(value: str) -> str | bytes:
    """``NOTIFY_SOCKET`` as a sendto address (abstract names start with ``@``)."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def watchdog_interval(env: Mapping[str, str], pid: int) -> float:
    """Half of ``WATCHDOG_USEC`` (systemd's advice), at most 10 s (the spec's period)."""
    owner = env.get("WATCHDOG_PID", "").strip()
    usec = env.get("WATCHDOG_USEC", "").strip()
    if owner and owner != str(pid):
        return WATCHDOG_MAX_INTERVAL_S
    if usec.isdigit() and int(usec) > 0:
        return min(WATCHDOG_MAX_INTERVAL_S, int(usec) / 2_000_000)
    return WATCHDOG_MAX_INTERVAL_S


def status_line(protected: int, total: int) -> str:
    return f"STATUS={protected}/{total} accounts protected"


class SystemdNotifySink:
    """A ``BackgroundSink``: its task sends the watchdog pings."""

    name = "systemd-notify"

    def __init__(self, address: str, *, watchdog_s: float = WATCHDOG_MAX_INTERVAL_S) -> None:
        self.address = socket_address(address)
        self.watchdog_s = watchdog_s
        self.sent: int = 0
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._task: asyncio.Task[None] | None = None
        self._last_status: str | None = None

    def send(self, *lines: str) -> None:
        try:
            self._sock.sendto("\n".join(lines).encode("utf-8"), self.address)
            self.sent += 1
        except OSError:
            pass  # systemd gone or busy, or the sink already closed: nothing to do about it here

    def _status(self, protected: int, total: int) -> None:
        line = status_line(protected, total)
        if line != self._last_status:
            self._last_status = line
            self.send(line)

    def deliver(self, message: Message) -> None:
        if isinstance(message, DaemonStarted):
            self._last_status = status_line(message.protected, message.accounts)
            self.send("READY=1", self._last_status)
        elif isinstance(message, ProtectionChanged) and message.total:
            self._status(message.protected, message.total)
        elif isinstance(message, StatusChanged):
            status = message.status
            protected, total = status.get("protected"), status.get("accounts")
            if isinstance(protected, int) and isinstance(total, int):
                self._status(protected, total)
        elif isinstance(message, DaemonStopping):
            self.send("STOPPING=1", f"STATUS=Stopping ({message.reason})")

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watchdog(), name="systemd-watchdog")

    async def _watchdog(self) -> None:
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_s)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._sock.close()


def notify_sink_from_env(env: Mapping[str, str] | None = None) -> SystemdNotifySink | None:
    env = os.environ if env is None else env
    address = env.get("NOTIFY_SOCKET", "").strip()
    if not address:
        return None
    return SystemdNotifySink(address, watchdog_s=watchdog_interval(env, os.getpid()))
