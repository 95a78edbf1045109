"""The dashboard's WebSocket client for the daemon's local API (daemon.md §9), read-only by construction.

The only frames this client can send are read-only requests (``snapshot``, ``status``, ``history.*``):
``request`` refuses any other op before anything is encoded, and there is no way to send a raw frame.
No admin session, no password, no ``unlock`` or ``reload_config`` code path exists on this side.
Requests are encoded with the daemon's own ``api_protocol`` so both ends share one wire format.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from risk_manager import __version__
from risk_manager.daemon.api.protocol import PROTOCOL_VERSION, PUBLIC_OPS, dumps

log = logging.getLogger("risk_manager.trader.client")

SILENCE_S = 10.0  # no message at all (the daemon's heartbeat comes every 5 s): the link is lost


class MalformedMessage(ValueError):
    """A frame from the daemon that is not a usable message; counted and ignored."""


class ConnectionLost(ConnectionError):
    """The socket closed or went silent; the message says which."""


def parse_message(raw: str | bytes) -> dict[str, Any]:
    """One server frame -> its envelope dict, or ``MalformedMessage`` naming what is wrong."""
    if isinstance(raw, bytes):
        raise MalformedMessage("binary frame")
    try:
        msg = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MalformedMessage(f"malformed JSON at column {exc.colno}: {exc.msg}") from None
    if not isinstance(msg, dict):
        raise MalformedMessage(f"a message must be a JSON object, got {type(msg).__name__}")
    if not isinstance(msg.get("type"), str):
        raise MalformedMessage("missing field 'type'")
    if not isinstance(msg.get("v"), int) or isinstance(msg.get("v"), bool):
        raise MalformedMessage("missing or non-integer field 'v'")
    seq = msg.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise MalformedMessage("missing or invalid field 'seq'")
    if "data" in msg and msg["data"] is not None and not isinstance(msg["data"], dict):
        raise MalformedMessage("field 'data' must be an object")
    account = msg.get("accountId")
    if account is not None and (not isinstance(account, int) or isinstance(account, bool)):
        raise MalformedMessage("field 'accountId' must be an integer")
    return msg


class DaemonClient:
    """One connection to the daemon. ``receive()`` yields pushes; ``request()`` answers come back by id."""

    def __init__(
        self,
        url: str,
        *,
        silence_s: float = SILENCE_S,
        open_timeout: float = 5.0,
        record: list[str] | None = None,
        on_malformed: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.silence_s = silence_s
        self.open_timeout = open_timeout
        # Every op this client ever sent (diagnostics, and the read-only proof in the tests).
        self.sent_ops: list[str] = record if record is not None else []
        self.malformed = 0
        self._on_malformed = on_malformed
        self.last_seq = 0
        self.gap = False  # a ``seq`` was skipped since the last check: something was missed
        self._ws: ClientConnection | None = None
        self._ids = 0
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def open(self) -> None:
        sep = "&" if "?" in self.url else "?"
        self._ws = await connect(
            f"{self.url}{sep}v={PROTOCOL_VERSION}",
            max_size=None,
            open_timeout=self.open_timeout,
            compression=None,
            user_agent_header=f"risk-manager-trader/{__version__}",
            # The API's own heartbeat (every 5 s) is the keep-alive; pings would only add traffic.
            ping_interval=None,
        )

    async def close(self) -> None:
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionLost("connection closed"))
        self._waiting.clear()
        if self._ws is not None:
            ws, self._ws = self._ws, None
            await ws.close()

    async def receive(self) -> dict[str, Any]:
        """The next push (responses are routed to their ``request``); raises ``ConnectionLost``."""
        while True:
            if self._ws is None:
                raise ConnectionLost("not connected")
            try:
                raw = await asyncio.wait_for(self._ws.recv(), self.silence_s)
            except TimeoutError:
                raise ConnectionLost(f"no message from the daemon for {self.silence_s:.0f} s") from None
            except ConnectionClosed as exc:
                reason = exc.rcvd.reason if exc.rcvd is not None and exc.rcvd.reason else "closed"
                raise ConnectionLost(f"connection closed ({reason})") from None
            try:
                msg = parse_message(raw)
            except MalformedMessage as exc:
                self.malformed += 1
                log.warning("malformed message from the daemon ignored: %s", exc)
                if self._on_malformed is not None:
                    self._on_malformed(str(exc))
                continue
            seq = int(msg["seq"])
            if self.last_seq and seq != self.last_seq + 1:
                self.gap = True
            self.last_seq = seq
            if msg["type"] == "response":
                fut = self._waiting.pop(str(msg.get("id")), None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
                continue
            return msg

    async def request(
        self, op: str, data: dict[str, Any] | None = None, timeout: float = 10.0
    ) -> dict[str, Any]:
        """A read-only request; returns the response envelope. Any other op is refused here."""
        if op not in PUBLIC_OPS:
            raise ValueError(f"the trader dashboard sends read-only requests only, not {op!r}")
        if self._ws is None:
            raise ConnectionLost("not connected")
        self._ids += 1
        rid = f"trader-{self._ids}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        self.sent_ops.append(op)
        try:
            await self._ws.send(dumps({"id": rid, "op": op, "data": data or {}}))
            return await asyncio.wait_for(fut, timeout)
        except ConnectionClosed:
            raise ConnectionLost("connection closed") from None
        finally:
            self._waiting.pop(rid, None)
