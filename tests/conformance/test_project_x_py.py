"""project-x-py (REST client, OrderManager, PositionManager, pysignalr-based realtime client) against
the simulator: sign-in, reads, orders, closes, the user and market hubs, and a reconnect.
Requires Python >= 3.12 (the package's own requirement)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from risk_manager.sim.server import SimServer
from tests.conformance.clients import client, wait_subscribed
from tests.gateway.conftest import sim_post, wait_until

pytestmark = pytest.mark.timeout(90)
PX = "project-x-py"


@pytest.fixture
async def px(sim: SimServer) -> AsyncIterator[Any]:
    mod = client("project_x_py", PX, (3, 12))
    models = client("project_x_py.models", PX, (3, 12))
    urls = sim.urls()
    config = models.ProjectXConfig(
        api_url=urls["api_url"] + "/api",
        user_hub_url=urls["user_hub_url"],
        market_hub_url=urls["market_hub_url"],
        retry_attempts=1,
        retry_delay_seconds=0.1,
    )
    async with mod.ProjectX("sim", "sim-key", config=config) as c:
        await c.authenticate()
        yield c


def _managers(px: Any) -> tuple[Any, Any]:
    bus = client("project_x_py.event_bus", PX, (3, 12)).EventBus()
    orders = client("project_x_py.order_manager", PX, (3, 12)).OrderManager(px, bus)
    positions = client("project_x_py.position_manager", PX, (3, 12)).PositionManager(px, bus)
    return orders, positions


async def test_sign_in_reads_orders_and_closes(px: Any, control: httpx.AsyncClient) -> None:
    assert px.account_info.id == 1001
    assert [a.id for a in await px.list_accounts()] == [1001]
    mnq = await px.get_instrument("MNQ")
    assert mnq.id.startswith("CON.F.US.MNQ.") and mnq.tickSize == 0.25
    await sim_post(control, "/sim/settings", {"commissions_per_side": {"MNQ": 0.1}})
    orders, positions = _managers(px)
    assert (await orders.place_market_order(mnq.id, 0, 2)).success
    limit = await orders.place_limit_order(mnq.id, 0, 1, 24000.0)
    assert await orders.modify_order(limit.orderId, limit_price=24001.0)
    assert await orders.cancel_order(limit.orderId)
    assert await orders.search_open_orders() == []
    [position] = await px.search_open_positions()
    assert (position.size, position.type) == (2, 1)
    [trade] = await px.search_trades()
    assert trade.fees == 0.74 and trade.commissions == 0.2
    assert await positions.partially_close_position(mnq.id, 1)
    assert [p.size for p in await px.search_open_positions()] == [1]
    assert await positions.close_position_direct(mnq.id)
    assert await px.search_open_positions() == []


async def test_realtime_hubs_and_reconnect(px: Any, control: httpx.AsyncClient, mnq: str) -> None:
    realtime = client("project_x_py.realtime", PX, (3, 12))
    rt = realtime.ProjectXRealtimeClient(px.get_session_token(), str(px.account_info.id), config=px.config)
    orders: list[Any] = []
    quotes: list[Any] = []

    async def on_order(data: Any) -> None:
        orders.append(data)

    async def on_quote(data: Any) -> None:
        quotes.append(data)

    await rt.add_callback("order_update", on_order)
    await rt.add_callback("quote_update", on_quote)
    try:
        assert await rt.connect()
        assert await rt.subscribe_user_updates()
        assert await rt.subscribe_market_data([mnq])
        await sim_post(control, "/sim/quote", {"contractId": mnq, "bid": 24501.0, "ask": 24501.25})
        await wait_until(lambda: bool(quotes), 10, "a quote")
        market = {"accountId": 1001, "contractId": mnq, "type": 2, "side": 0, "size": 1}
        await sim_post(control, "/sim/orders", market)
        await wait_until(lambda: len(orders) >= 2, 10, "order events")
        # a drop: pysignalr underneath reconnects; project-x-py subscribes again
        await sim_post(control, "/sim/faults", {"kind": "drop_hubs", "hub": "user"})
        seen = len(orders)

        await wait_subscribed(control, "SubscribeOrders:1001", 20)
        await sim_post(control, "/sim/orders", {**market, "side": 1})
        await wait_until(lambda: len(orders) > seen, 20, "order events after the reconnect")
    finally:
        with contextlib.suppress(Exception):
            await rt.disconnect()
