"""The broker model of gateway.md §6.4: fills per order type, positions, P&L, fees, brackets, checks
and the error codes of §3.8. MNQ starts at 24500.00 / 24500.25 (tick 0.25 = $0.50, fee $0.37/side)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.sim.conftest import ACCOUNT, MNQ, Sim
from tests.sim.hubclient import unwrap

PLACE = "/api/Order/place"


def _order(state: dict[str, Any], oid: int) -> dict[str, Any]:
    return next(o for o in state["orders"] if o["id"] == oid)


def _user_events(messages: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (m["target"], unwrap(m["arguments"][0]))
        for m in messages
        if m.get("type") == 1 and str(m.get("target", "")).startswith("GatewayUser")
    ]


async def _place(sim: Sim, token: str, **body: Any) -> dict[str, Any]:
    body.setdefault("accountId", ACCOUNT)
    body.setdefault("contractId", MNQ)
    return await sim.ok(token, PLACE, body)


async def test_market_fills_at_touch_and_limit_rests_then_fills_at_its_price(sim: Sim) -> None:
    token = await sim.login()
    buy = await _place(sim, token, type=2, side=0, size=1)
    sell = await _place(sim, token, type=2, side=1, size=1)
    state = await sim.state()
    assert _order(state, buy["orderId"])["filledPrice"] == 24500.25
    assert _order(state, sell["orderId"])["filledPrice"] == 24500.00
    # resting buy limit; a quote through it fills at the limit, not at the better ask
    limit = await _place(sim, token, type=1, side=0, size=1, limitPrice=24499.00)
    assert _order(await sim.state(), limit["orderId"])["status"] == 1
    moved = await sim.quote(24498.25, 24498.50)
    assert moved["filledOrderIds"] == [limit["orderId"]]
    assert _order(await sim.state(), limit["orderId"])["filledPrice"] == 24499.00
    # marketable limit on placement fills at the ask
    marketable = await _place(sim, token, type=1, side=0, size=1, limitPrice=24510.00)
    assert _order(await sim.state(), marketable["orderId"])["filledPrice"] == 24498.50
    # join bid / join ask rest at the touch
    join = await _place(sim, token, type=6, side=0, size=1)
    assert _order(await sim.state(), join["orderId"])["limitPrice"] == 24498.25


async def test_stop_triggers_and_fills_at_the_quote_with_slippage(sim: Sim) -> None:
    token = await sim.login()
    await _place(sim, token, type=2, side=0, size=1)
    stop = await _place(sim, token, type=4, side=1, size=1, stopPrice=24490.00)
    assert (await sim.quote(24490.25, 24490.50))["filledOrderIds"] == []
    assert (await sim.quote(24489.00, 24489.25))["filledOrderIds"] == [stop["orderId"]]
    assert _order(await sim.state(), stop["orderId"])["filledPrice"] == 24489.00


async def test_stop_limit_becomes_a_limit_on_trigger(sim: Sim) -> None:
    token = await sim.login()
    # buy stop-limit, marketable at trigger: fills at the ask
    a = await _place(sim, token, type=3, side=0, size=1, stopPrice=24510.00, limitPrice=24510.50)
    assert (await sim.quote(24510.00, 24510.25))["filledOrderIds"] == [a["orderId"]]
    assert _order(await sim.state(), a["orderId"])["filledPrice"] == 24510.25
    # sell stop-limit that triggers below its limit: rests, then fills at the limit
    b = await _place(sim, token, type=3, side=1, size=1, stopPrice=24505.00, limitPrice=24506.00)
    assert (await sim.quote(24504.00, 24504.25))["filledOrderIds"] == []
    assert _order(await sim.state(), b["orderId"])["status"] == 1
    assert (await sim.quote(24506.25, 24506.50))["filledOrderIds"] == [b["orderId"]]
    assert _order(await sim.state(), b["orderId"])["filledPrice"] == 24506.00


async def test_trailing_stop_ratchets_only_favourably_and_triggers(sim: Sim) -> None:
    token = await sim.login()
    await _place(sim, token, type=2, side=0, size=1)
    # trailPrice is the stop's starting price (the gateway derives the distance, here 2.00 = 8 ticks)
    trail = await _place(sim, token, type=5, side=1, size=1, trailPrice=24498.00)
    oid = trail["orderId"]
    assert _order(await sim.state(), oid)["stopPrice"] == 24498.00
    await sim.quote(24505.00, 24505.25)
    assert _order(await sim.state(), oid)["stopPrice"] == 24503.00
    await sim.quote(24504.00, 24504.25)
    assert _order(await sim.state(), oid)["stopPrice"] == 24503.00
    assert (await sim.quote(24503.00, 24503.25))["filledOrderIds"] == [oid]
    assert _order(await sim.state(), oid)["filledPrice"] == 24503.00


async def test_crossing_zero_splits_into_closing_and_opening_trades(sim: Sim) -> None:
    token = await sim.login()
    hub = await sim.user_hub(token)
    await _place(sim, token, type=2, side=0, size=2)  # long 2 @ 24500.25
    await sim.quote(24502.00, 24502.25)
    start = len(hub.messages)
    flip = await _place(sim, token, type=2, side=1, size=5)  # sell 5 @ 24502.00
    await hub.wait_for(
        lambda m: (
            m.get("target") == "GatewayUserOrder"
            and unwrap(m["arguments"][0])["status"] == 2
            and unwrap(m["arguments"][0])["id"] == flip["orderId"]
        )
    )
    await hub.wait_events("GatewayUserAccount", 2)
    events = _user_events(hub.messages[start:])
    assert [t for t, _ in events] == [
        "GatewayUserOrder",
        "GatewayUserTrade",
        "GatewayUserPosition",
        "GatewayUserTrade",
        "GatewayUserPosition",
        "GatewayUserOrder",
        "GatewayUserAccount",
    ]
    _, closing, old, opening, new, _, account = (p for _, p in events)
    assert closing["size"] == 2 and closing["profitAndLoss"] == 7.00  # 7 ticks x $0.50 x 2
    assert opening["size"] == 3 and opening["profitAndLoss"] is None
    assert closing["orderId"] == opening["orderId"] == flip["orderId"]
    assert closing["fees"] == 0.74 and opening["fees"] == 1.11
    assert old["id"] == 30000001 and old["size"] == 0
    assert new["id"] == 30000002 and new["type"] == 2 and new["size"] == 3 and new["averagePrice"] == 24502.00
    # 50000 - 0.74 (open) + 7.00 - 0.74 - 1.11
    assert Decimal(str(account["balance"])) == Decimal("50000") - Decimal("0.74") + Decimal("7.00") - Decimal(
        "1.85"
    )
    positions = (await sim.ok(token, "/api/Position/searchOpen", {"accountId": ACCOUNT}))["positions"]
    assert [(p["id"], p["type"], p["size"]) for p in positions] == [(30000002, 2, 3)]


async def test_pnl_fees_average_price_and_balance_are_exact(sim: Sim) -> None:
    token = await sim.login()
    await _place(sim, token, type=2, side=0, size=1)  # 24500.25
    await sim.quote(24501.00, 24501.25)
    await _place(sim, token, type=2, side=0, size=2)  # 24501.25
    pos = (await sim.state())["positions"][0]
    assert pos["size"] == 3 and pos["averagePrice"] == 24500.916666667
    await sim.quote(24490.00, 24490.25)
    await _place(sim, token, type=2, side=1, size=1)  # reduce: average unchanged
    assert (await sim.state())["positions"][0]["averagePrice"] == 24500.916666667
    trades = (await sim.state())["trades"]
    # (24490 - 24500.916666667) / 0.25 * 0.50 * 1 = -21.833... -> -21.83
    assert trades[-1]["profitAndLoss"] == -21.83
    account = (await sim.state())["accounts"][0]
    assert Decimal(str(account["balance"])) == Decimal("50000") - Decimal("0.37") * 4 - Decimal("21.83")
    # a short closed higher loses
    await _place(sim, token, type=2, side=1, size=2)  # flat
    await _place(sim, token, type=2, side=1, size=1)  # short 1 @ 24490.00
    await sim.quote(24495.00, 24495.25)
    await _place(sim, token, type=2, side=0, size=1)  # cover @ 24495.25: -21 ticks
    assert (await sim.state())["trades"][-1]["profitAndLoss"] == -10.50
    # ES fees and tick value differ
    await _place(sim, token, type=2, side=0, size=1, contractId="CON.F.US.EP.Z25")
    es = (await sim.state())["trades"][-1]
    assert es["fees"] == 1.40 and es["price"] == 6700.25


async def test_brackets_are_created_on_fill_and_are_oco(sim: Sim) -> None:
    token = await sim.login()
    entry = await _place(
        sim,
        token,
        type=2,
        side=0,
        size=2,
        stopLossBracket={"ticks": -10, "type": 4},  # signed: a long's stop below, its target above
        takeProfitBracket={"ticks": 20, "type": 1},
    )
    state = await sim.state()
    children = [o for o in state["orders"] if o["id"] != entry["orderId"]]
    assert [(o["type"], o["side"], o["size"], o["status"]) for o in children] == [(4, 1, 2, 1), (1, 1, 2, 1)]
    assert children[0]["stopPrice"] == 24497.75 and children[1]["limitPrice"] == 24505.25
    filled = await sim.quote(24505.25, 24505.50)
    assert filled["filledOrderIds"] == [children[1]["id"]]
    state = await sim.state()
    assert _order(state, children[0]["id"])["status"] == 3
    assert state["positions"] == []
    # a take-profit bracket without a type is a limit order on the profit side
    entry = await sim.order(type="market", side="sell", size=1, takeProfitBracket={"ticks": 4})
    child = [o for o in (await sim.state())["orders"] if o["id"] > entry["orderId"]][0]
    assert child["type"] == 1 and child["side"] == 0 and child["limitPrice"] == 24504.25
    # the position going flat by other means cancels the remaining bracket order
    await sim.ok(token, "/api/Position/closeContract", {"accountId": ACCOUNT, "contractId": MNQ})
    assert _order(await sim.state(), child["id"])["status"] == 3


async def test_can_trade_false_blocks_opening_orders_only_by_default(sim: Sim) -> None:
    token = await sim.login()
    hub = await sim.user_hub(token)
    await _place(sim, token, type=2, side=0, size=2)
    account = await sim.ctl(f"/accounts/{ACCOUNT}/can-trade", {"canTrade": False})
    assert account["canTrade"] is False
    await sim.ctl(f"/accounts/{ACCOUNT}/can-trade", {"canTrade": False})  # no change: no event
    await hub.wait_for(
        lambda m: m.get("target") == "GatewayUserAccount" and unwrap(m["arguments"][0])["canTrade"] is False
    )
    blocked = await _place(sim, token, type=2, side=0, size=1)
    assert blocked["success"] is False and blocked["errorCode"] == 2 and blocked["orderId"] is None
    assert blocked["errorMessage"] is None  # as the live gateway; the reason is in the journal
    placed = [e for e in await sim.journal(kinds="rest") if e["path"] == "/api/Order/place"]
    assert "canTrade false" in placed[-1]["reason"]
    reducing = await _place(sim, token, type=2, side=1, size=3)  # long 2 -> short 1 reduces |position|
    assert reducing["success"] is True
    blocked = await _place(sim, token, type=2, side=1, size=1)  # would open a short 2
    assert blocked["errorCode"] == 2
    await sim.settings(can_trade_false_blocks="all")
    closing = await sim.ok(token, "/api/Position/closeContract", {"accountId": ACCOUNT, "contractId": MNQ})
    assert closing["success"] is False
    await sim.settings(can_trade_false_blocks="none")
    assert (await _place(sim, token, type=2, side=0, size=1))["success"] is True
    flags = [unwrap(a[0])["canTrade"] for a in hub.events("GatewayUserAccount")]
    assert flags[0] is True  # the opening fill's fee
    assert flags.index(False) == 1 and flags.count(False) == len(flags) - 1  # one change event, then fills


async def test_crossed_stop_rejects_by_default_and_fills_when_set(sim: Sim) -> None:
    token = await sim.login()
    await _place(sim, token, type=2, side=0, size=1)
    before = len((await sim.state())["orders"])
    for stop in (24500.00, 24501.00):  # sell stop at or above the bid
        answer = await _place(sim, token, type=4, side=1, size=1, stopPrice=stop)
        assert answer["success"] is False and answer["errorCode"] == 2
    buy = await _place(sim, token, type=4, side=0, size=1, stopPrice=24500.25)  # buy stop at the ask
    assert buy["errorCode"] == 2
    assert len((await sim.state())["orders"]) == before  # a rejected order creates no order
    await sim.settings(crossed_stop="fill")
    answer = await _place(sim, token, type=4, side=1, size=1, stopPrice=24501.00)
    assert answer["success"] is True
    assert _order(await sim.state(), answer["orderId"])["filledPrice"] == 24500.00


async def test_close_when_flat_and_partial_close_sizes(sim: Sim) -> None:
    token = await sim.login()
    body = {"accountId": ACCOUNT, "contractId": MNQ}
    flat = await sim.ok(token, "/api/Position/closeContract", body)
    assert flat["success"] is False and flat["errorCode"] == 2
    flat = await sim.ok(token, "/api/Position/partialCloseContract", {**body, "size": 1})
    assert flat["errorCode"] == 2
    await sim.settings(close_when_flat="ok")
    since = (await sim.state())["journal_seq"]
    assert (await sim.ok(token, "/api/Position/closeContract", body))["success"] is True
    assert [e for e in await sim.journal(since) if e["kind"] == "event"] == []
    await _place(sim, token, type=2, side=0, size=3)
    for size in (0, 4):
        bad = await sim.ok(token, "/api/Position/partialCloseContract", {**body, "size": size})
        assert bad["success"] is False and bad["errorCode"] == 5
    assert (await sim.ok(token, "/api/Position/partialCloseContract", {**body, "size": 1}))["success"]
    assert (await sim.state())["positions"][0]["size"] == 2
    close = await sim.ok(token, "/api/Position/closeContract", body)
    assert close["success"] is True
    state = await sim.state()
    assert state["positions"] == []
    closer = state["orders"][-1]
    assert closer["type"] == 2 and closer["side"] == 1 and closer["size"] == 2 and closer["customTag"] is None


async def test_error_codes(sim: Sim) -> None:
    token = await sim.login()
    await sim.ctl("/users", {"userName": "other", "apiKey": "k"})
    await sim.ctl("/accounts", {"id": 2001, "name": "OTHER", "balance": 1000, "userName": "other"})

    async def code(path: str, **body: Any) -> int:
        return int((await sim.ok(token, path, body))["errorCode"])

    base = {"accountId": ACCOUNT, "contractId": MNQ, "type": 2, "side": 0, "size": 1}
    assert await code(PLACE, **{**base, "accountId": 9999}) == 1
    assert await code(PLACE, **{**base, "accountId": 2001}) == 1  # foreign
    assert await code(PLACE, **{**base, "contractId": "CON.F.US.XYZ.Z25"}) == 8
    assert await code(PLACE, **{**base, "contractId": "CON.F.US.MNQ.H26"}) == 9
    assert await code(PLACE, **{**base, "size": 0}) == 2
    assert await code(PLACE, **{**base, "type": 1}) == 2  # limit without price
    assert await code(PLACE, **{**base, "type": 1, "limitPrice": 24500.1}) == 2  # off the grid
    assert await code(PLACE, **{**base, "customTag": "rm-1"}) == 0
    assert await code(PLACE, **{**base, "customTag": "rm-1"}) == 2  # duplicate tag
    filled = (await sim.state())["orders"][-1]["id"]
    assert await code("/api/Order/cancel", accountId=ACCOUNT, orderId=99999999) == 2
    assert await code("/api/Order/cancel", accountId=9999, orderId=filled) == 1
    assert await code("/api/Order/cancel", accountId=ACCOUNT, orderId=filled) == 3
    assert await code("/api/Order/modify", accountId=ACCOUNT, orderId=filled, size=3) == 3
    assert await code("/api/Order/modify", accountId=ACCOUNT, orderId=99999999, size=3) == 2
    working = (await _place(sim, token, type=1, side=0, size=1, limitPrice=24000))["orderId"]
    assert await code("/api/Order/modify", accountId=ACCOUNT, orderId=working, limitPrice=24001) == 0
    assert await code("/api/Order/cancel", accountId=ACCOUNT, orderId=working) == 0
    assert await code("/api/Order/cancel", accountId=ACCOUNT, orderId=working) == 3
    for path in ("/api/Position/searchOpen", "/api/Order/searchOpen"):
        assert await code(path, accountId=2001) == 1
    assert await code("/api/Trade/search", accountId=2001, startTimestamp="2025-01-01T00:00:00Z") == 1
    assert await code("/api/Position/closeContract", accountId=2001, contractId=MNQ) == 1
    assert await code("/api/Position/closeContract", accountId=ACCOUNT, contractId="CON.F.US.XYZ.Z25") == 3
    assert await code("/api/Position/closeContract", accountId=ACCOUNT, contractId="CON.F.US.MNQ.H26") == 4
    missing = await sim.ok(token, "/api/Contract/searchById", {"contractId": "CON.F.US.XYZ.Z25"})
    assert missing["success"] is False and missing["errorCode"] == 1 and missing["contract"] is None
    inactive = await sim.ok(token, "/api/Contract/searchById", {"contractId": "CON.F.US.MNQ.H26"})
    assert inactive["contract"]["activeContract"] is False
    # the other user sees only its account
    other = await sim.login("other", "k")
    accounts = (await sim.ok(other, "/api/Account/search", {"onlyActiveAccounts": True}))["accounts"]
    assert [a["id"] for a in accounts] == [2001]


async def test_trader_fills_split_chunks_and_void(sim: Sim) -> None:
    token = await sim.login()
    hub = await sim.user_hub(token)
    answer = await sim.order(type="market", side="buy", size=3, fills=[1, 2])
    oid = answer["orderId"]
    await hub.wait_for(
        lambda m: m.get("target") == "GatewayUserOrder" and unwrap(m["arguments"][0])["status"] == 2
    )
    orders = [unwrap(a[0]) for a in hub.events("GatewayUserOrder")]
    assert [(o["status"], o["fillVolume"]) for o in orders] == [(1, 0), (1, 1), (2, 3)]
    trades = [unwrap(a[0]) for a in hub.events("GatewayUserTrade")]
    assert [t["size"] for t in trades] == [1, 2] and {t["orderId"] for t in trades} == {oid}
    positions = [unwrap(a[0])["size"] for a in hub.events("GatewayUserPosition")]
    assert positions == [1, 3]
    await sim.ctl(
        "/orders",
        {"accountId": ACCOUNT, "contractId": "MNQ", "type": 2, "side": 0, "size": 2, "fills": [1, 2]},
        status=400,
    )
    voided = await sim.ctl(f"/trades/{trades[0]['id']}/void")
    assert voided["voided"] is True
    await hub.wait_for(
        lambda m: m.get("target") == "GatewayUserTrade" and unwrap(m["arguments"][0])["voided"] is True
    )
    account = (await sim.state())["accounts"][0]
    assert Decimal(str(account["balance"])) == Decimal("50000") - Decimal("0.74")  # only the 2-lot's fee
    assert (await sim.state())["positions"][0]["size"] == 3  # positions unchanged
    await sim.ctl("/trades/12345/void", status=404)


@pytest.mark.parametrize("pending", [False, True])
async def test_order_pending_event_setting(sim: Sim, pending: bool) -> None:
    await sim.settings(order_pending_event=pending)
    token = await sim.login()
    hub = await sim.user_hub(token)
    await sim.order(type="limit", side="buy", size=1, limitPrice=24000)
    await hub.wait_events("GatewayUserOrder", 2 if pending else 1)
    statuses = [unwrap(a[0])["status"] for a in hub.events("GatewayUserOrder")]
    assert statuses == ([6, 1] if pending else [1])


async def test_modify_can_make_a_limit_marketable_and_trader_cancel(sim: Sim) -> None:
    token = await sim.login()
    oid = (await sim.order(type="limit", side="buy", size=1, limitPrice=24400))["orderId"]
    assert (await sim.ctl(f"/orders/{oid}/modify", {"limitPrice": 24600}))["success"] is True
    order = _order(await sim.state(), oid)
    assert order["status"] == 2 and order["filledPrice"] == 24500.25
    other = (await sim.order(type="limit", side="buy", size=1, limitPrice=24400))["orderId"]
    assert (await sim.ctl(f"/orders/{other}/cancel"))["success"] is True
    again = await sim.ctl(f"/orders/{other}/cancel")
    assert again["success"] is False and again["errorCode"] == 3
    await sim.ctl("/orders/99999999/cancel", status=404)
    # REST and trader orders share id sequences
    placed = await _place(sim, token, type=2, side=1, size=1)
    assert placed["orderId"] == other + 1


async def test_search_endpoints_and_contract_lookups(sim: Sim) -> None:
    token = await sim.login()
    await _place(sim, token, type=2, side=0, size=1)
    await _place(sim, token, type=1, side=0, size=1, limitPrice=24000)
    day = {"accountId": ACCOUNT, "startTimestamp": "2000-01-01T00:00:00Z"}
    orders = (await sim.ok(token, "/api/Order/search", day))["orders"]
    assert [o["status"] for o in orders] == [2, 1]
    future = {**day, "startTimestamp": "2999-01-01T00:00:00.1234567+00:00"}
    assert (await sim.ok(token, "/api/Order/search", future))["orders"] == []
    assert [
        o["status"] for o in (await sim.ok(token, "/api/Order/searchOpen", {"accountId": ACCOUNT}))["orders"]
    ] == [1]
    trades = (await sim.ok(token, "/api/Trade/search", day))["trades"]
    assert len(trades) == 1 and set(trades[0]) == {
        "id",
        "accountId",
        "contractId",
        "creationTimestamp",
        "price",
        "profitAndLoss",
        "fees",
        "commissions",
        "side",
        "size",
        "voided",
        "orderId",
    }
    found = (await sim.ok(token, "/api/Contract/search", {"searchText": "nq", "live": False}))["contracts"]
    assert {c["name"] for c in found} == {"NQZ5", "MNQZ5"}
    mnq = (await sim.ok(token, "/api/Contract/searchById", {"contractId": MNQ}))["contract"]
    assert mnq == {
        "id": MNQ,
        "name": "MNQZ5",
        "description": "Micro E-mini Nasdaq-100: December 2025",
        "tickSize": 0.25,
        "tickValue": 0.5,
        "activeContract": True,
        "symbolId": "F.US.MNQ",
    }
    available = (await sim.ok(token, "/api/Contract/available", {"live": False}))["contracts"]
    assert len(available) == 12 and "CON.F.US.CLE.F26" in {c["id"] for c in available}


async def test_snapshot_on_subscribe_and_events_after_response(sim: Sim) -> None:
    token = await sim.login()
    await _place(sim, token, type=2, side=0, size=1)
    await _place(sim, token, type=1, side=0, size=1, limitPrice=24000)
    await sim.settings(user_snapshot_on_subscribe=True, events_before_response=False)
    hub = await sim.user_hub(token)
    assert [unwrap(a[0])["id"] for a in hub.events("GatewayUserAccount")] == [ACCOUNT]
    assert [unwrap(a[0])["status"] for a in hub.events("GatewayUserOrder")] == [1]
    assert [unwrap(a[0])["size"] for a in hub.events("GatewayUserPosition")] == [1]
    await _place(sim, token, type=2, side=1, size=1)
    await hub.wait_events("GatewayUserTrade", 1)  # events still arrive, after the answer
