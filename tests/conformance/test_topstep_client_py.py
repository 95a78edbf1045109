"""topstep-client-py (httpx REST, signalrcore hubs built with an explicit ``hub_url``) against the
simulator: sign-in, reads, a close, and wrapped order events delivered as sent (gateway.md §7.1).
It installs on Python 3.11, so it runs in the main CI venv."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from risk_manager.sim.server import SimServer
from tests.conformance.clients import client, wait_subscribed
from tests.gateway.conftest import sim_post, wait_until

pytestmark = pytest.mark.timeout(60)
DIST = "topstep-client-py"


async def test_sign_in_reads_close_and_user_events(
    sim: SimServer, control: httpx.AsyncClient, mnq: str
) -> None:
    topstep = client("topstep.client", DIST)
    hubs = client("topstep.realtime.user_hub", DIST)
    # signalrcore's stop() waits for the next server frame: ping every second for a quick teardown
    await sim_post(control, "/sim/settings", {"ping_interval_s": 1})
    urls = sim.urls()
    api = await topstep.TopstepClient.create("sim", "sim-key", base_url=urls["api_url"])
    async with api:
        [account] = await api.accounts.search(only_active=False)
        assert account.id == 1001
        received: list[Any] = []
        lock = threading.Lock()

        def on_order(payload: Any) -> None:
            with lock:
                received.append(payload)

        hub = hubs.UserHub(api.token, hub_url=urls["user_hub_url"])
        hub.on_order(on_order)
        opened = threading.Event()
        hub.on_open(opened.set)
        await hub.connect()
        try:
            # signalrcore's start() returns before the handshake: an invocation sent before the
            # connection is open is dropped (on a loaded machine), so subscribe once it is open,
            # as a user of this client must.
            await wait_until(opened.is_set, 10, "the user hub open")
            await hub.subscribe_orders(1001)
            await wait_subscribed(control, "SubscribeOrders:1001")
            await sim_post(
                control,
                "/sim/orders",
                {"accountId": 1001, "contractId": mnq, "type": 2, "side": 0, "size": 1},
            )
            await wait_until(lambda: len(received) >= 2, 10, "order events")
            assert [p.size for p in await api.positions.search_open(1001)] == [1]
            await api.positions.close(1001, mnq)
            assert await api.positions.search_open(1001) == []
        finally:
            await hub.stop()
