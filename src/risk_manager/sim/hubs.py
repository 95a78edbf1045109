"""The two SignalR hubs (spec/gateway.md §4-§5, §7.2) served by aiohttp on the simulator's one port.

Events published by the matching engine are queued and written by one flusher under a lock, so frames
leave in the order the state changed, and a REST handler can ``await flush()`` to put an execution's
events on the wire before its HTTP answer (setting ``events_before_response``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from risk_manager.sim.auth import TokenInfo
from risk_manager.sim.events import MARKET_STREAMS, USER_STREAMS, Event
from risk_manager.sim.journal import CAUSE
from risk_manager.sim.wire import dumps, iso, plain, utcnow

if TYPE_CHECKING:
    from risk_manager.sim.core import Simulator

log = logging.getLogger("risk_manager.sim.hubs")

RS = "\x1e"
PING_FRAME = '{"type":6}' + RS
USER_METHODS = {
    "SubscribeAccounts",
    "UnsubscribeAccounts",
    "SubscribeOrders",
    "UnsubscribeOrders",
    "SubscribePositions",
    "UnsubscribePositions",
    "SubscribeTrades",
    "UnsubscribeTrades",
}
MARKET_METHODS = {
    "SubscribeContractQuotes",
    "UnsubscribeContractQuotes",
    "SubscribeContractTrades",
    "UnsubscribeContractTrades",
    "SubscribeContractMarketDepth",
    "UnsubscribeContractMarketDepth",
}
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Allow-Credentials": "true",
}


def token_from(request: web.Request) -> tuple[str | None, str | None]:
    """The JWT from ``access_token`` or the Bearer header, and which one carried it."""
    query = request.query.get("access_token")
    if query:
        return query, "query"
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None, "header"
    return None, None


@dataclass(eq=False)
class Connection:
    id: str
    hub: str
    user: str
    token: TokenInfo
    ws: web.WebSocketResponse
    transport: Any
    token_via: str | None
    negotiated: bool
    connected_at: datetime = field(default_factory=utcnow)
    subscriptions: set[str] = field(default_factory=set)
    last_rx: float = field(default_factory=time.monotonic)
    last_ping: float = field(default_factory=time.monotonic)
    closed: bool = False

    def wants(self, stream: str, key: Any) -> bool:
        if stream == "SubscribeAccounts":
            return stream in self.subscriptions
        return f"{stream}:{key}" in self.subscriptions

    async def send(self, text: str) -> bool:
        if self.closed or self.ws.closed:
            return False
        try:
            await self.ws.send_str(text)
            return True
        except (ConnectionError, RuntimeError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            self.closed = True
            return False

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hub": self.hub,
            "userName": self.user,
            "connectedAt": iso(self.connected_at),
            "subscriptions": sorted(self.subscriptions),
        }


@dataclass(slots=True)
class _Pending:
    event: Event
    cause: int | None
    only: Connection | None = None  # a snapshot for one connection


class HubServer:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        sim.hubs = self
        self.connections: dict[str, Connection] = {}
        self._ids = itertools.count(1)
        self._pending: deque[_Pending] = deque()
        self._lock = asyncio.Lock()
        self._flush_scheduled = False
        self._holds = 0
        self._held: dict[int, list[_Pending]] = {}  # reorder fault id -> held events
        self._ticker: asyncio.Task[None] | None = None
        self.on_subscribe: list[Any] = []  # callbacks(hub, target, argument, user)

    # -- routes ------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        for hub in ("user", "market"):
            app.router.add_route("POST", f"/hubs/{hub}/negotiate", self._negotiate)
            app.router.add_route("OPTIONS", f"/hubs/{hub}/negotiate", self._preflight)
            app.router.add_route("OPTIONS", f"/hubs/{hub}", self._preflight)
            app.router.add_route("GET", f"/hubs/{hub}", self._upgrade)

    def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_loop())

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.close_all(message='{"type":7}' + RS, reason="shutdown")

    @staticmethod
    def _hub_of(request: web.Request) -> str:
        return "user" if request.path.startswith("/hubs/user") else "market"

    async def _preflight(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers=CORS)

    def _authenticate(self, request: web.Request) -> tuple[TokenInfo | None, str | None, web.Response | None]:
        hub = self._hub_of(request)
        token, via = token_from(request)
        info = self.sim.tokens.verify(token, self.sim.user_exists)
        if info is None:
            return None, via, web.json_response({"error": "unauthorized"}, status=401, headers=CORS)
        if self.sim.faults.outage(hub, info.user):
            return None, via, web.json_response({"error": "service unavailable"}, status=503, headers=CORS)
        return info, via, None

    async def _negotiate(self, request: web.Request) -> web.Response:
        await request.read()
        _, _, failure = self._authenticate(request)
        if failure is not None:
            return failure
        conn_id = secrets.token_urlsafe(16)
        body = {
            "negotiateVersion": 1,
            "connectionId": conn_id,
            "connectionToken": conn_id,
            "availableTransports": [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}],
        }
        return web.json_response(body, headers=CORS)

    async def _upgrade(self, request: web.Request) -> web.StreamResponse:
        hub = self._hub_of(request)
        info, via, failure = self._authenticate(request)
        if failure is not None or info is None:
            return failure or web.json_response({"error": "unauthorized"}, status=401)
        ws = web.WebSocketResponse(heartbeat=None, autoping=True, max_msg_size=16 * 1024 * 1024)
        if not ws.can_prepare(request).ok:
            return web.json_response({"error": "expected a WebSocket upgrade"}, status=400)
        await ws.prepare(request)
        negotiated = "id" in request.query
        conn = Connection(
            id=f"c-{next(self._ids)}",
            hub=hub,
            user=info.user,
            token=info,
            ws=ws,
            transport=request.transport,
            token_via=via,
            negotiated=negotiated,
        )
        try:
            rest = await self._handshake(conn)
            if rest is None:
                return ws
            self.connections[conn.id] = conn
            self._journal_connection("hub_connect", conn, None)
            for record in rest:
                await self._handle(conn, record)
            await self._read_loop(conn)
        finally:
            if self.connections.pop(conn.id, None) is not None:
                self._journal_connection("hub_disconnect", conn, "closed")
            conn.closed = True
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
        return ws

    # -- protocol ----------------------------------------------------------------------------------------
    @staticmethod
    def _text(msg: Any) -> str | None:
        if msg.type == WSMsgType.TEXT:
            return str(msg.data)
        if msg.type == WSMsgType.BINARY:
            try:
                return bytes(msg.data).decode("utf-8")
            except UnicodeDecodeError:
                return ""
        return None

    async def _handshake(self, conn: Connection) -> list[str] | None:
        """Parse the handshake; returns the records that followed it in the same frame, or None."""
        timeout = float(self.sim.settings["handshake_timeout_s"]) or None
        buffer = ""
        while RS not in buffer:
            try:
                msg = await asyncio.wait_for(conn.ws.receive(), timeout)
            except TimeoutError:
                await conn.ws.close()
                return None
            text = self._text(msg)
            if text is None:
                return None
            buffer += text
        first, _, rest = buffer.partition(RS)
        try:
            request = json.loads(first)
        except ValueError:
            request = None
        if not isinstance(request, dict) or request.get("protocol") != "json":
            protocol = request.get("protocol") if isinstance(request, dict) else None
            await conn.send(dumps({"error": f"Requested protocol '{protocol}' is not available."}) + RS)
            await conn.ws.close()
            return None
        await conn.send("{}" + RS)
        conn.last_ping = time.monotonic()
        return [r for r in rest.split(RS) if r.strip()]

    async def _read_loop(self, conn: Connection) -> None:
        while not conn.closed:
            msg = await conn.ws.receive()
            text = self._text(msg)
            if text is None:
                return  # close, closed, error
            conn.last_rx = time.monotonic()
            for record in text.split(RS):
                if record.strip():
                    await self._handle(conn, record)

    async def _handle(self, conn: Connection, record: str) -> None:
        try:
            message = json.loads(record)
        except ValueError:
            log.warning("hub %s: connection %s sent a frame that is not JSON; skipped", conn.hub, conn.id)
            return
        if not isinstance(message, dict):
            return
        mtype = message.get("type")
        if mtype == 7:
            conn.closed = True
            await conn.ws.close()
            return
        if mtype != 1:
            return  # pings and everything else
        await self._invoke(conn, message)

    async def _invoke(self, conn: Connection, message: dict[str, Any]) -> None:
        target = message.get("target")
        args = message.get("arguments")
        inv_id = message.get("invocationId")
        args = args if isinstance(args, list) else []
        methods = USER_METHODS if conn.hub == "user" else MARKET_METHODS
        outcome = "ok"
        error: str | None = None
        follow: list[Any] = []
        if not isinstance(target, str) or target not in methods:
            error = f"Unknown hub method '{target}'"
            outcome = f"error: {error}"
        else:
            outcome, error, follow = self._subscribe(conn, target, args)
        self.sim.journal.append(
            "hub_call",
            hub=conn.hub,
            connection_id=conn.id,
            user=conn.user,
            target=target,
            arguments=args,
            invocation_id=inv_id,
            outcome=outcome,
        )
        if inv_id is not None:
            completion: dict[str, Any] = {"type": 3, "invocationId": inv_id}
            if error:
                completion["error"] = error
            await conn.send(dumps(completion) + RS)
        for event in follow:
            self._pending.append(_Pending(event, CAUSE.get(), conn))
        if follow:
            await self.flush()
        if error is None and isinstance(target, str) and target.startswith("Subscribe"):
            for callback in self.on_subscribe:
                callback(conn.hub, target, args[0] if args else None, conn.user)

    def _subscribe(
        self, conn: Connection, target: str, args: list[Any]
    ) -> tuple[str, str | None, list[Event]]:
        subscribe = target.startswith("Subscribe")
        stream = target if subscribe else "Subscribe" + target[len("Unsubscribe") :]
        follow: list[Event] = []
        if stream == "SubscribeAccounts":
            key = stream
        else:
            if not args:
                return f"error: {target} expects one argument", f"{target} expects one argument", []
            arg = args[0]
            if conn.hub == "user":
                if isinstance(arg, bool) or not isinstance(arg, int | float | str):
                    return "ignored: bad account id", None, []
                try:
                    acct_id = int(arg)
                except ValueError:
                    return "ignored: bad account id", None, []
                account = self.sim.broker.accounts.get(acct_id)
                if account is None or account.user != conn.user:
                    return f"ignored: unknown or foreign account {arg}", None, []
                key = f"{stream}:{acct_id}"
            else:
                contract = self.sim.table.by_id(str(arg))
                if contract is None:
                    return f"ignored: unknown contract {arg}", None, []
                key = f"{stream}:{contract.id}"
        if not subscribe:
            conn.subscriptions.discard(key)
            return "ok", None, []
        conn.subscriptions.add(key)
        settings = self.sim.settings
        if conn.hub == "market":
            contract = self.sim.table.by_id(str(args[0]))
            assert contract is not None
            if stream == "SubscribeContractQuotes" and settings["quote_on_subscribe"]:
                follow.append(
                    Event(
                        "market",
                        "GatewayQuote",
                        self.sim.market.quote_payload(contract),
                        contract_id=contract.id,
                    )
                )
            if stream == "SubscribeContractMarketDepth":
                follow.append(
                    Event(
                        "market",
                        "GatewayDepth",
                        self.sim.market.depth_entries(contract, reset=True),
                        contract_id=contract.id,
                    )
                )
        elif settings["user_snapshot_on_subscribe"]:
            follow.extend(self._snapshot(conn, stream, args))
        return "ok", None, follow

    def _snapshot(self, conn: Connection, stream: str, args: list[Any]) -> list[Event]:
        b = self.sim.broker
        out: list[Event] = []
        if stream == "SubscribeAccounts":
            for a in b.accounts_of(conn.user):
                out.append(Event("user", "GatewayUserAccount", a.to_wire(), account_id=a.id, user=a.user))
            return out
        acct = int(args[0])
        if stream == "SubscribeOrders":
            for o in b.working_orders(acct):
                out.append(Event("user", "GatewayUserOrder", o.to_wire(), account_id=acct, user=conn.user))
        elif stream == "SubscribePositions":
            for p in b.open_positions(acct):
                out.append(Event("user", "GatewayUserPosition", p.to_wire(), account_id=acct, user=conn.user))
        return out

    # -- publishing --------------------------------------------------------------------------------------
    def publish(self, event: Event) -> None:
        self._pending.append(_Pending(event, CAUSE.get()))
        if not self._flush_scheduled and not self._holds:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._spawn_flush)

    def hold(self) -> None:
        """Keep published events queued (``events_before_response: false``: answer first)."""
        self._holds += 1

    async def release(self) -> None:
        self._holds = max(0, self._holds - 1)
        if not self._holds:
            await self.flush()

    def _spawn_flush(self) -> None:
        self._flush_scheduled = False
        if self._pending:
            task = asyncio.ensure_future(self.flush())
            task.add_done_callback(_log_failure)

    async def flush(self) -> None:
        async with self._lock:
            while self._pending:
                await self._deliver(self._pending.popleft())

    def _recipients(self, event: Event) -> list[Connection]:
        out = []
        if event.hub == "user":
            stream = USER_STREAMS.get(event.target)
            for conn in self.connections.values():
                if conn.hub == "user" and conn.user == event.user and not conn.closed:
                    if stream is None or conn.wants(stream, event.account_id):
                        out.append(conn)
        else:
            stream = MARKET_STREAMS.get(event.target)
            for conn in self.connections.values():
                if (
                    conn.hub == "market"
                    and not conn.closed
                    and (stream is None or conn.wants(stream, event.contract_id))
                ):
                    out.append(conn)
        return out

    def _frames(self, event: Event) -> list[tuple[list[Any], str]]:
        settings = self.sim.settings
        payload = plain(event.payload)
        if event.hub == "user":
            if event.target != "GatewayLogout" and settings["user_event_format"] == "wrapped":
                payload = {"action": 1, "data": payload}
            args = [] if event.target == "GatewayLogout" else [payload]
            return [(args, dumps({"type": 1, "target": event.target, "arguments": args}) + RS)]
        if event.target == "GatewayLogout":
            return [([], dumps({"type": 1, "target": event.target, "arguments": []}) + RS)]
        items = [payload]
        if isinstance(payload, list) and settings["market_event_format"] == "object":
            items = payload
        out = []
        for item in items:
            args = [event.contract_id, item]
            out.append((args, dumps({"type": 1, "target": event.target, "arguments": args}) + RS))
        return out

    async def _deliver(self, pending: _Pending) -> None:
        event = pending.event
        faults = self.sim.faults
        if pending.only is None:
            if event.hub == "market" and faults.market_paused():
                return
            drop = faults.event_fault("drop_events", event.hub, event.target, event.user)
            if drop is not None:
                drop.remaining = (drop.remaining or 1) - 1
                for args, _ in self._frames(event):
                    self._journal_event(pending, args, 0, dropped=True)
                return
            reorder = faults.event_fault("reorder_events", event.hub, event.target, event.user)
            if reorder is not None:
                held = self._held.setdefault(reorder.id, [])
                held.append(pending)
                if len(held) >= int(reorder.spec.get("count") or 2):
                    reorder.remaining = 0
                    await self._release(reorder.id)
                elif len(held) == 1:
                    asyncio.get_running_loop().call_later(1.0, self._release_later, reorder.id)
                return
        delay = faults.latency_ms(f"{event.hub}_hub", None, event.user) if pending.only is None else 0
        if delay:
            await asyncio.sleep(delay / 1000)
        await self._send(pending)

    def _release_later(self, fault_id: int) -> None:
        if fault_id in self._held:
            fault = next((f for f in self.sim.faults.active() if f.id == fault_id), None)
            if fault is not None:
                fault.remaining = 0
            task = asyncio.ensure_future(self._release_locked(fault_id))
            task.add_done_callback(_log_failure)

    async def _release_locked(self, fault_id: int) -> None:
        async with self._lock:
            await self._release(fault_id)

    async def _release(self, fault_id: int) -> None:
        for pending in reversed(self._held.pop(fault_id, [])):
            await self._send(pending)

    async def _send(self, pending: _Pending) -> None:
        event = pending.event
        recipients = [pending.only] if pending.only is not None else self._recipients(event)
        duplicate = False
        if pending.only is None and event.hub == "user":
            dup = self.sim.faults.event_fault("duplicate_events", event.hub, event.target, event.user)
            if dup is not None:
                dup.remaining = (dup.remaining or 1) - 1
                duplicate = True
        for args, frame in self._frames(event):
            self._journal_event(pending, args, len(recipients), duplicate=duplicate)
            for conn in recipients:
                await conn.send(frame)
                if duplicate:
                    await conn.send(frame)

    def _journal_event(
        self,
        pending: _Pending,
        args: list[Any],
        recipients: int,
        *,
        duplicate: bool = False,
        dropped: bool = False,
    ) -> None:
        event = pending.event
        self.sim.journal.append_plain(
            "event",
            dict(
                hub=event.hub,
                target=event.target,
                arguments=args,
                accountId=event.account_id,
                contractId=event.contract_id,
                recipients=recipients,
                duplicate=duplicate,
                dropped=dropped,
                cause_seq=pending.cause,
            ),
        )

    # -- connection management ---------------------------------------------------------------------------
    def _journal_connection(self, kind: str, conn: Connection, reason: str | None) -> None:
        self.sim.journal.append(
            kind,
            hub=conn.hub,
            connection_id=conn.id,
            user=conn.user,
            token_via=conn.token_via,
            negotiated=conn.negotiated,
            reason=reason,
        )

    def matching(self, hub: str, user: str | None) -> list[Connection]:
        return [
            c for c in self.connections.values() if hub in ("all", c.hub) and (user is None or c.user == user)
        ]

    async def drop(self, hub: str = "all", user: str | None = None, mode: str = "close_frame") -> int:
        conns = self.matching(hub, user)
        for conn in conns:
            await self._close(conn, mode)
        return len(conns)

    async def _close(
        self, conn: Connection, mode: str, error: str = "Server fault: connection closed"
    ) -> None:
        self.connections.pop(conn.id, None)
        self._journal_connection("hub_disconnect", conn, mode)
        if mode == "abort":
            conn.closed = True
            if conn.transport is not None:
                conn.transport.abort()
            return
        if mode == "close_message":
            await conn.send('{"type":7,"allowReconnect":true}' + RS)
        elif mode == "error":
            await conn.send(dumps({"type": 7, "error": error}) + RS)
        conn.closed = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.ws.close(code=1001), 2)

    async def close_all(self, message: str | None = None, reason: str = "reset") -> None:
        for conn in list(self.connections.values()):
            if message:
                await conn.send(message)
            await self._close(conn, "close_frame")

    async def logout(self, user: str | None) -> None:
        for conn in self.matching("all", user):
            await conn.send(dumps({"type": 1, "target": "GatewayLogout", "arguments": []}) + RS)

    def describe(self) -> list[dict[str, Any]]:
        return [c.describe() for c in self.connections.values()]

    async def _tick_loop(self) -> None:
        """Server pings, silent-client drops, continuous token checks and quote heartbeats."""
        last_heartbeat = time.monotonic()
        while True:
            settings = self.sim.settings
            interval = float(settings["ping_interval_s"])
            timeout = float(settings["client_timeout_s"])
            # tick at least twice per ping interval so small test intervals are honoured
            await asyncio.sleep(max(0.02, min(0.5, (interval or 1) / 2, (timeout or 1) / 4)))
            now = time.monotonic()
            settings = self.sim.settings
            interval = float(settings["ping_interval_s"])
            timeout = float(settings["client_timeout_s"])
            for conn in list(self.connections.values()):
                if timeout and now - conn.last_rx > timeout:
                    await self._close(conn, "close_frame")
                    continue
                if settings["hub_token_check"] == "continuous" and not self.sim.tokens.still_valid(
                    conn.token
                ):
                    await self._close(conn, "close_frame")
                    continue
                if interval and now - conn.last_ping >= interval:
                    conn.last_ping = now
                    await conn.send(PING_FRAME)
            beat = float(settings["quote_heartbeat_s"])
            if beat and now - last_heartbeat >= beat:
                last_heartbeat = now
                subscribed = {
                    s.split(":", 1)[1]
                    for c in self.connections.values()
                    for s in c.subscriptions
                    if s.startswith("SubscribeContractQuotes:")
                }
                for cid in subscribed:
                    contract = self.sim.table.by_id(cid)
                    if contract is not None:
                        self.publish(
                            Event(
                                "market",
                                "GatewayQuote",
                                self.sim.market.quote_payload(contract),
                                contract_id=cid,
                            )
                        )


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("hub delivery failed", exc_info=task.exception())
