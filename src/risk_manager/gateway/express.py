"""The express lane: a kept-open HTTP/1.1 connection of a REST session, reserved for enforcement.

Why it exists: on the breach path, aiohttp's request machinery (URL and header objects, the
connection pool, the request object and its body writer) took ~230 us at p50 between our call and
the bytes on the socket, run cold after every quiet spell: the largest stage the daemon added to a
breach (docs/performance.md, fourth round). Here an enforcement request is one formatted string and
one ``transport.write``, synchronously inside the call; the answer is parsed by h11 when it comes,
off the breach path.

The lane never holds a request back: only an idle, open, recently used connection takes one
(``ready``). A second enforcement request while one is in flight, a lane not open yet or lost, and
every routine call go through aiohttp exactly as before. The connection is opened in the background
after the session's first request, again after it is lost (at most one attempt per
``RETRY_S`` after a failure), and replaced before a server would drop it for being idle
(``FRESH_S``), so a breach after a quiet hour still finds it open. Nothing is sent on it but our
own requests: keeping it fresh costs a connect, never a request of the REST budget.

A request that gets no complete answer (connection lost, timeout, a garbled answer) is never
repeated here: the session reports it like aiohttp's failures, and for a money-moving call the
executor verifies the broker's state before anything else (spec/daemon.md §4).
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections.abc import Mapping

import h11
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from risk_manager import __version__

log = logging.getLogger("risk_manager.gateway.express")

#: A connection unused for this long is replaced (servers commonly drop idle ones after 60 s or more).
FRESH_S = 30.0
#: How often the lane checks that it is open and fresh.
CHECK_EVERY_S = 5.0
#: After a failed connect, or a connection that ended young, the next attempt waits this long.
RETRY_S = 5.0
#: A connection the server ends sooner than this after opening, without an answer, counts as a
#: failed connect (a server or proxy that closes at once must not be reconnected in a tight loop).
YOUNG_S = 1.0
MAX_ANSWER = 4 * 1024 * 1024  # bytes of an answer body; larger is treated as a broken answer

#: The lane says so in its User-Agent: a broker's logs (and the simulator's journal) tell the paths apart.
USER_AGENT = f"risk-manager/{__version__} (express)"
# A header value that cannot break out of its line (the token comes from the server).
_SAFE_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


class LaneFailed(Exception):
    """The request got no complete answer on the lane (the session maps it to ConnectionFailed)."""


class _Connection(asyncio.Protocol):
    """One open connection: writes our requests, parses the answers with h11."""

    def __init__(self, lane: ExpressLane) -> None:
        self._lane = lane
        self.transport: asyncio.Transport | None = None
        self.parser = h11.Connection(h11.CLIENT, max_incomplete_event_size=64 * 1024)
        self.waiter: asyncio.Future[tuple[int, CIMultiDictProxy[str], bytes]] | None = None
        self.closed = False
        self.dropped = False  # closed by us (a failed answer, a timeout), not by the server
        self.answers = 0
        self.opened_at = time.monotonic()
        self.idle_since = self.opened_at
        self._status = 0
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._body = bytearray()
        self._sent: tuple[str, str, int] | None = None

    # ----- asyncio.Protocol ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            self.close()  # bytes nobody asked for: this connection cannot be trusted any more
            return
        try:
            self._tell_parser()
            self.parser.receive_data(data)
            while True:
                event = self.parser.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return
                if isinstance(event, h11.Response):
                    self._status = event.status_code
                    for name, value in event.headers:
                        self._headers.add(name.decode("latin-1"), value.decode("latin-1"))
                elif isinstance(event, h11.Data):
                    self._body += event.data
                    if len(self._body) > MAX_ANSWER:
                        self._fail(f"answer larger than {MAX_ANSWER} bytes")
                        return
                elif isinstance(event, h11.EndOfMessage):
                    self._answered()
                    return
                elif isinstance(event, h11.ConnectionClosed):
                    self._fail("connection closed before the answer was complete")
                    return
        except h11.ProtocolError as exc:
            self._fail(f"not a valid HTTP answer ({exc})")

    def eof_received(self) -> bool:
        self.closed = True  # the server's doing, not ours
        self._fail("connection closed by the server")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail("connection lost")
        self._lane.lost(self)

    # ----- requests -----------------------------------------------------------------------------------
    def write(self, request: bytes, method: str, target: str, length: int) -> None:
        """Put ``request`` on the wire now. The parser is told what was sent only when the answer
        starts to arrive (h11 pairs an answer with its request; our own serialisation of the request
        costs ~1 us where h11's costs ~27 us, and neither belongs between a breach and its request)."""
        assert self.transport is not None
        self.transport.write(request)
        self.waiter = asyncio.get_running_loop().create_future()
        self._sent = (method, target, length)

    def _tell_parser(self) -> None:
        sent, self._sent = self._sent, None
        if sent is None:
            return
        method, target, length = sent
        parser = self.parser
        parser.send(h11.Request(method=method, target=target, headers=[("Host", "-"), ("Content-Length", str(length))]))
        if length:
            parser.send(h11.Data(data=b"\0" * length))
        parser.send(h11.EndOfMessage())

    def _answered(self) -> None:
        waiter, self.waiter = self.waiter, None
        answer = (self._status, CIMultiDictProxy(self._headers), bytes(self._body))
        self._status, self._headers, self._body = 0, CIMultiDict(), bytearray()
        self.answers += 1
        if self._lane.current(self) and self.parser.our_state is h11.DONE and self.parser.their_state is h11.DONE:
            self.parser.start_next_cycle()
            self.idle_since = time.monotonic()
        else:
            self.close()  # the server ends it after this answer (Connection: close), or it was replaced
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def _fail(self, why: str) -> None:
        waiter, self.waiter = self.waiter, None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(LaneFailed(why))

    def close(self) -> None:
        if not self.closed:
            self.dropped = True
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class ExpressLane:
    """The lane of one REST session (``GatewaySession`` owns it: ``warm`` after each request,
    ``ready`` and ``send`` for enforcement calls, ``aclose`` at the end)."""

    def __init__(self, api_url: str, connect_timeout_s: float, tls: ssl.SSLContext | None = None) -> None:
        url = URL(api_url)
        self._usable = url.scheme in ("http", "https") and bool(url.raw_host)
        self._tls = url.scheme == "https"
        host = url.raw_host or ""
        self._host = host
        self._port = url.port or (443 if self._tls else 80)
        shown = f"[{host}]" if ":" in host else host
        self._host_header = shown if url.is_default_port() else f"{shown}:{self._port}"
        self._prefix = url.raw_path.rstrip("/")
        self._connect_timeout_s = connect_timeout_s
        self._conn: _Connection | None = None
        self._opening: asyncio.Task[None] | None = None
        self._checker: asyncio.TimerHandle | None = None
        self._next_try = 0.0
        self._ssl = tls  # None: the default trust store, loaded at the first connect
        self._closed = False
        self.connects = 0  # counters for tests and the status view
        self.requests = 0

    # ----- the breach path ----------------------------------------------------------------------------
    def ready(self) -> _Connection | None:
        """An open, idle, fresh connection to send on now, or None (then aiohttp takes the call)."""
        conn = self._conn
        if conn is None or conn.closed or conn.waiter is not None:
            return None
        if conn.transport is None or conn.transport.is_closing():
            return None
        if time.monotonic() - conn.idle_since > FRESH_S:
            return None
        return conn

    def send(
        self, conn: _Connection, method: str, path: str, data: bytes, headers: Mapping[str, str]
    ) -> asyncio.Future[tuple[int, CIMultiDictProxy[str], bytes]] | None:
        """Write the request on ``conn`` at once; the future gives (status, headers, body). None when
        nothing was written (a header value not safe on the wire as it is, or the write failed): the
        caller uses aiohttp."""
        lines = [f"{method} {self._prefix}{path} HTTP/1.1\r\nHost: {self._host_header}\r\n"]
        for name, value in headers.items():
            if _SAFE_VALUE.fullmatch(value) is None:
                return None
            lines.append(f"{name}: {value}\r\n")
        lines.append(
            f"Accept: application/json\r\nUser-Agent: {USER_AGENT}\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        try:
            conn.write("".join(lines).encode("latin-1") + data, method, self._prefix + path, len(data))
        except (OSError, RuntimeError) as exc:  # not written: aiohttp may still send it, on a new connection
            log.warning("express lane to %s: write failed (%s)", self._host_header, type(exc).__name__)
            conn.close()
            return None
        self.requests += 1
        waiter = conn.waiter
        assert waiter is not None
        return waiter

    @staticmethod
    def drop(conn: _Connection) -> None:
        """A request on ``conn`` timed out: its answer may still come, so the connection is closed."""
        conn.close()

    # ----- keeping it open ----------------------------------------------------------------------------
    def warm(self) -> None:
        """Open (or replace) the connection in the background when it is missing, lost or stale."""
        if self._closed or not self._usable:
            return
        loop = asyncio.get_running_loop()
        if self._checker is None:  # the periodic check lives as long as the lane (a connect in flight too)
            self._checker = loop.call_later(CHECK_EVERY_S, self._check)
        if self._opening is not None:
            return
        conn = self._conn
        now = time.monotonic()
        if conn is not None and not conn.closed and (conn.waiter is not None or now - conn.idle_since <= FRESH_S / 2):
            return
        if now < self._next_try:
            return
        self._opening = loop.create_task(self._open(), name="express-lane-connect")

    def _check(self) -> None:
        self._checker = None
        self.warm()  # which schedules the next check (a closed lane does nothing)

    def current(self, conn: _Connection) -> bool:
        return conn is self._conn

    def lost(self, conn: _Connection) -> None:
        if conn is not self._conn:
            return
        self._conn = None
        if not conn.dropped and not conn.answers and time.monotonic() - conn.opened_at < YOUNG_S:
            self._next_try = time.monotonic() + RETRY_S
        if not self._closed:
            delay = max(0.0, self._next_try - time.monotonic())
            asyncio.get_running_loop().call_later(delay, self.warm)

    def _ssl_context(self) -> ssl.SSLContext | None:
        """The default trust store, loaded once (a connect every 15-20 s must not reload it)."""
        if self._tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            context = self._ssl_context()
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(self),
                    self._host,
                    self._port,
                    ssl=context,
                    server_hostname=self._host if self._tls else None,
                ),
                self._connect_timeout_s,
            )
        except Exception as exc:  # refused, unreachable, TLS, anything: aiohttp carries the calls meanwhile
            self._next_try = time.monotonic() + RETRY_S
            log.debug("express lane to %s: connect failed (%s)", self._host_header, type(exc).__name__)
            return
        finally:
            self._opening = None
        if self._closed:
            conn.close()
            return
        old, self._conn = self._conn, conn
        self.connects += 1
        if old is not None and old.waiter is None:
            old.close()  # a request still waiting on the old one keeps it until its answer

    async def aclose(self) -> None:
        self._closed = True
        if self._checker is not None:
            self._checker.cancel()
            self._checker = None
        opening = self._opening
        if opening is not None:
            opening.cancel()
            await asyncio.gather(opening, return_exceptions=True)
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
