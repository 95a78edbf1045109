"""The daemon side of systemd's notify protocol, spoken directly on ``$NOTIFY_SOCKET`` (daemon.md §10.2).

- ``READY=1`` (with ``STATUS=``) when the daemon reports readiness (``DaemonStarted``: every login
  had its first attempt and the reachable accounts are protected);
- ``STATUS=2/3 accounts protected`` whenever it changes, followed (short, for ``systemctl status``) by
  which accounts are NOT PROTECTED and why, and by ``storage degraded`` with its reason:
  ``STATUS=2/3 accounts protected; NOT PROTECTED 7102: user hub silent for 30 s; storage degraded:
  disk full`` (at most two accounts named, ``+N more`` for the rest; each reason cut to 40 characters);
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
from typing import Any

from risk_manager.daemon.notify import (
    DaemonStarted,
    DaemonStopping,
    Message,
    ProtectionChanged,
    StatusChanged,
    StorageDegraded,
    StorageRecovered,
)

WATCHDOG_MAX_INTERVAL_S = 10.0
NAMED_ACCOUNTS = 2  # accounts named on the STATUS line; the rest are "+N more"
REASON_CHARS = 40


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


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def status_line(
    protected: int,
    total: int,
    unprotected: Mapping[int, str] | None = None,
    storage: str | None = None,
) -> str:
    """``STATUS=n/m accounts protected`` plus, when known, the accounts NOT PROTECTED (with their
    reasons) and degraded storage (with its reason)."""
    parts = [f"STATUS={protected}/{total} accounts protected"]
    named = sorted((unprotected or {}).items())[:NAMED_ACCOUNTS] if protected < total else []
    if named:
        more = total - protected - len(named)
        text = ", ".join(f"{account}: {_short(reason)}" for account, reason in named)
        parts.append(f"NOT PROTECTED {text}" + (f", +{more} more" if more > 0 else ""))
    if storage is not None:
        parts.append(f"storage degraded: {_short(storage)}")
    return "; ".join(parts)


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
        self._counts: tuple[int, int] | None = None
        #: account -> why it is not protected (from ProtectionChanged and status payloads)
        self._unprotected: dict[int, str] = {}
        self._storage: str | None = None  # the reason while storage is degraded

    def send(self, *lines: str) -> None:
        try:
            self._sock.sendto("\n".join(lines).encode("utf-8"), self.address)
            self.sent += 1
        except OSError:
            pass  # systemd gone or busy, or the sink already closed: nothing to do about it here

    def _line(self) -> str | None:
        if self._counts is None:
            return None
        return status_line(*self._counts, self._unprotected, self._storage)

    def _status(self) -> None:
        line = self._line()
        if line is not None and line != self._last_status:
            self._last_status = line
            self.send(line)

    def deliver(self, message: Message) -> None:
        if isinstance(message, DaemonStarted):
            self._counts = (message.protected, message.accounts)
            self._last_status = self._line()
            assert self._last_status is not None
            self.send("READY=1", self._last_status)
        elif isinstance(message, ProtectionChanged) and message.total:
            if message.account_id is not None:
                if message.state == "protected":
                    self._unprotected.pop(message.account_id, None)
                else:
                    self._unprotected[message.account_id] = message.reason or message.state
            self._counts = (message.protected, message.total)
            self._status()
        elif isinstance(message, StorageDegraded | StorageRecovered):
            self._storage = message.reason if isinstance(message, StorageDegraded) else None
            self._status()
        elif isinstance(message, StatusChanged):
            self._from_status(message.status)
            self._status()
        elif isinstance(message, DaemonStopping):
            self.send("STOPPING=1", f"STATUS=Stopping ({message.reason})")

    def _from_status(self, status: Mapping[str, Any]) -> None:
        """The daemon's ``status`` payload: counts, and (when present) who is unprotected and storage."""
        protected, total = status.get("protected"), status.get("accounts")
        if isinstance(protected, int) and isinstance(total, int):
            self._counts = (protected, total)
        listed = status.get("unprotected")
        if isinstance(listed, list):
            self._unprotected = {
                int(item["accountId"]): str(item.get("reason") or item.get("protection") or "")
                for item in listed
                if isinstance(item, Mapping) and isinstance(item.get("accountId"), int)
            }
        storage = status.get("storage")
        if isinstance(storage, Mapping) and "state" in storage:
            self._storage = None if storage.get("state") == "ok" else str(storage.get("reason") or "unknown")

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
