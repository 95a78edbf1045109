"""One connected local-API client and the socket-level facts around it (loopback only, port taken)."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection


class PortInUseError(RuntimeError):
    """The API port is taken; the message says what to do about it."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"Local API port {host}:{port} is already in use (another risk-manager daemon or another "
            "program). Stop that program or change api.port in daemon.yaml."
        )
        self.host = host
        self.port = port


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_port_in_use(exc: OSError) -> bool:
    if exc.errno == errno.EADDRINUSE:
        return True
    # Windows: WSAEADDRINUSE, and WSAEACCES when another socket holds the port exclusively.
    return getattr(exc, "winerror", None) in (10048, 10013)


@dataclass(frozen=True)
class CloseAfterFlush:
    """Queued after a final message so the close frame follows it instead of overtaking it."""

    code: int
    reason: str


class Client:
    def __init__(self, ws: ServerConnection, queue_size: int) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str | CloseAfterFlush] = asyncio.Queue(maxsize=queue_size)
        self.seq = 0
        self.sender: asyncio.Task[None] | None = None
        self.in_flight: set[asyncio.Task[None]] = set()
        self.session: str | None = None
        self.session_used_at = 0.0
        self.auth_failures = 0
        self.closing = False
        host_port = ws.remote_address
        if isinstance(host_port, tuple) and len(host_port) >= 2:
            self.peer = f"{host_port[0]}:{host_port[1]}"
        else:
            self.peer = str(host_port)
        agent = ws.request.headers.get("User-Agent") if ws.request is not None else None
        if agent:
            self.peer += f" ({agent[:80]})"
