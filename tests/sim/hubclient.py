"""A raw SignalR JSON-protocol client on the ``websockets`` library, for testing the simulator's hubs.

Deliberately dumb: it sends exactly the bytes a test asks for and records every frame and record the
server sends, so tests can assert on framing (one message per frame, text frames, nothing before the
handshake) as well as on content. No reconnects, no pings unless a test sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

RS = "\x1e"


def ws_url(http_url: str) -> str:
    return "ws://" + http_url.removeprefix("http://")


async def negotiate(
    hub_url: str, token: str | None, *, via: str = "query", query: str = ""
) -> httpx.Response:
    params = f"?negotiateVersion=1{query}"
    headers = {}
    if token and via in ("query", "both"):
        params += "&access_token=" + token
    if token and via in ("header", "both"):
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient() as client:
        return await client.post(f"{hub_url}/negotiate{params}", headers=headers, content=b"")


class HubClient:
    """One WebSocket connection to a hub; ``messages`` holds every parsed record received so far."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[str | bytes] = []
        self.messages: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._ids = itertools.count(1)
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(
        cls,
        hub_url: str,
        token: str | None,
        *,
        negotiated: bool = True,
        via: str = "query",
        extra_query: dict[str, str] | None = None,
        handshake: str | None = '{"protocol":"json","version":1}',
    ) -> HubClient:
        """Negotiate (optionally), upgrade, send ``handshake`` (unless None) and wait for ``{}``."""
        query: dict[str, str] = {}
        if negotiated:
            answer = await negotiate(hub_url, token, via=via)
            assert answer.status_code == 200, answer.text
            query["id"] = answer.json()["connectionToken"]
        query.update(extra_query or {})
        headers = {}
        if token and via in ("query", "both"):
            query["access_token"] = token
        if token and via in ("header", "both"):
            headers["Authorization"] = f"Bearer {token}"
        url = ws_url(hub_url) + ("?" + urlencode(query) if query else "")
        ws = await connect(url, additional_headers=headers, ping_interval=None, compression=None)
        client = cls(ws)
        if handshake is not None:
            await client.send_raw(handshake + RS)
            reply = await client.wait_for(lambda m: True, what="handshake reply")
            assert reply == {}, reply
        return client

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                self.frames.append(frame)
                text = frame.decode() if isinstance(frame, bytes) else frame
                for record in text.split(RS):
                    if record.strip():
                        self.messages.append(json.loads(record))
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def send(self, *messages: dict[str, Any], binary: bool = False) -> None:
        """All messages in one frame (text by default, binary with ``binary``)."""
        text = "".join(json.dumps(m) + RS for m in messages)
        await self.ws.send(text.encode() if binary else text)

    async def invoke(self, target: str, *args: Any, timeout: float = 5.0) -> dict[str, Any]:
        """Invoke with an invocationId and return its completion."""
        inv = str(next(self._ids)) + "-" + target
        await self.send({"type": 1, "invocationId": inv, "target": target, "arguments": list(args)})
        return await self.wait_for(
            lambda m: m.get("type") == 3 and m.get("invocationId") == inv, timeout, f"completion of {target}"
        )

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0, what: str = "message"
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages:
                if predicate(message):
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; got {self.messages!r}")
            await asyncio.sleep(0.005)

    def events(self, target: str) -> list[list[Any]]:
        """The ``arguments`` of every event with this target, in arrival order."""
        return [m["arguments"] for m in self.messages if m.get("type") == 1 and m.get("target") == target]

    async def wait_events(self, target: str, count: int, timeout: float = 5.0) -> list[list[Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events(target)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {count} x {target}; got {self.messages!r}")
            await asyncio.sleep(0.005)
        return self.events(target)

    async def wait_closed(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self.closed.wait(), timeout)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


def unwrap(argument: Any) -> Any:
    """A user-hub payload in either form → the object."""
    if isinstance(argument, dict) and isinstance(argument.get("data"), dict) and "id" not in argument:
        return argument["data"]
    return argument
