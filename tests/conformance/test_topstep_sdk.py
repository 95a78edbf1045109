"""topstep-sdk (strict typed decoding of every response and event with msgspec) against the simulator.

topstep-sdk decodes each REST answer into its response model and each hub event into the REST model
of the same shape, and raises (or drops the event) on anything it cannot decode, so a passing run
says that every shape the simulator sends, including the fields beyond the spec (``commissions``,
``parentOrderId``, status 7 and 8), is one a client built against the live gateway accepts.
Requires Python >= 3.12 (the package's own requirement).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from risk_manager.sim.server import SimServer
from tests.conformance.clients import client, wait_subscribed
from tests.gateway.conftest import sim_post, wait_until

pytestmark = pytest.mark.timeout(90)
SDK = "topstep-sdk"


@pytest.fixture
async def sdk(sim: SimServer) -> AsyncIterator[Any]:
    ts = client("topstep_sdk", SDK, (3, 12))
    urls = sim.urls()
    config = ts.Config(
        username="sim",
        api_key="sim-key",
        rest_base_url=urls["api_url"],
        user_hub_url=urls["user_hub_url"],
        market_hub_url=urls["market_hub_url"],
        timeout=10.0,
        max_retries=1,
    )
    async with ts.AsyncTopstepClient(config) as c:
        yield c


async def test_sign_in_and_every_read(sdk: Any, control: httpx.AsyncClient, mnq: str) -> None:
    ts = client("topstep_sdk", SDK, (3, 12))
    assert await sdk.ping() == "pong"
    await sdk.authenticate()
    assert len((await sdk.validate()).split(".")) == 3
    [account] = await sdk.accounts.search(only_active=False)
    assert (account.id, account.can_trade, account.simulated) == (1001, True, True)
    assert isinstance(account.balance, Decimal)
    contract = await sdk.contracts.search_by_id(mnq)
    assert contract is not None and contract.tick_size == Decimal("0.25") and contract.symbol_id == "F.US.MNQ"
    assert await sdk.contracts.search_by_id("CON.F.US.NOPE.Z25") is None  # errorCode 1 -> None
    assert mnq in [c.id for c in await sdk.contracts.search("MNQ")]
    assert mnq in [c.id for c in await sdk.contracts.available()]
    await sim_post(control, "/sim/settings", {"commissions_per_side": {"MNQ": 0.1}})
    await sim_post(
        control, "/sim/orders", {"accountId": 1001, "contractId": mnq, "type": 2, "side": 0, "size": 2}
    )
    [position] = await sdk.positions.search_open(1001)
    assert (position.size, position.type) == (2, ts.PositionType.LONG)
    start = datetime.now(UTC) - timedelta(hours=1)
    [order] = await sdk.orders.search(1001, start_timestamp=start)
    assert order.status == ts.OrderStatus.FILLED and order.fill_volume == 2
    assert await sdk.orders.search_open(1001) == []
    [trade] = await sdk.trades.search(1001, start_timestamp=start)
    assert (trade.fees, trade.commissions, trade.profit_and_loss) == (Decimal("0.74"), Decimal("0.2"), None)
    bars = await sdk.history.retrieve_bars(
        mnq,
        unit=ts.AggregateBarUnit.MINUTE,
        unit_number=1,
        start_time=start,
        end_time=datetime.now(UTC),
        include_partial_bar=True,
    )
    assert bars and isinstance(bars[0].close, Decimal)
    with pytest.raises(ts.APIError) as info:  # not the caller's account: the live envelope
        await sdk.orders.search_open(4242)
    assert info.value.error_code == 1


async def test_orders_brackets_trailing_and_closes(sdk: Any, mnq: str) -> None:
    ts = client("topstep_sdk", SDK, (3, 12))
    start = datetime.now(UTC) - timedelta(hours=1)
    # brackets as magnitudes: the SDK signs them for the side, the gateway (simulator) checks the sign
    entry = await sdk.orders.buy(1001, mnq, 1, stop_loss_ticks=40, take_profit_ticks=80)
    children = [o for o in await sdk.orders.search(1001, start_timestamp=start) if o.parent_order_id == entry]
    assert sorted((o.type, o.status) for o in children) == [
        (ts.OrderType.LIMIT, ts.OrderStatus.OPEN),
        (ts.OrderType.STOP, ts.OrderStatus.OPEN),
    ]
    stop = next(o for o in children if o.type == ts.OrderType.STOP)
    assert next(o for o in children if o.type == ts.OrderType.LIMIT).linked_order_id == stop.id
    wrong = ts.PlaceOrderBracket(ticks=40, type=ts.OrderType.STOP)  # a long's stop above: refused
    with pytest.raises(ts.APIError) as info:
        await sdk.orders.place(
            1001, mnq, side=ts.OrderSide.BUY, type=ts.OrderType.MARKET, size=1, stop_loss_bracket=wrong
        )
    assert info.value.error_code == 2  # OrderRejected, errorMessage null
    # a trailing stop's trail_price is the anchor price (as the SDK documents, verified live)
    trailing = await sdk.orders.sell(
        1001, mnq, 1, type=ts.OrderType.TRAILING_STOP, trail_price=Decimal("24490.00")
    )
    listed = {o.id: o for o in await sdk.orders.search_open(1001)}
    assert listed[trailing].stop_price == Decimal("24490.00")
    # limit: place, modify, cancel (PendingCancellation then Cancelled)
    limit = await sdk.orders.buy(1001, mnq, 1, type=ts.OrderType.LIMIT, limit_price=Decimal("24000"))
    await sdk.orders.modify(1001, limit, limit_price=Decimal("24001.00"))
    await sdk.orders.cancel(1001, limit)
    final = {o.id: o for o in await sdk.orders.search(1001, start_timestamp=start)}
    assert final[limit].status == ts.OrderStatus.CANCELLED and final[limit].limit_price == Decimal("24001")
    # closes
    await sdk.orders.buy(1001, mnq, 2)
    await sdk.positions.partial_close(1001, mnq, 1)
    assert [p.size for p in await sdk.positions.search_open(1001)] == [2]
    await sdk.positions.close(1001, mnq)
    assert await sdk.positions.search_open(1001) == []
    with pytest.raises(ts.APIError) as info:
        await sdk.positions.close(1001, mnq)  # flat: PositionNotFound
    assert info.value.error_code == 2


async def test_both_hubs_every_event_and_reconnect(sdk: Any, control: httpx.AsyncClient, mnq: str) -> None:
    ts = client("topstep_sdk", SDK, (3, 12))
    await sim_post(control, "/sim/settings", {"ping_interval_s": 1, "pending_cancel_ms": 200})
    got: dict[str, list[Any]] = {
        k: [] for k in ("account", "order", "position", "trade", "quote", "tape", "depth")
    }
    user, market = sdk.user_hub(), sdk.market_hub()
    user.on_account(got["account"].append)
    user.on_order(got["order"].append)
    user.on_position(got["position"].append)
    user.on_trade(got["trade"].append)
    market.on_quote(lambda cid, q: got["quote"].append((cid, q)))
    market.on_trade(lambda cid, t: got["tape"].append((cid, t)))
    market.on_depth(lambda cid, d: got["depth"].append((cid, d)))
    await user.start()
    await market.start()
    try:
        await user.subscribe_accounts()
        for sub in (user.subscribe_orders, user.subscribe_positions, user.subscribe_trades):
            await sub(1001)
        for sub in (market.subscribe_quotes, market.subscribe_trades, market.subscribe_depth):
            await sub(mnq)
        await wait_until(
            lambda: bool(got["quote"]) and bool(got["depth"]), 10, "quote and depth on subscribe"
        )
        entry = {
            "accountId": 1001,
            "contractId": mnq,
            "type": 4,
            "side": 0,
            "size": 1,
            "stopPrice": 24510,
            "stopLossBracket": {"ticks": 12},
        }
        placed = await sim_post(control, "/sim/orders", entry)
        await sim_post(control, f"/sim/orders/{placed['orderId']}/cancel", {})

        def statuses() -> set[Any]:
            return {o.status for o in got["order"]}

        await wait_until(lambda: ts.OrderStatus.CANCELLED in statuses(), 10, "the cancel confirmed")
        assert {ts.OrderStatus.SUSPENDED, ts.OrderStatus.PENDING_CANCELLATION} <= statuses()
        await sim_post(
            control, "/sim/orders", {"accountId": 1001, "contractId": mnq, "type": 2, "side": 0, "size": 1}
        )
        await wait_until(
            lambda: bool(got["trade"]) and bool(got["account"]) and bool(got["tape"]), 10, "fill events"
        )
        assert got["position"][-1].size == 1 and got["trade"][-1].fees == Decimal("0.37")
        # reconnect: the SDK reconnects and re-subscribes by itself
        before = len(got["order"])
        await sim_post(control, "/sim/faults", {"kind": "drop_hubs", "hub": "all"})
        await wait_until(lambda: not user.connected, 10, "the drop seen")
        await wait_until(lambda: user.connected and market.connected, 20, "both hubs back")
        await wait_subscribed(control, "SubscribeOrders:1001")
        await sim_post(
            control, "/sim/orders", {"accountId": 1001, "contractId": mnq, "type": 2, "side": 1, "size": 1}
        )
        await wait_until(lambda: len(got["order"]) > before, 10, "order events after the reconnect")
    finally:
        for hub in (user, market):
            with contextlib.suppress(Exception):
                await hub.stop()
