"""Third-party SignalR clients against the simulator's user hub (gateway.md §7.1).

They prove the simulator speaks SignalR as the libraries understand it, so that our own client's
passing tests are not a private dialect. pysignalr is asyncio-native; signalrcore runs on threads
(its blocking ``start`` goes to a worker thread so the in-process simulator keeps serving).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import httpx
import pytest

from risk_manager.gateway.rest import RestClient
from risk_manager.sim.server import SimServer
from tests.conformance.clients import client as published
from tests.conformance.clients import wait_subscribed
from tests.gateway.conftest import sim_post, wait_until

pytestmark = pytest.mark.timeout(60)


async def _buy(control: httpx.AsyncClient, contract: str) -> None:
    body = {"accountId": 1001, "contractId": contract, "type": "market", "side": "buy", "size": 1}
    await sim_post(control, "/sim/orders", body)


async def test_pysignalr_receives_events(
    sim: SimServer, rest: RestClient, control: httpx.AsyncClient, mnq: str
) -> None:
    pysignalr_client = published("pysignalr.client", "pysignalr")
    token = await rest.token()
    client = pysignalr_client.SignalRClient(f"{sim.base_url}/hubs/user?access_token={token}")
    received: list[Any] = []

    async def on_order(arguments: list[Any]) -> None:
        received.append(arguments)

    async def on_open() -> None:
        await client.send("SubscribeOrders", [1001])

    client.on("GatewayUserOrder", on_order)
    client.on_open(on_open)
    task = asyncio.create_task(client.run())
    try:
        await wait_subscribed(control, "SubscribeOrders:1001")
        await _buy(control, mnq)
        await wait_until(lambda: len(received) >= 2, 10, "pysignalr order events")
        payload = received[0][0]
        assert payload["data"]["accountId"] == 1001  # wrapped form, delivered as sent
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


@pytest.mark.parametrize("skip_negotiation", [False, True])
async def test_signalrcore_receives_events(
    sim: SimServer, rest: RestClient, control: httpx.AsyncClient, mnq: str, skip_negotiation: bool
) -> None:
    builder_mod = published("signalrcore.hub_connection_builder", "signalrcore")
    # signalrcore's stop() closes its socket and joins a reader thread blocked in recv(), which only
    # returns when the server sends something: ping every second so that teardown is quick.
    await sim_post(control, "/sim/settings", {"ping_interval_s": 1})
    token = await rest.token()
    options: dict[str, Any] = {"access_token_factory": lambda: token}
    url = f"{sim.base_url}/hubs/user"
    if skip_negotiation:
        options["skip_negotiation"] = True
        url = url.replace("http://", "ws://")
    hub = builder_mod.HubConnectionBuilder().with_url(url, options=options).build()
    received: list[Any] = []
    lock = threading.Lock()
    opened = threading.Event()

    def on_order(arguments: list[Any]) -> None:
        with lock:
            received.append(arguments)

    hub.on("GatewayUserOrder", on_order)
    hub.on_open(opened.set)
    assert await asyncio.to_thread(hub.start)
    try:
        await wait_until(opened.is_set, 10, "signalrcore open")
        await asyncio.to_thread(hub.send, "SubscribeOrders", [1001])
        await wait_subscribed(control, "SubscribeOrders:1001")
        await _buy(control, mnq)
        await wait_until(lambda: len(received) >= 2, 10, "signalrcore order events")
        with lock:
            assert received[0][0]["data"]["accountId"] == 1001
    finally:
        await asyncio.to_thread(hub.stop)


async def test_pysignalr_comes_back_after_drop_hubs(
    sim: SimServer, rest: RestClient, control: httpx.AsyncClient, mnq: str
) -> None:
    """gateway.md §7.1: after ``drop_hubs`` pysignalr reconnects (reusing its old id, without
    negotiating) and re-subscribes in its open callback; events flow again."""
    pysignalr_client = published("pysignalr.client", "pysignalr")
    token = await rest.token()
    client = pysignalr_client.SignalRClient(f"{sim.base_url}/hubs/user?access_token={token}")
    received: list[Any] = []
    opens: list[int] = []

    async def on_order(arguments: list[Any]) -> None:
        received.append(arguments)

    async def on_open() -> None:
        opens.append(1)
        await client.send("SubscribeOrders", [1001])

    client.on("GatewayUserOrder", on_order)
    client.on_open(on_open)
    task = asyncio.create_task(client.run())
    try:
        await wait_subscribed(control, "SubscribeOrders:1001")
        await sim_post(control, "/sim/faults", {"kind": "drop_hubs", "hub": "user"})
        await wait_until(lambda: len(opens) >= 2, 20, "pysignalr reopened after the drop")
        await wait_subscribed(control, "SubscribeOrders:1001")
        await _buy(control, mnq)
        await wait_until(lambda: len(received) >= 2, 10, "order events after the reconnect")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
