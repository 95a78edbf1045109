"""The daemon's local WebSocket API server (spec/daemon.md §9).

Dashboards and the admin console connect to ``ws://127.0.0.1:8765/``. The server owns only the
transport: client send queues, per-connection sequence numbers, request dispatch and admin sessions.
Every piece of state comes from an ``ApiProvider`` (the daemon), so the server can be started and
tested on its own.

The server never blocks the engine (§1), whatever a local process sends or fails to read:
``push`` only renders the message and puts it on each client's queue, capped in messages and in
bytes; a per-client sender task does the socket writes, and a client over its cap is dropped (close
1008, or the socket aborted if it does not read even that) rather than waited for. Every connection
has a budget (``limits.py``): frames past it are read later, ``snapshot`` and ``history.*`` past it
are answered ``rate_limited``. Snapshots are encoded once per state change and shared
(``snapshots.py``). Malformed frames are answered ``bad_request`` (``protocol.decode_frame``). All
methods must be called on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

from risk_manager.daemon.api.admin import SESSION_IDLE_S, AdminDesk
from risk_manager.daemon.api.connection import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL,
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN_LATER,
    Client,
    CloseAfterFlush,
    PortInUseError,
    close_or_abort,
    is_loopback_host,
    is_port_in_use,
    limit_socket_buffer,
    refuse_http,
    refuse_version,
    requested_version,
)
from risk_manager.daemon.api.interface import ApiProvider
from risk_manager.daemon.api.limits import ApiLimits, TokenBucket, frame_cost
from risk_manager.daemon.api.password import AdminPasswordChecker
from risk_manager.daemon.api.protocol import (
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    LocalApiError,
    dumps,
    envelope,
    format_ts,
)
from risk_manager.daemon.api.requests import RequestDesk
from risk_manager.daemon.api.snapshots import DEFAULT_MAX_AGE_S, SnapshotCache
from risk_manager.security.admin_token import issue_token, remove_token

log = logging.getLogger(__name__)
# websockets logs every frame at DEBUG, and an `auth` frame carries the admin password: its logger is
# pinned so raising the daemon's log level can never write frames to a log file. WARNING, not INFO:
# its per-connection lines repeat ours, and a reconnect loop would double the log.
_ws_log = logging.getLogger(__name__ + ".ws")
_ws_log.setLevel(logging.WARNING)

DEFAULT_PORT = 8765
MAX_CLIENTS = 32
HEARTBEAT_INTERVAL_S = 5.0
MAX_IN_FLIGHT = 10
MAX_REQUEST_BYTES = 64 * 1024
#: frames the library reads ahead of the handler per connection (x MAX_REQUEST_BYTES of memory)
MAX_FRAMES_READ_AHEAD = 4
#: a dropped client gets this long to take its close frame before its socket is aborted
DROP_GRACE_S = 2.0
REFUSAL_LOG_EVERY_S = 60.0


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
        max_in_flight: int = MAX_IN_FLIGHT,
        limits: ApiLimits | None = None,
        admin_token_path: Path | None = None,
        snapshot_max_age_s: float = DEFAULT_MAX_AGE_S,
        session_idle_s: float = SESSION_IDLE_S,
        stop_flush_timeout_s: float = 2.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``admin_token_path``: where ``start()`` writes the admin token (``<data_dir>/admin.token``);
        without it admin login is impossible. ``monotonic`` times admin sessions and the password
        back-off; budgets and the snapshot cache use the real monotonic clock (they only bound load)."""
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
        self._limits = limits or ApiLimits()
        self._token_path = admin_token_path
        self._snapshots = SnapshotCache(self._snapshot_data, max_age_s=snapshot_max_age_s)
        self._refusal_logged_at = -REFUSAL_LOG_EVERY_S
        self._new_connections = TokenBucket(self._limits.connections)
        self._stop_flush_timeout_s = stop_flush_timeout_s
        self._clock = clock
        self._clients: set[Client] = set()
        self._server: Server | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._stopping = False
        checker = AdminPasswordChecker(
            provider.admin_hash_path, provider.load_auth_failures, provider.save_auth_failures, clock
        )
        self._admin = AdminDesk(provider, checker, session_idle_s=session_idle_s, monotonic=monotonic)
        self._admin.token_path = admin_token_path
        self._requests = RequestDesk(
            provider, self._admin, self._snapshots, self, limits=self._limits, max_in_flight=max_in_flight
        )

    # ----------------------------------------------------------------- lifecycle

    @property
    def clients(self) -> int:
        return len(self._clients)

    @property
    def sockets(self) -> int:
        """Open connections, including dropped ones whose socket is not closed yet."""
        return len(self._server.connections) if self._server is not None else 0

    @property
    def snapshot_builds(self) -> int:
        return self._snapshots.builds

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
                max_queue=MAX_FRAMES_READ_AHEAD,
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
        if self._token_path is not None:
            self._admin.token = issue_token(self._token_path)
        else:
            log.warning("no admin token file configured: admin login over the local API is disabled")
        if self._heartbeat_interval_s > 0:
            self._heartbeat_task = asyncio.create_task(self._heartbeat_loop(), name="api-heartbeat")
        log.info("local API listening on ws://%s:%d/", self._host, self.port)

    async def stop(self) -> None:
        """Flush what is queued, then close every client with 1001 (going away)."""
        if self._server is None or self._stopping:
            return
        self._stopping = True
        if self._token_path is not None and self._admin.token is not None:
            self._admin.token = None
            remove_token(self._token_path)
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        self._server.server.close()  # stop accepting; open connections stay until flushed
        senders: dict[asyncio.Task[None], Client] = {}
        for client in list(self._clients):
            for task in client.in_flight:
                task.cancel()
            self.close_after_flush(client, CLOSE_GOING_AWAY, "daemon stopping")
            if client.sender is not None:
                senders[client.sender] = client
        if senders:
            _, pending = await asyncio.wait(senders, timeout=self._stop_flush_timeout_s)
            # Not flushed in time: a client that does not read would keep the library's close
            # waiting on its socket forever.
            for task in pending:
                senders[task].ws.transport.abort()
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
        if type_ != "heartbeat":
            # Every push announces a state change: no snapshot built before it is served after it.
            self._snapshots.invalidate()
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
        # Rendered before seq advances: an encoding error must not leave a gap in the sequence.
        text = envelope(type_, client.seq + 1, ts, data_json=data_json, account_id=account_id, extra=extra)
        data = text.encode()
        if not client.has_room(len(data)):
            limits = self._limits
            self._drop(
                client,
                CLOSE_POLICY,
                "client too slow",
                f"{client.queue.qsize()} messages / {client.queued_bytes} bytes not read "
                f"(limits {limits.send_queue_messages} / {limits.send_buffer_bytes})",
            )
            return
        client.seq += 1
        client.put(data)

    def _drop(self, client: Client, code: int, reason: str, detail: str = "") -> None:
        """Disconnect now, discarding what is queued; never waits on the client. Logged once."""
        if client.closing:
            return
        client.closing = True
        self._clients.discard(client)
        log.warning(
            "local API client %s dropped: %s%s", client.peer, reason, f" ({detail})" if detail else ""
        )
        if client.sender is not None:
            client.sender.cancel()
        client.queued_bytes = 0
        client.queue = asyncio.Queue()  # what was queued is garbage now, not after the close
        self.spawn(close_or_abort(client.ws, code, reason, DROP_GRACE_S))

    def close_after_flush(self, client: Client, code: int, reason: str) -> None:
        if client.closing:
            return
        client.closing = True
        client.queue.put_nowait(CloseAfterFlush(code, reason))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
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
        refused = refuse_http(connection, request)
        if refused is not None:
            return refused
        wait = self._new_connections.try_take()
        if wait <= 0:
            return None
        # Before the handshake, the snapshot and the log lines: a reconnect loop costs little.
        self._log_refusal(
            "local API refused new connections: more than %g per second", self._limits.connections.per_s
        )
        response = connection.respond(
            HTTPStatus.SERVICE_UNAVAILABLE, "Too many new connections; try again.\n"
        )
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return response

    def _log_refusal(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._refusal_logged_at >= REFUSAL_LOG_EVERY_S:  # a reconnect loop must not flood the log
            self._refusal_logged_at = now
            log.warning(message, *args)

    async def _handle(self, ws: ServerConnection) -> None:
        if self._stopping:
            await ws.close(CLOSE_GOING_AWAY, "daemon stopping")
            return
        requested = requested_version(ws)
        if requested is not None and requested not in {str(v) for v in SUPPORTED_VERSIONS}:
            await refuse_version(ws, requested, format_ts(self._clock()), DROP_GRACE_S)
            return
        if len(self._clients) >= self._max_clients:
            self._log_refusal("local API refused a client: %d clients connected", len(self._clients))
            await close_or_abort(ws, CLOSE_TRY_AGAIN_LATER, "too many clients", DROP_GRACE_S)
            return
        limit_socket_buffer(ws)
        client = Client(ws, self._limits)
        try:
            snapshot = self._snapshots.get(None)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("snapshot for a new client failed (ref %s)", ref)
            await close_or_abort(ws, CLOSE_INTERNAL, f"snapshot failed (ref {ref})", DROP_GRACE_S)
            return
        # Registration and the snapshot happen without an await in between, so no push can fall
        # between the snapshot and the client's queue.
        self._clients.add(client)
        self._enqueue(client, "snapshot", format_ts(self._clock()), data_json=snapshot)
        client.sender = asyncio.create_task(client.send_loop(DROP_GRACE_S), name=f"api-send {client.peer}")
        log.info("local API client connected: %s (%d clients)", client.peer, len(self._clients))
        try:
            await self._read(client)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            client.closing = True
            client.session = None
            if client.sender is not None:
                client.sender.cancel()
            log.info("local API client disconnected: %s (%d clients)", client.peer, len(self._clients))

    async def _read(self, client: Client) -> None:
        """Runs until the connection is closed, by the client or by our own close (a drop, the third
        failed ``auth``, stop()); frames arriving while a close is pending are ignored. Past the
        connection's frame budget, or after a ``rate_limited`` answer, reading pauses: the sender's TCP
        window fills and it waits."""
        frames = client.budget.frames
        async for frame in client.ws:
            if not client.closing:
                try:
                    self._requests.on_frame(client, frame)
                except Exception:  # a bug, never the client's input (that is a bad_request)
                    ref = uuid.uuid4().hex[:8]
                    log.exception("local API frame from %s could not be handled (ref %s)", client.peer, ref)
                    self.respond(client, None, error=LocalApiError("internal", f"internal error (ref {ref})"))
            pause = max(frames.charge(frame_cost(frame)), client.hold_reading_s)
            client.hold_reading_s = 0.0
            if pause > 0:
                await asyncio.sleep(pause)

    # ----------------------------------------------------------------- requests

    def respond(
        self,
        client: Client,
        request_id: Any,
        data: Any = None,
        error: LocalApiError | None = None,
        *,
        data_json: str | None = None,
    ) -> None:
        ts = format_ts(self._clock())
        if error is None:
            encoded = data_json if data_json is not None else dumps(data)
            self._enqueue(client, "response", ts, data_json=encoded, extra={"id": request_id, "ok": True})
        else:
            self._enqueue(
                client, "response", ts, extra={"id": request_id, "ok": False, "error": error.to_error()}
            )

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
