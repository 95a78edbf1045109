"""The daemon's local WebSocket API server (daemon.md §9).

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
import errno
import hmac
import ipaddress
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

from risk_manager.daemon.admin_auth import (
    MAX_PASSWORD_CHARS,
    AdminPasswordChecker,
    AuthOutcome,
    AuthResult,
    describe_duration,
)
from risk_manager.daemon.api_protocol import (
    ADMIN_OPS,
    HISTORY_OPS,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    ApiError,
    ConfigInvalidError,
    Request,
    RequestError,
    dumps,
    envelope,
    format_ts,
    parse_request,
)
from risk_manager.security.admin_token import token_matches

log = logging.getLogger(__name__)
# websockets logs every frame at DEBUG, and an `auth` frame carries the admin password: its logger
# is pinned at INFO so raising the daemon's log level can never write frames to a log file.
_ws_log = logging.getLogger(__name__ + ".ws")
_ws_log.setLevel(logging.INFO)

DEFAULT_PORT = 8765
MAX_CLIENTS = 32
SEND_QUEUE_SIZE = 1000
HEARTBEAT_INTERVAL_S = 5.0
SESSION_IDLE_S = 15 * 60
MAX_IN_FLIGHT = 10
AUTH_FAILURES_PER_CONNECTION = 3
MIN_UNLOCK_REASON = 10
MAX_REQUEST_BYTES = 64 * 1024

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN_LATER = 1013


class ApiProvider(Protocol):
    """What the server needs from the daemon. Sync methods must be cheap (they run on the loop)."""

    def snapshot(self, account_id: int | None) -> dict[str, Any]:
        """The ``data`` object of a snapshot (§9.2) for all accounts or one (ApiError not_found)."""
        ...

    def status(self) -> dict[str, Any]: ...

    def heartbeat(self) -> dict[str, Any]:
        """``{uptimeS, eventsPerS, protected, notProtected}``; the server adds ``clients``."""
        ...

    async def history(self, op: str, data: dict[str, Any]) -> dict[str, Any]:
        """``{"items": [...], "more": bool}``; raise ApiError for bad filters."""
        ...

    async def reload_config(self, actor: dict[str, Any]) -> dict[str, Any]:
        """``{applied, changes, restartRequired}``; raise ConfigInvalidError when invalid."""
        ...

    async def unlock(self, data: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]: ...

    async def audit(
        self,
        action: str,
        outcome: str,
        actor: dict[str, Any],
        target: str | None = None,
        reason: str | None = None,
    ) -> None: ...

    def admin_hash_path(self) -> Path: ...

    async def load_auth_failures(self) -> tuple[int, datetime | None]: ...

    async def save_auth_failures(self, failures: int, locked_until: datetime | None) -> None: ...


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


def _is_port_in_use(exc: OSError) -> bool:
    if exc.errno == errno.EADDRINUSE:
        return True
    # Windows: WSAEADDRINUSE, and WSAEACCES when another socket holds the port exclusively.
    return getattr(exc, "winerror", None) in (10048, 10013)


@dataclass(frozen=True)
class _CloseAfterFlush:
    """Queued after a final message so the close frame follows it instead of overtaking it."""

    code: int
    reason: str


class _Client:
    def __init__(self, ws: ServerConnection, queue_size: int) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str | _CloseAfterFlush] = asyncio.Queue(maxsize=queue_size)
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
        admin_token: str | None = None,
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
        # The admin channel (docs/local-api.md): `auth` must carry the token the daemon wrote to its
        # data directory. None (tests of the bare server) disables the check.
        self._admin_token = admin_token
        self._clients: set[_Client] = set()
        self._server: Server | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._checker = AdminPasswordChecker(
            provider.admin_hash_path, provider.load_auth_failures, provider.save_auth_failures, clock
        )

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
            if _is_port_in_use(exc):
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
        client: _Client,
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

    def _drop(self, client: _Client, code: int, reason: str) -> None:
        """Disconnect now, discarding what is queued; never waits on the client."""
        if client.closing:
            return
        client.closing = True
        self._clients.discard(client)
        log.warning("local API client %s dropped: %s", client.peer, reason)
        if client.sender is not None:
            client.sender.cancel()
        self._spawn(client.ws.close(code, reason))

    def _close_after_flush(self, client: _Client, code: int, reason: str) -> None:
        if client.closing:
            return
        if client.queue.full():
            self._drop(client, code, reason)
            return
        client.closing = True
        client.queue.put_nowait(_CloseAfterFlush(code, reason))

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
        client = _Client(ws, self._queue_size)
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

    async def _sender(self, client: _Client) -> None:
        ws = client.ws
        try:
            while True:
                item = await client.queue.get()
                if isinstance(item, _CloseAfterFlush):
                    await ws.close(item.code, item.reason)
                    return
                await ws.send(item)
        except ConnectionClosed:
            return

    # ----------------------------------------------------------------- requests

    def _respond(
        self, client: _Client, request_id: Any, data: Any = None, error: ApiError | None = None
    ) -> None:
        ts = format_ts(self._clock())
        if error is None:
            self._enqueue(client, "response", ts, data_json=dumps(data), extra={"id": request_id, "ok": True})
        else:
            self._enqueue(
                client, "response", ts, extra={"id": request_id, "ok": False, "error": error.to_error()}
            )

    def _on_frame(self, client: _Client, frame: str | bytes) -> None:
        try:
            request = parse_request(frame)
        except RequestError as exc:
            self._respond(client, exc.request_id, error=exc)
            return
        if len(client.in_flight) >= self._max_in_flight:
            self._respond(
                client,
                request.id,
                error=ApiError(
                    "busy", f"more than {self._max_in_flight} requests in flight; wait for responses first"
                ),
            )
            if request.op in ADMIN_OPS or request.op == "auth":
                self._spawn(self._audit(_audit_action(request.op, ok=False), "busy", client, request))
            return
        task = asyncio.create_task(self._serve_request(client, request), name=f"api-op {request.op}")
        client.in_flight.add(task)
        task.add_done_callback(client.in_flight.discard)

    async def _serve_request(self, client: _Client, request: Request) -> None:
        try:
            data = await self._dispatch(client, request)
        except _AlreadyAnswered:
            return
        except ApiError as exc:
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

    def _respond_internal(self, client: _Client, request: Request, what: str) -> None:
        ref = uuid.uuid4().hex[:8]
        # The request data is not logged: an auth request carries the password.
        log.exception("local API op %s %s (ref %s)", request.op, what, ref)
        self._respond(client, request.id, error=ApiError("internal", f"internal error (ref {ref})"))

    async def _dispatch(self, client: _Client, request: Request) -> Any:
        op = request.op
        if op == "snapshot":
            account_id = _optional_int(request.data, "accountId")
            return self._snapshot_data(account_id)
        if op == "status":
            return self._provider.status()
        if op in HISTORY_OPS:
            return await self._provider.history(op, request.data)
        if op == "auth":
            return await self._auth(client, request)
        return await self._admin(client, request)

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

    # ----------------------------------------------------------------- admin

    def _actor(self, client: _Client, request: Request | None, *, session: bool) -> dict[str, Any]:
        os_user = request.data.get("osUser") if request is not None else None
        return {
            "peer": client.peer,
            "osUser": os_user if isinstance(os_user, str) else None,
            "session": session,
        }

    async def _audit(
        self,
        action: str,
        outcome: str,
        client: _Client,
        request: Request | None,
        *,
        session: bool = False,
        target: str | None = None,
        reason: str | None = None,
    ) -> None:
        actor = self._actor(client, request, session=session)
        try:
            await self._provider.audit(action, outcome, actor, target, reason)
        except Exception:
            log.exception("audit of %s (%s) could not be written", action, outcome)

    async def _auth(self, client: _Client, request: Request) -> dict[str, Any]:
        if self._admin_token is not None and not token_matches(
            self._admin_token, request.data.get("adminToken")
        ):
            # Refused before the password is looked at: no failure counted, no argon2 work.
            await self._audit("admin_login_failed", "no_admin_token", client, request)
            raise ApiError(
                "unauthorized",
                "admin login needs the daemon's admin token (field 'data.adminToken'), readable only by "
                "OS administrators: run the console as an administrator",
            )
        password = request.data.get("password")
        if not isinstance(password, str) or not password:
            await self._audit("admin_login_failed", "bad_request", client, request)
            raise ApiError("bad_request", "field 'data.password' must be a non-empty string")
        if len(password) > MAX_PASSWORD_CHARS:
            await self._audit("admin_login_failed", "bad_request", client, request)
            raise ApiError(
                "bad_request", f"field 'data.password' is longer than {MAX_PASSWORD_CHARS} characters"
            )
        outcome = await self._checker.attempt(password)
        return await self._auth_result(client, request, outcome)

    async def _auth_result(self, client: _Client, request: Request, outcome: AuthOutcome) -> dict[str, Any]:
        result = outcome.result
        if result is AuthResult.OK:
            client.session = secrets.token_urlsafe(32)
            client.session_used_at = self._monotonic()
            client.auth_failures = 0
            await self._audit("admin_login", "ok", client, request, session=True)
            return {"session": client.session, "expiresIdleS": int(self._session_idle_s)}
        if result is AuthResult.NO_PASSWORD:
            await self._audit("admin_login_failed", result.value, client, request)
            raise ApiError("auth_failed", outcome.detail)
        if result in (AuthResult.CORRUPT, AuthResult.UNREADABLE):
            log.error("admin login impossible: %s", outcome.detail)
            await self._audit("admin_login_failed", result.value, client, request)
            raise ApiError("internal", outcome.detail)
        client.auth_failures += 1
        last_try = client.auth_failures >= AUTH_FAILURES_PER_CONNECTION
        if result is AuthResult.LOCKED:
            await self._audit("admin_locked", "refused", client, request)
            error = ApiError(
                "auth_locked",
                f"Admin login is locked after repeated wrong passwords. Try again in "
                f"{_describe_seconds(outcome.retry_after_s or 0)}, or ask an OS administrator to run "
                '"risk-manager admin password reset".',
                retryAfterS=outcome.retry_after_s,
            )
        elif result is AuthResult.NEWLY_LOCKED:
            assert outcome.lock_duration is not None
            await self._audit("admin_login_failed", "wrong_password", client, request)
            await self._audit(
                "admin_locked",
                "locked",
                client,
                request,
                reason=f"{outcome.failures} consecutive failures; locked for "
                f"{describe_duration(outcome.lock_duration)}",
            )
            error = ApiError(
                "auth_locked",
                f"Wrong password. Admin login is locked for {describe_duration(outcome.lock_duration)} "
                f"after {outcome.failures} consecutive wrong passwords.",
                retryAfterS=outcome.retry_after_s,
            )
        else:
            await self._audit("admin_login_failed", "wrong_password", client, request)
            left = AUTH_FAILURES_PER_CONNECTION - client.auth_failures
            error = ApiError(
                "auth_failed",
                "Wrong password." + (f" {left} attempt{'s' if left != 1 else ''} left." if left > 0 else ""),
            )
        if last_try:
            # The response must reach the client before the close frame: both go through its queue.
            self._respond(client, request.id, error=error)
            self._close_after_flush(client, CLOSE_POLICY, "too many failed password attempts")
            raise _AlreadyAnswered
        raise error

    async def _admin(self, client: _Client, request: Request) -> dict[str, Any]:
        op = request.op
        now = self._monotonic()
        token = request.session
        if client.session is None or token is None or not hmac.compare_digest(token, client.session):
            await self._audit(_audit_action(op, ok=False), "unauthorized", client, request)
            raise ApiError("unauthorized", f"op {op!r} needs an admin session: send 'auth' first")
        if now - client.session_used_at > self._session_idle_s:
            client.session = None
            await self._audit(
                _audit_action(op, ok=False), "unauthorized", client, request, reason="session expired"
            )
            raise ApiError(
                "unauthorized",
                f"the admin session expired after {int(self._session_idle_s // 60)} min without an admin "
                "request; send 'auth' again",
            )
        client.session_used_at = now
        if op == "logout":
            client.session = None
            await self._audit("admin_logout", "ok", client, request, session=True)
            return {"loggedOut": True}
        if op == "reload_config":
            return await self._reload(client, request)
        return await self._unlock(client, request)

    async def _reload(self, client: _Client, request: Request) -> dict[str, Any]:
        actor = self._actor(client, request, session=True)
        try:
            result = await self._provider.reload_config(actor)
        except ConfigInvalidError as exc:
            await self._audit(
                "reload_rejected",
                "config_invalid",
                client,
                request,
                session=True,
                target="config",
                reason=f"{len(exc.errors)} error(s)",
            )
            raise
        except ApiError as exc:
            await self._audit("reload_rejected", exc.code, client, request, session=True, target="config")
            raise
        except Exception:
            await self._audit("reload_rejected", "error", client, request, session=True, target="config")
            raise
        await self._audit("config_reloaded", "ok", client, request, session=True, target="config")
        return result

    async def _unlock(self, client: _Client, request: Request) -> dict[str, Any]:
        data = request.data
        try:
            target, reason = _validate_unlock(data)
        except ApiError as exc:
            await self._audit(
                "lockout_unlocked", exc.code, client, request, session=True, reason=_short(data.get("reason"))
            )
            raise
        actor = self._actor(client, request, session=True)
        try:
            result = await self._provider.unlock(dict(data), actor)
        except ApiError as exc:
            await self._audit(
                "lockout_unlocked", exc.code, client, request, session=True, target=target, reason=reason
            )
            raise
        except Exception:
            await self._audit(
                "lockout_unlocked", "error", client, request, session=True, target=target, reason=reason
            )
            raise
        await self._audit(
            "lockout_unlocked", "ok", client, request, session=True, target=target, reason=reason
        )
        return result


class _AlreadyAnswered(ApiError):
    """Internal: the handler queued its own response (followed by a close)."""

    def __init__(self) -> None:
        super().__init__("internal", "already answered")


def _audit_action(op: str, *, ok: bool) -> str:
    if op == "reload_config":
        return "config_reloaded" if ok else "reload_rejected"
    if op == "unlock":
        return "lockout_unlocked"
    if op == "auth":
        return "admin_login" if ok else "admin_login_failed"
    return "admin_logout"


def _short(value: Any) -> str | None:
    return value[:500] if isinstance(value, str) else None


def _describe_seconds(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not _is_int(value):
        raise ApiError("bad_request", f"field 'data.{key}' must be an integer")
    return int(value)


def _validate_unlock(data: dict[str, Any]) -> tuple[str, str]:
    """Shape of an unlock request (§9.4); returns (audit target, reason)."""
    if "accountId" not in data:
        raise ApiError("bad_request", "missing field 'data.accountId'")
    account = data["accountId"]
    if not _is_int(account):
        raise ApiError("bad_request", "field 'data.accountId' must be an integer")
    selectors = [key for key in ("lockoutId", "ruleId", "all") if data.get(key) is not None]
    if len(selectors) != 1:
        raise ApiError(
            "bad_request",
            "exactly one of 'data.lockoutId', 'data.ruleId' or 'data.all' is required"
            + (f" (got {', '.join(selectors)})" if selectors else ""),
        )
    selector = selectors[0]
    value = data[selector]
    # Snapshots carry the engine's lockout ids ("L7"); the database id (an integer) is accepted too.
    if selector == "lockoutId" and not (_is_int(value) or (isinstance(value, str) and value.strip())):
        raise ApiError("bad_request", "field 'data.lockoutId' must be a lockout id (e.g. \"L7\" or 88)")
    if selector == "ruleId" and (not isinstance(value, str) or not value.strip()):
        raise ApiError("bad_request", "field 'data.ruleId' must be a non-empty string such as \"RULE-003\"")
    if selector == "all" and value is not True:
        raise ApiError("bad_request", "field 'data.all' must be true")
    reason = data.get("reason")
    if not isinstance(reason, str):
        raise ApiError(
            "bad_request", f"field 'data.reason' is required: at least {MIN_UNLOCK_REASON} characters"
        )
    if len(reason.strip()) < MIN_UNLOCK_REASON:
        raise ApiError(
            "bad_request",
            f"field 'data.reason' must be at least {MIN_UNLOCK_REASON} characters "
            f"(got {len(reason.strip())})",
        )
    os_user = data.get("osUser")
    if os_user is not None and not isinstance(os_user, str):
        raise ApiError("bad_request", "field 'data.osUser' must be a string")
    target = f"account {account} " + ("all lockouts" if selector == "all" else f"{selector} {value}")
    return target, reason.strip()
