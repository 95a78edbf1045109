"""A thin SignalR JSON-protocol client on ``websockets``: one supervised hub connection.

Why our own (docs/gateway-client.md, spec/dependencies.md §1): the libraries stop reconnecting after
certain faults (retry budgets that never reset, handler exceptions ending the run loop, crashes on
WebSocket pings). This client has one narrow profile - JSON protocol over WebSocket, with or without
negotiation - and strict behaviour:

* **Forever.** :meth:`start` runs a supervisor that reconnects after *any* loss (close, Close message
  with or without ``error``, server timeout, failed negotiate/upgrade, handshake error): 0, 0.25,
  then every 0.5 s for the first two minutes of an outage (the accounts are NOT PROTECTED meanwhile),
  then 0, 1, 2, 5, 10, 30 s; ±20 % jitter; a 429's ``Retry-After`` is always honoured. Each attempt
  asks the token provider for a fresh token and negotiates afresh; a 401 calls ``token_rejected``
  before the next attempt.
* **Reader first.** After the handshake the reader task starts before the subscriptions are replayed
  (a completion nobody reads would hang ``invoke``); the replay runs beside it and every pending
  invocation fails when the socket ends.
* **Resubscribe, then report.** Every registered subscription is invoked with an ``invocationId`` and
  its completion awaited (10 s, one retry, else the connection is recycled). Only then the state
  becomes ``connected`` and, after a reconnect, ``on_gap`` fires so the daemon reconciles over REST.
* **Keep-alive.** SignalR ping every 15 s; 30 s without receiving anything = dead connection.
* **Never crash on input.** Malformed records are skipped with a log line; exceptions raised by the
  event callback are logged and the connection stays up.

The token travels as ``access_token`` query parameter and as ``Authorization: Bearer`` header; URLs in
log lines are shown without their query.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from risk_manager import latency_trace
from risk_manager.gateway import logsafe
from risk_manager.gateway import signalr_protocol as sp
from risk_manager.gateway.backoff import (
    FAST_RECONNECT_FOR_S,
    OUTAGE_DELAYS_S,
    RECONNECT_DELAYS_S,
    ReconnectSchedule,
)
from risk_manager.gateway.errors import HubError
from risk_manager.gateway.urls import append_path, redact_url, to_http, to_ws, with_query

log = logging.getLogger("risk_manager.gateway.hub")
logsafe.install()

TokenProvider = Callable[[], Awaitable[str]]
TokenRejected = Callable[[str], Awaitable[Any]]
EventCallback = Callable[[str, Any], Any]
StateCallback = Callable[["HubState", str], Any]
GapCallback = Callable[[], Any]


class HubState(StrEnum):
    CONNECTING = "connecting"  # first attempt, nothing received yet
    CONNECTED = "connected"  # handshake done and every subscription confirmed
    RECONNECTING = "reconnecting"  # lost; retrying with backoff (accounts are NOT PROTECTED)
    DOWN = "down"  # stopped


@dataclass(frozen=True, slots=True)
class HubSettings:
    """Client settings of one hub connection (spec/gateway.md §4.2-§4.6)."""

    skip_negotiation: bool = False
    ping_interval_s: float = 15.0
    server_timeout_s: float = 30.0
    invoke_timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    reconnect_delays_s: tuple[float, ...] = RECONNECT_DELAYS_S
    outage_delays_s: tuple[float, ...] = OUTAGE_DELAYS_S
    fast_reconnect_for_s: float = FAST_RECONNECT_FOR_S
    jitter: float = 0.2
    max_message_bytes: int = 16 * 1024 * 1024


class _Lost(Exception):
    """Internal: why a connection attempt or a live connection ended (``retry_after_s``: the server
    asked us to wait, e.g. 429 with Retry-After)."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class HubConnection:
    """One hub (user or market) with its subscriptions; subclasses decode the event arguments."""

    kind = "hub"

    def __init__(
        self,
        url: str,
        token_provider: TokenProvider,
        on_event: EventCallback,
        *,
        on_state: StateCallback | None = None,
        on_gap: GapCallback | None = None,
        token_rejected: TokenRejected | None = None,
        settings: HubSettings | None = None,
        name: str | None = None,
        pause_reading: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        self.url = url
        # Asked after each frame: an awaitable means the reader waits for it before it reads on
        # (the daemon: an enforcement request decided from this frame is waiting to leave).
        self._pause_reading = pause_reading
        self.settings = settings or HubSettings()
        self.name = name or self.kind
        self._token_provider = token_provider
        self._token_rejected = token_rejected
        self._on_event = on_event
        self._on_state = on_state
        self._on_gap = on_gap
        self._subs: dict[tuple[str, tuple[Any, ...]], None] = {}
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._ws: ClientConnection | None = None
        self._ready = False
        self._task: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self._last_rx = 0.0
        self._last_token: str | None = None
        self._ever_connected = False
        self._connected_at: float | None = None
        self.state = HubState.DOWN
        self.connected_event = asyncio.Event()
        # Counters (status view, tests, bench).
        self.connects = 0
        self.events = 0
        self.skipped = 0
        self.gaps = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={redact_url(self.url)!r}, state={self.state.value})"

    # ----- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the supervisor (connect, and reconnect forever until :meth:`stop`)."""
        if self._task is not None:
            return
        self._stop.clear()
        t = self.settings
        # The same HTTP library as REST (one at run time); used only for the negotiate POST.
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=t.invoke_timeout_s, connect=t.connect_timeout_s)
        )
        self._task = asyncio.create_task(self._supervise(), name=f"hub-{self.name}")

    async def stop(self) -> None:
        """Close the connection cleanly (SignalR Close, then WebSocket close) and stop reconnecting."""
        self._stop.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.send(sp.encode({"type": sp.CLOSE}))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        for task in list(self._side_tasks):
            task.cancel()
        if self._side_tasks:
            await asyncio.gather(*self._side_tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._set_state(HubState.DOWN, "stopped")

    @property
    def connected(self) -> bool:
        return self._ready

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the hub is connected with every subscription confirmed."""
        await asyncio.wait_for(self.connected_event.wait(), timeout)

    # ----- subscriptions ----------------------------------------------------------------------------------
    @property
    def subscriptions(self) -> list[tuple[str, tuple[Any, ...]]]:
        return list(self._subs)

    async def subscribe(self, method: str, *args: Any) -> None:
        """Register ``method(*args)`` (replayed after every reconnect) and invoke it now if connected."""
        key = (method, args)
        if key in self._subs:
            return
        self._subs[key] = None
        ws = self._ws
        if self._ready and ws is not None and not await self._invoke_checked(ws, method, args):
            log.warning("%s: %s failed twice; recycling the connection", self.name, method)
            await self._recycle(ws)

    async def unsubscribe(self, method: str, *args: Any) -> None:
        """Forget ``method(*args)`` and send the matching ``Unsubscribe*`` if connected (best effort)."""
        if (method, args) not in self._subs:
            return
        del self._subs[(method, args)]
        ws = self._ws
        if self._ready and ws is not None and method.startswith("Subscribe"):
            try:
                await self.invoke("Un" + method[0].lower() + method[1:], *args)
            except HubError as exc:
                log.info("%s: unsubscribe %s failed (ignored): %s", self.name, method, exc)

    # ----- invocations ------------------------------------------------------------------------------------
    async def invoke(self, target: str, *args: Any, timeout: float | None = None) -> Any:
        """Invoke a hub method with an ``invocationId`` and wait for its completion."""
        ws = self._ws
        if ws is None:
            raise HubError(f"{self.name}: not connected")
        return await self._invoke_on(ws, target, args, timeout)

    async def send(self, target: str, *args: Any) -> None:
        """Fire-and-forget invocation (no ``invocationId``, so no completion)."""
        ws = self._ws
        if ws is None:
            raise HubError(f"{self.name}: not connected")
        await ws.send(sp.encode(sp.invocation(target, list(args))))

    async def _invoke_on(
        self, ws: ClientConnection, target: str, args: tuple[Any, ...], timeout: float | None
    ) -> Any:
        invocation_id = str(next(self._ids))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[invocation_id] = future
        try:
            try:
                await ws.send(sp.encode(sp.invocation(target, list(args), invocation_id)))
            except ConnectionClosed:
                raise HubError(f"{self.name}: connection lost while invoking {target}") from None
            try:
                return await asyncio.wait_for(future, timeout or self.settings.invoke_timeout_s)
            except TimeoutError:
                raise HubError(f"{self.name}: {target} got no completion in time") from None
        finally:
            self._pending.pop(invocation_id, None)

    async def _invoke_checked(self, ws: ClientConnection, method: str, args: tuple[Any, ...]) -> bool:
        """Invoke and await the completion; on error or timeout retry once (spec/gateway.md §4.3)."""
        for attempt in (1, 2):
            try:
                await self._invoke_on(ws, method, args, None)
                return True
            except HubError as exc:
                log.warning("%s: %s%s attempt %d failed: %s", self.name, method, list(args), attempt, exc)
                if ws is not self._ws:
                    return False
        return False

    # ----- supervisor -------------------------------------------------------------------------------------
    def _set_state(self, state: HubState, detail: str) -> None:
        if state is self.state:
            return
        self.state = state
        log_fn = log.warning if state is HubState.RECONNECTING else log.info
        log_fn("%s hub %s: %s", self.name, state.value, detail)
        if self._on_state is not None:
            self._call_side(self._on_state, state, detail)

    def _call_side(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call a user callback; an awaitable result runs as its own task (it outlives this connection)."""
        try:
            result = fn(*args)
        except Exception:
            log.exception("%s: callback %s raised", self.name, getattr(fn, "__name__", fn))
            return
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            task = asyncio.ensure_future(result)
            self._side_tasks.add(task)
            task.add_done_callback(self._side_done)

    def _side_done(self, task: asyncio.Task[Any]) -> None:
        self._side_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: callback task failed: %r", self.name, task.exception())

    async def _supervise(self) -> None:
        s = self.settings
        schedule = ReconnectSchedule(s.outage_delays_s, s.reconnect_delays_s, s.fast_reconnect_for_s, s.jitter)
        outage_since = time.monotonic()
        self._set_state(HubState.CONNECTING, f"connecting to {redact_url(self.url)}")
        while not self._stop.is_set():
            reason = "closed"
            retry_after: float | None = None
            self._connected_at = None
            try:
                await self._connect_once()
            except _Lost as exc:
                reason = str(exc)
                retry_after = exc.retry_after_s
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed, HubError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except aiohttp.ClientError as exc:
                reason = f"negotiate failed: {type(exc).__name__}"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the supervisor die
                log.exception("%s: unexpected error in the connection loop", self.name)
                reason = f"{type(exc).__name__}"
            if self._stop.is_set():
                break
            connected_at = self._connected_at
            now = time.monotonic()
            if connected_at is not None and now - connected_at >= 1.0:
                schedule.reset()  # a connection that lived: a new outage starts now, fast again
                outage_since = now
            delay = schedule.next(now - outage_since, retry_after)
            self._set_state(HubState.RECONNECTING, reason)
            log.info("%s: reconnect attempt %d in %.1f s (%s)", self.name, schedule.attempt, delay, reason)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _negotiate(self, token: str) -> str:
        assert self._http is not None
        url = with_query(
            append_path(to_http(self.url), "/negotiate"), negotiateVersion="1", access_token=token
        )
        async with self._http.post(url, headers={"Authorization": f"Bearer {token}"}, data=b"") as response:
            status = response.status
            text = await response.text() if status == 200 else ""
            retry_after = _retry_after_s(response.headers.get("Retry-After"))
        if status == 401:
            await self._rejected(token)
            raise _Lost("negotiate: HTTP 401 (token refreshed for the next attempt)")
        if status == 429:
            raise _Lost("negotiate: HTTP 429 (rate limited)", retry_after_s=retry_after)
        if status != 200:
            raise _Lost(f"negotiate: HTTP {status}")
        try:
            body = json.loads(text)
        except ValueError:
            raise _Lost("negotiate: non-JSON answer") from None
        if not isinstance(body, dict):
            raise _Lost("negotiate: answer is not an object")
        if body.get("error"):
            raise _Lost(f"negotiate: server error {body.get('error')!r}")
        conn = body.get("connectionToken") or body.get("connectionId")
        if not isinstance(conn, str) or not conn:
            raise _Lost("negotiate: no connection id")
        return conn

    async def _rejected(self, token: str) -> None:
        if self._token_rejected is not None:
            try:
                await self._token_rejected(token)
            except Exception as exc:
                log.warning("%s: token refresh after 401 failed: %s", self.name, exc)

    async def _connect_once(self) -> None:
        """One connection from negotiate to loss; raises :class:`_Lost` with the reason."""
        token = await self._token_provider()
        self._last_token = token
        ws_url = to_ws(self.url)
        if self.settings.skip_negotiation:
            ws_url = with_query(ws_url, access_token=token)
        else:
            conn_id = await self._negotiate(token)
            ws_url = with_query(ws_url, id=conn_id, access_token=token)
        try:
            ws = await connect(
                ws_url,
                additional_headers={"Authorization": f"Bearer {token}"},
                open_timeout=self.settings.connect_timeout_s,
                ping_interval=None,
                close_timeout=2.0,
                max_size=self.settings.max_message_bytes,
                compression=None,
                create_connection=_StampedConnection if latency_trace.TRACE is not None else None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 401:
                await self._rejected(token)
            wait = _retry_after_s(exc.response.headers.get("Retry-After")) if status == 429 else None
            raise _Lost(f"upgrade: HTTP {status}", retry_after_s=wait) from None
        try:
            records, splitter = await self._handshake(ws)
        except BaseException:
            ws.transport.abort()
            raise
        await self._run_connection(ws, records, splitter)

    async def _handshake(self, ws: ClientConnection) -> tuple[list[str], sp.FrameSplitter]:
        """Send the handshake, await ``{}``; return records that followed it and the splitter."""
        await ws.send(sp.encode(sp.HANDSHAKE_REQUEST))
        splitter = sp.FrameSplitter()
        deadline = time.monotonic() + self.settings.connect_timeout_s
        records: list[str] = []
        while not records:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Lost("handshake: no answer")
            try:
                frame = await asyncio.wait_for(ws.recv(), remaining)
            except TimeoutError:
                raise _Lost("handshake: no answer") from None
            records = splitter.feed(frame if isinstance(frame, str) else frame.decode("utf-8", "replace"))
        try:
            answer = json.loads(records[0])
        except ValueError:
            raise _Lost("handshake: malformed answer") from None
        if not isinstance(answer, dict) or answer.get("error"):
            raise _Lost(f"handshake refused: {answer.get('error') if isinstance(answer, dict) else answer!r}")
        return records[1:], splitter

    async def _run_connection(
        self, ws: ClientConnection, records: list[str], splitter: sp.FrameSplitter
    ) -> None:
        reconnect = self._ever_connected
        self._ever_connected = True
        self._ws = ws
        self._last_rx = time.monotonic()
        self.connects += 1
        for record in records:
            self._handle_record(record)
        reader = asyncio.create_task(self._read(ws, splitter), name=f"hub-{self.name}-read")
        keepalive = asyncio.create_task(self._keepalive(ws), name=f"hub-{self.name}-keepalive")
        replay = asyncio.create_task(self._replay(ws, reconnect), name=f"hub-{self.name}-replay")
        reason = "closed"
        try:
            done, _ = await asyncio.wait({reader, keepalive}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is None and task.result():
                    reason = str(task.result())
        finally:
            self._ready = False
            self.connected_event.clear()
            self._ws = None
            for side in (reader, keepalive, replay):
                side.cancel()
            await asyncio.gather(reader, keepalive, replay, return_exceptions=True)
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(HubError(f"{self.name}: connection lost"))
            if reason.startswith("server silent"):
                ws.transport.abort()
            else:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 2.0)
        raise _Lost(reason)

    async def _replay(self, ws: ClientConnection, reconnect: bool) -> None:
        done: set[tuple[str, tuple[Any, ...]]] = set()
        # Loop until nothing is left: subscribe() calls made meanwhile are only registered (not yet
        # ready), so they are picked up here.
        while todo := [key for key in self._subs if key not in done]:
            for method, args in todo:
                if ws is not self._ws:
                    return
                if not await self._invoke_checked(ws, method, args):
                    log.warning(
                        "%s: resubscribe %s failed twice; recycling the connection", self.name, method
                    )
                    await self._recycle(ws)
                    return
                done.add((method, args))
        if ws is not self._ws:
            return
        self._ready = True
        self._connected_at = time.monotonic()
        self.connected_event.set()
        self._set_state(HubState.CONNECTED, f"{len(self._subs)} subscriptions active")
        if reconnect:
            self.gaps += 1
            if self._on_gap is not None:
                self._call_side(self._on_gap)

    async def _recycle(self, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 2.0)

    async def _keepalive(self, ws: ClientConnection) -> str:
        """Ping every ``ping_interval_s``; return when nothing arrived for ``server_timeout_s``."""
        s = self.settings
        ping = sp.encode({"type": sp.PING})
        next_ping = time.monotonic() + s.ping_interval_s
        while True:
            now = time.monotonic()
            silent = now - self._last_rx
            if silent >= s.server_timeout_s:
                return f"server silent for {silent:.0f} s"
            if now >= next_ping:
                try:
                    await ws.send(ping)
                except ConnectionClosed:
                    return "closed while pinging"
                next_ping = now + s.ping_interval_s
            await asyncio.sleep(
                max(0.01, min(next_ping, self._last_rx + s.server_timeout_s) - time.monotonic())
            )

    async def _read(self, ws: ClientConnection, splitter: sp.FrameSplitter) -> str:
        try:
            async for frame in ws:
                self._last_rx = time.monotonic()
                trace = latency_trace.TRACE
                if trace is not None:
                    started = latency_trace.now_ns()
                    trace.frame(getattr(ws, "rx_ns", started), started)
                if isinstance(frame, bytes):
                    try:
                        frame = frame.decode("utf-8")
                    except UnicodeDecodeError:
                        self._skip("binary frame is not UTF-8", repr(frame[:80]))
                        continue
                for record in splitter.feed(frame):
                    if self._handle_record(record):
                        return "server sent Close"
                if trace is not None:
                    trace.span(f"{self.kind}-frame", started)
                    trace.rx_ns = 0
                if self._pause_reading is not None:
                    pause = self._pause_reading()
                    if pause is not None:
                        await pause
        except ConnectionClosed as exc:
            return f"connection closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
        return "connection closed"

    def _skip(self, why: str, record: str) -> None:
        self.skipped += 1
        log.warning("%s: malformed message skipped (%s): %.200s", self.name, why, record)

    def _handle_record(self, record: str) -> bool:
        """Process one record; True means the server closed the connection (type 7)."""
        try:
            msg = json.loads(record)
        except ValueError:
            self._skip("not JSON", record)
            return False
        trace = latency_trace.TRACE
        if trace is not None:
            trace.decoded_ns = latency_trace.now_ns()
        if not isinstance(msg, dict):
            self._skip("not an object", record)
            return False
        kind = msg.get("type")
        if kind == sp.INVOCATION:
            target = msg.get("target")
            arguments = msg.get("arguments")
            if not isinstance(target, str) or not isinstance(arguments, list):
                self._skip("invocation without target/arguments", record)
                return False
            self._dispatch(target, arguments, record)
        elif kind == sp.COMPLETION:
            future = self._pending.get(str(msg.get("invocationId")))
            if future is not None and not future.done():
                error = msg.get("error")
                if error:
                    future.set_exception(HubError(f"{self.name}: server error: {error}"))
                else:
                    future.set_result(msg.get("result"))
        elif kind == sp.CLOSE:
            error = msg.get("error")
            if error:
                log.warning("%s: server closed the connection with error %r", self.name, error)
            else:
                log.info("%s: server closed the connection", self.name)
            return True
        # PING and every other type (2, 4, 5, 8, 9, unknown) need nothing: receiving it reset the timer.
        return False

    def _dispatch(self, target: str, arguments: list[Any], record: str) -> None:
        if target == "GatewayLogout":
            log.warning("%s: GatewayLogout received; logging in again and reconnecting", self.name)
            self._emit(target, arguments)
            token = self._last_token
            ws = self._ws
            if token is not None:
                self._call_side(self._rejected, token)
            if ws is not None:
                self._call_side(self._recycle, ws)
            return
        items, skipped = self._decode(target, arguments)
        if skipped is not None:
            self._skip(skipped, record)
        for item in items:
            self._emit(target, item)

    def _decode(self, target: str, arguments: list[Any]) -> tuple[list[Any], str | None]:
        """Split an event's arguments into payloads; the base class passes the arguments through."""
        return [arguments], None

    def _emit(self, target: str, payload: Any) -> None:
        self.events += 1
        try:
            self._on_event(target, payload)
        except Exception:
            log.exception("%s: event callback raised on %s (connection kept)", self.name, target)


class _StampedConnection(ClientConnection):
    """Only while latency tracing is on: notes when bytes last arrived from the socket."""

    rx_ns = 0

    def data_received(self, data: bytes) -> None:
        self.rx_ns = latency_trace.now_ns()
        super().data_received(data)


MAX_RETRY_AFTER_S = 300.0


def _retry_after_s(value: str | None) -> float | None:
    """A Retry-After in seconds (the HTTP-date form is not used by the gateway), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return min(seconds, MAX_RETRY_AFTER_S)
