"""Malformed hub traffic is skipped with a log line and never ends the connection.

The simulator only sends well-formed frames, so this test serves a minimal SignalR hub on a real
loopback socket (``websockets`` server) that sends garbage between valid events.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from risk_manager.gateway.hub import HubSettings
from risk_manager.gateway.hubs import UserHub
from tests.gateway.conftest import Events, wait_until

pytestmark = pytest.mark.timeout(30)

RS = "\x1e"
GOOD = {"type": 1, "target": "GatewayUserOrder", "arguments": [{"action": 1, "data": {"id": 7, "status": 1}}]}
BAD_RECORDS = [
    "not json at all",
    "[1, 2, 3]",
    json.dumps({"type": 1, "target": "GatewayUserOrder"}),  # no arguments
    json.dumps({"type": 1, "target": "GatewayUserOrder", "arguments": [5]}),  # not an object
    json.dumps({"type": 99, "whatever": True}),  # unknown type: ignored silently
    json.dumps({"type": 2, "invocationId": "x", "item": 1}),  # stream item: ignored silently
]


async def _hub(ws: ServerConnection) -> None:
    handshake = await ws.recv()
    assert json.loads(str(handshake).split(RS)[0])["protocol"] == "json"
    await ws.send("{}" + RS)
    async for frame in ws:
        for record in str(frame).split(RS):
            if not record:
                continue
            msg = json.loads(record)
            if msg.get("type") == 1 and msg.get("invocationId"):
                await ws.send(json.dumps({"type": 3, "invocationId": msg["invocationId"]}) + RS)
                if msg["target"] != "SubscribeOrders":
                    continue
                # Garbage first (several records in one frame, a bad binary frame), then a good event.
                await ws.send(RS.join(BAD_RECORDS) + RS)
                await ws.send(b"\xff\xfe not utf-8")
                await ws.send(json.dumps(GOOD) + RS + json.dumps(GOOD | {"arguments": [{"id": 8}]}) + RS)


@pytest.fixture
async def raw_hub_url() -> AsyncIterator[str]:
    async with serve(_hub, "127.0.0.1", 0, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}/hubs/user"


async def test_malformed_records_skipped(raw_hub_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "risk_manager.gateway.hub")
    events = Events()

    async def token() -> str:
        return "header.payload.sig"

    hub = UserHub(raw_hub_url, token, events.on_event, settings=HubSettings(skip_negotiation=True))
    hub.start()
    try:
        await hub.subscribe_account(1001)
        await hub.wait_connected(10)
        await wait_until(lambda: len(events.of("GatewayUserOrder")) >= 2, 10, "the valid events")
        payloads: list[Any] = events.of("GatewayUserOrder")
        assert payloads[:2] == [{"id": 7, "status": 1}, {"id": 8}]
        assert hub.skipped == 5 and hub.connects == 1
        assert caplog.text.count("malformed message skipped") == 5
        assert "header.payload.sig" not in caplog.text
    finally:
        await hub.stop()
