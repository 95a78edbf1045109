"""The daemon's local WebSocket API server (spec/daemon.md §9).

Dashboards and the admin console connect to ``ws://127.0.0.1:8765/``. The server owns only the
transport: client send queues, per-connection sequence numbers, request dispatch and admin sessions.
Every piece of state comes from an ``ApiProvider`` (the daemon), so the server can be started and
tested on its own.

The server never blocks the engine (§1): ``push`` only renders the message and puts it on each
client's bounded queue; a per-client sender task does the socket writes, and a client whose queue
is full is dropped (close 1008) rather than waited for. All methods must be called on the event
loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

from risk_manager.daemon.api.admin import SESSION_IDLE_S, AdminDesk, CloseAfterAnswer, audit_action
from risk_manager.daemon.api.connection import (
    Client,
    CloseAfterFlush,
    PortInUseError,
    is_loopback_host,
    is_port_in_use,
)
from risk_manager.daemon.api.interface import ApiProvider
from risk_manager.daemon.api.password import AdminPasswordChecker
from risk_manager.daemon.api.protocol import (
    ADMIN_OPS,
    HISTORY_OPS,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    LocalApiError,
    Request,
    RequestError,
    dumps,
    envelope,
    format_ts,
    is_int,
    parse_request,
)

log = logging.getLogger(__name__)
# websockets logs every frame at DEBUG, and an `auth` frame carries the admin password: its logger
# is pinned at INFO so raising the daemon's log level can never write frames to a log file.
_ws_log = logging.getLogger(__name__ + ".ws")
_ws_log.setLevel(logging.INFO)

DEFAULT_PORT = 8765
MAX_CLIENTS = 32
SEND_QUEUE_SIZE = 1000
HEARTBEAT_INTERVAL_S = 5.0
MAX_IN_FLIGHT = 10
MAX_REQUEST_BYTES = 64 * 1024

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN_LATER = 1013


class LocalApi:
    """WebSocket server for dashboards and the admin console (one per daemon)."""

    def __init__(
        self,
        host: str,
        port: int,
        provider: ApiProvider,
        *,
        version: str,
        mode: str,
        heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
        max_clients: int = MAX_CLIENTS,
        send_queue_size: int = SEND_QUEUE_SIZE,
        max_in_flight: int = MAX_IN_FLIGHT,
        session_idle_s: float = SESSION_IDLE_S,
        stop_flush_timeout_s: float = 2.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not is_loopback_host(host):
            raise ValueError(
                f"api.host must be a loopback address (127.0.0.1, ::1 or localhost), got {host!r}: "
                "the local API is never exposed to the network"
            )
        if not 0 <= port <= 65535:
            raise ValueError(f"api.port must be between 0 and 65535, got {port}")
        self._host = host
        self._requested_port = port
        self._bound_port = port
        self._provider = provider
        self._version = version
        self._mode = mode
        self._heartbeat_interval_s = heartbeat_interval_s
        self._max_clients = max_clients
        self._queue_size = send_queue_size
        self._max_in_flight = max_in_flight
        self._session_idle_s = session_idle_s
        self._stop_flush_timeout_s = stop_flush_timeout_s
        self._clock = clock
        self._monotonic = monotonic
        self._clients: set[Client] = set()
        self._server: Server | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._stopping = False
        checker = AdminPasswordChecker(
            provider.admin_hash_path, provider.load_auth_failures, provider.save_auth_failures, clock
        )
        self._admin = AdminDesk(provider, checker, session_idle_s=session_idle_s, monotonic=monotonic)

    # ----------------------------------------------------------------- lifecycle

    @property
    def clients(self) -> int:
        return len(self._clients)

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for); kept after stop() for messages."""
        return self._bound_port

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("LocalApi already started")
        try:
            self._server = await serve(
                self._handle,
                self._host,
                self._requested_port,
                process_request=self._process_request,
                max_size=MAX_REQUEST_BYTES,
                # Loopback only: per-client deflate would cost loop CPU for every push and save nothing.
                compression=None,
                server_header=None,
                logger=_ws_log,
            )
        except OSError as exc:
            if is_port_in_use(exc):
                raise PortInUseError(self._host, self._requested_port) from None
            raise
        self._bound_port = int(self._server.sockets[0].getsockname()[1])
        if self._heartbeat_interval_s > 0:
            self._heartbeat_task = asyncio.create_task(self._heartbeat_loop(), name="api-heartbeat")
        log.info("local API listening on ws://%s:%d/", self._host, self.port)

    async def stop(self) -> None:
        """Flush what is queued, then close every client with 1001 (going away)."""
        if self._server is None or self._stopping:
            return
        self._stopping = True
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        self._server.server.close()  # stop accepting; open connections stay until flushed
        senders = []
        for client in list(self._clients):
            for task in client.in_flight:
                task.cancel()
            self._close_after_flush(client, CLOSE_GOING_AWAY, "daemon stopping")
            if client.sender is not None:
                senders.append(client.sender)
        if senders:
            await asyncio.wait(senders, timeout=self._stop_flush_timeout_s)
        self._server.close()  # anything still open gets 1001 now
        await self._server.wait_closed()
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.wait(list(self._background), timeout=self._stop_flush_timeout_s)
        log.info("local API stopped")

    # ----------------------------------------------------------------- pushes

    def push(self, type_: str, data: dict[str, Any], account_id: int | None = None) -> None:
        """Queue a message for every client without waiting; slow clients are dropped."""
        if not self._clients:
            return
        try:
            data_json = dumps(data)
        except (TypeError, ValueError):
            # A bug in the caller must not raise into the engine's fast path.
            log.exception("push of %r dropped: data is not JSON-encodable", type_)
            return
        ts = format_ts(self._clock())
        for client in list(self._clients):
            self._enqueue(client, type_, ts, data_json=data_json, account_id=account_id)

    def _enqueue(
        self,
        client: Client,
        type_: str,
        ts: str,
        *,
        data_json: str | None = None,
        account_id: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if client.closing:
            return
        if client.queue.full():
            self._drop(client, CLOSE_POLICY, "client too slow")
            return
        # Rendered before seq advances: an encoding error must not leave a gap in the sequence.
        text = envelope(type_, client.seq + 1, ts, data_json=data_json, account_id=account_id, extra=extra)
        client.seq += 1
        client.queue.put_nowait(text)

    def _drop(self, client: Client, code: int, reason: str) -> None:
        """Disconnect now, discarding what is queued; never waits on the client."""
        if client.closing:
            return
        client.closing = True
        self._clients.discard(client)
        log.warning("local API client %s dropped: %s", client.peer, reason)
        if client.sender is not None:
            client.sender.cancel()
        self._spawn(client.ws.close(code, reason))

    def _close_after_flush(self, client: Client, code: int, reason: str) -> None:
        if client.closing:
            return
        if client.queue.full():
            self._drop(client, code, reason)
            return
        client.closing = True
        client.queue.put_nowait(CloseAfterFlush(code, reason))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_interval_s)
            try:
                data = dict(self._provider.heartbeat())
            except Exception:
                log.exception("heartbeat payload failed")
                continue
            data["clients"] = len(self._clients)
            self.push("heartbeat", data)

    # ----------------------------------------------------------------- connections

    def _process_request(self, connection: ServerConnection, request: HttpRequest) -> HttpResponse | None:
        # Browsers always send Origin; our own clients never do. Refusing any Origin keeps web pages
        # (including file:// pages, which send "null") away from the daemon.
        if request.headers.get("Origin") is not None:
            return connection.respond(HTTPStatus.FORBIDDEN, "Browser connections are not allowed.\n")
        if urlsplit(request.path).path != "/":
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found. The API is at /.\n")
        return None

    def _requested_version(self, ws: ServerConnection) -> str | None:
        path = ws.request.path if ws.request is not None else "/"
        values = parse_qs(urlsplit(path).query).get("v")
        return values[-1] if values else None

    async def _handle(self, ws: ServerConnection) -> None:
        if self._stopping:
            await ws.close(CLOSE_GOING_AWAY, "daemon stopping")
            return
        requested = self._requested_version(ws)
        if requested is not None and requested not in {str(v) for v in SUPPORTED_VERSIONS}:
            error = {
                "code": "unsupported_protocol",
                "message": f"protocol version {requested[:16]!r} is not supported; this daemon speaks "
                f"{', '.join(str(v) for v in SUPPORTED_VERSIONS)}",
                "supported": list(SUPPORTED_VERSIONS),
            }
            with contextlib.suppress(ConnectionClosed):
                await ws.send(envelope("error", 1, format_ts(self._clock()), data_json=dumps(error)))
            await ws.close(CLOSE_POLICY, "unsupported protocol version")
            return
        if len(self._clients) >= self._max_clients:
            log.warning("local API refused a client: %d clients connected", len(self._clients))
            await ws.close(CLOSE_TRY_AGAIN_LATER, "too many clients")
            return
        client = Client(ws, self._queue_size)
        try:
            snapshot = self._snapshot_data(None)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("snapshot for a new client failed (ref %s)", ref)
            await ws.close(CLOSE_INTERNAL, f"snapshot failed (ref {ref})")
            return
        # Registration and the snapshot happen without an await in between, so no push can fall
        # between the snapshot and the client's queue.
        self._clients.add(client)
        self._enqueue(client, "snapshot", format_ts(self._clock()), data_json=dumps(snapshot))
        client.sender = asyncio.create_task(self._sender(client), name=f"api-send {client.peer}")
        log.info("local API client connected: %s (%d clients)", client.peer, len(self._clients))
        try:
            # Runs until the connection is closed, by the client or by our own close (a drop, the
            # third wrong password, stop()); frames arriving while a close is pending are ignored.
            async for frame in ws:
                if not client.closing:
                    self._on_frame(client, frame)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            client.closing = True
            client.session = None
            if client.sender is not None:
                client.sender.cancel()
            log.info("local API client disconnected: %s (%d clients)", client.peer, len(self._clients))

    async def _sender(self, client: Client) -> None:
        ws = client.ws
        try:
            while True:
                item = await client.queue.get()
                if isinstance(item, CloseAfterFlush):
                    await ws.close(item.code, item.reason)
                    return
                await ws.send(item)
        except ConnectionClosed:
            return

    # ----------------------------------------------------------------- requests

    def _respond(
        self, client: Client, request_id: Any, data: Any = None, error: LocalApiError | None = None
    ) -> None:
        ts = format_ts(self._clock())
        if error is None:
            self._enqueue(client, "response", ts, data_json=dumps(data), extra={"id": request_id, "ok": True})
        else:
            self._enqueue(
                client, "response", ts, extra={"id": request_id, "ok": False, "error": error.to_error()}
            )

    def _on_frame(self, client: Client, frame: str | bytes) -> None:
        try:
            request = parse_request(frame)
        except RequestError as exc:
            self._respond(client, exc.request_id, error=exc)
            return
        if len(client.in_flight) >= self._max_in_flight:
            self._respond(
                client,
                request.id,
                error=LocalApiError(
                    "busy", f"more than {self._max_in_flight} requests in flight; wait for responses first"
                ),
            )
            if request.op in ADMIN_OPS or request.op == "auth":
                self._spawn(self._admin.audit(audit_action(request.op, ok=False), "busy", client, request))
            return
        task = asyncio.create_task(self._serve_request(client, request), name=f"api-op {request.op}")
        client.in_flight.add(task)
        task.add_done_callback(client.in_flight.discard)

    async def _serve_request(self, client: Client, request: Request) -> None:
        try:
            data = await self._dispatch(client, request)
        except CloseAfterAnswer as exc:
            # The answer must reach the client before the close frame: both go through its queue.
            self._respond(client, request.id, error=exc.error)
            self._close_after_flush(client, CLOSE_POLICY, exc.reason)
            return
        except LocalApiError as exc:
            try:
                self._respond(client, request.id, error=exc)
            except (TypeError, ValueError):
                self._respond_internal(client, request, "raised an error that is not JSON-encodable")
        except asyncio.CancelledError:
            raise
        except Exception:
            self._respond_internal(client, request, "failed")
        else:
            try:
                self._respond(client, request.id, data)
            except (TypeError, ValueError):
                self._respond_internal(client, request, "returned data that is not JSON-encodable")

    def _respond_internal(self, client: Client, request: Request, what: str) -> None:
        ref = uuid.uuid4().hex[:8]
        # The request data is not logged: an auth request carries the password.
        log.exception("local API op %s %s (ref %s)", request.op, what, ref)
        self._respond(client, request.id, error=LocalApiError("internal", f"internal error (ref {ref})"))

    async def _dispatch(self, client: Client, request: Request) -> Any:
        op = request.op
        if op == "snapshot":
            account_id = _optional_int(request.data, "accountId")
            return self._snapshot_data(account_id)
        if op == "status":
            return self._provider.status()
        if op in HISTORY_OPS:
            return await self._provider.history(op, request.data)
        if op == "auth":
            return await self._admin.auth(client, request)
        return await self._admin.command(client, request)

    def _snapshot_data(self, account_id: int | None) -> dict[str, Any]:
        base: dict[str, Any] = {
            "protocol": PROTOCOL_VERSION,
            "version": self._version,
            "mode": self._mode,
            "pid": os.getpid(),
        }
        base.update(self._provider.snapshot(account_id))
        base["protocol"] = PROTOCOL_VERSION
        return base


def _optional_int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not is_int(value):
        raise LocalApiError("bad_request", f"field 'data.{key}' must be an integer")
    return int(value)


