"""One connected local-API client and the socket-level facts around it (loopback only, port taken)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

from risk_manager.daemon.api.limits import ApiLimits, ConnectionBudget
from risk_manager.daemon.api.protocol import SUPPORTED_VERSIONS, dumps, envelope

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN_LATER = 1013


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


def refuse_http(connection: ServerConnection, request: HttpRequest) -> HttpResponse | None:
    """The HTTP-level gate before the WebSocket handshake: browsers and wrong paths are refused."""
    # Browsers always send Origin; our own clients never do. Refusing any Origin keeps web pages
    # (including file:// pages, which send "null") away from the daemon.
    if request.headers.get("Origin") is not None:
        return connection.respond(HTTPStatus.FORBIDDEN, "Browser connections are not allowed.\n")
    if urlsplit(request.path).path != "/":
        return connection.respond(HTTPStatus.NOT_FOUND, "Not found. The API is at /.\n")
    return None


def requested_version(ws: ServerConnection) -> str | None:
    """The ``?v=`` the client asked for, if any."""
    path = ws.request.path if ws.request is not None else "/"
    values = parse_qs(urlsplit(path).query).get("v")
    return values[-1] if values else None


async def refuse_version(ws: ServerConnection, requested: str, ts: str, grace_s: float) -> None:
    """An ``error`` (``unsupported_protocol``) as the first message, then close 1008."""
    error = {
        "code": "unsupported_protocol",
        "message": f"protocol version {requested[:16]!r} is not supported; this daemon speaks "
        f"{', '.join(str(v) for v in SUPPORTED_VERSIONS)}",
        "supported": list(SUPPORTED_VERSIONS),
    }
    with contextlib.suppress(ConnectionClosed):
        await ws.send(envelope("error", 1, ts, data_json=dumps(error)))
    await close_or_abort(ws, CLOSE_POLICY, "unsupported protocol version", grace_s)


@dataclass(frozen=True)
class CloseAfterFlush:
    """Queued after a final message so the close frame follows it instead of overtaking it."""

    code: int
    reason: str


#: the kernel's send buffer per client: with the 1 MiB queue it bounds what a client that does not read
#: holds on the machine (loopback autotuning would otherwise let the kernel keep up to 4 MiB more)
SOCKET_SEND_BUFFER = 256 * 1024


def limit_socket_buffer(ws: ServerConnection) -> None:
    sock = ws.transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_SEND_BUFFER)


async def close_or_abort(ws: ServerConnection, code: int, reason: str, grace_s: float) -> None:
    """Close politely, but never wait longer than ``grace_s``: a client that does not read would
    keep ``close()`` waiting for the socket to drain forever (and its buffers with it)."""
    try:
        async with asyncio.timeout(grace_s):
            await ws.close(code, reason)
    except TimeoutError:
        ws.transport.abort()


class Client:
    """One connection: its send queue (capped in messages and in bytes), sequence numbers, request
    budget (``limits.py``) and admin session state."""

    def __init__(self, ws: ServerConnection, limits: ApiLimits) -> None:
        self.ws = ws
        self.limits = limits
        # Unbounded as a queue; bounded by ``has_room`` (messages and bytes), checked before every put.
        self.queue: asyncio.Queue[bytes | CloseAfterFlush] = asyncio.Queue()
        #: bytes queued or being written to the socket (the message ``send`` is waiting on counts)
        self.queued_bytes = 0
        self.seq = 0
        self.sender: asyncio.Task[None] | None = None
        self.in_flight: set[asyncio.Task[None]] = set()
        self.budget = ConnectionBudget(limits)
        self.session: str | None = None
        self.session_used_at = 0.0
        self.auth_failures = 0
        self.auth_retry_at = 0.0
        self.closing = False
        self.rate_limited_logged = False
        #: set when a request is answered ``rate_limited``: the reader waits this long before the next frame
        self.hold_reading_s = 0.0
        host_port = ws.remote_address
        if isinstance(host_port, tuple) and len(host_port) >= 2:
            self.peer = f"{host_port[0]}:{host_port[1]}"
        else:
            self.peer = str(host_port)
        agent = ws.request.headers.get("User-Agent") if ws.request is not None else None
        if agent:
            self.peer += f" ({agent[:80]})"

    def has_room(self, size: int) -> bool:
        if self.queue.qsize() >= self.limits.send_queue_messages:
            return False
        # A single message larger than the whole cap (a very large snapshot) still goes out when
        # nothing else is waiting; otherwise the cap holds.
        return self.queued_bytes == 0 or self.queued_bytes + size <= self.limits.send_buffer_bytes

    def put(self, data: bytes) -> None:
        self.queued_bytes += len(data)
        self.queue.put_nowait(data)

    async def send_loop(self, close_grace_s: float) -> None:
        """Write queued messages in order; the only place that waits on this client's socket."""
        ws = self.ws
        try:
            while True:
                item = await self.queue.get()
                if isinstance(item, CloseAfterFlush):
                    await close_or_abort(ws, item.code, item.reason, close_grace_s)
                    return
                try:
                    await ws.send(item, text=True)
                finally:
                    self.queued_bytes -= len(item)
        except ConnectionClosed:
            return
