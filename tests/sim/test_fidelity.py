"""What the live gateway sends and refuses that the simulator used to leave out (issue 9).

Commissions beside fees, order statuses 7 (PendingCancellation) and 8 (Suspended bracket children),
and a public REST API as strict as the live one (integers only, signed bracket ticks, trailing
distance within 1000 ticks, the live error envelope), while the control API keeps its conveniences.
MNQ starts at 24500.00 / 24500.25 (tick 0.25 = $0.50, fee $0.37/side).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.sim.conftest import ACCOUNT, MNQ, Sim, wait_until
from tests.sim.hubclient import unwrap

PLACE, CANCEL, MODIFY = "/api/Order/place", "/api/Order/cancel", "/api/Order/modify"
OPEN_ORDERS = "/api/Order/searchOpen"


async def _place(sim: Sim, token: str, **body: Any) -> dict[str, Any]:
    body.setdefault("accountId", ACCOUNT)
    body.setdefault("contractId", MNQ)
    return await sim.ok(token, PLACE, body)


def _statuses(hub: Any, oid: int) -> list[int]:
    return [unwrap(a[0])["status"] for a in hub.events("GatewayUserOrder") if unwrap(a[0])["id"] == oid]


def _order(state: dict[str, Any], oid: int) -> dict[str, Any]:
    return next(o for o in state["orders"] if o["id"] == oid)


# ----- 1. fees and commissions ------------------------------------------------------------------------
async def test_trades_carry_commissions_beside_fees_and_the_balance_pays_both(sim: Sim) -> None:
    token = await sim.login()
    await _place(sim, token, type=2, side=0, size=2)
    first = (await sim.state())["trades"][-1]
    assert first["fees"] == 0.74 and first["commissions"] is None  # no commission configured: null
    await sim.settings(commissions_per_side={"MNQ": 0.25})
    await _place(sim, token, type=2, side=1, size=2)  # closes at 24500.00: -0.25 x 2 x $2 = -1.00
    state = await sim.state()
    closing = state["trades"][-1]
    assert closing["fees"] == 0.74 and closing["commissions"] == 0.5 and closing["profitAndLoss"] == -1.0
    assert state["accounts"][0]["balance"] == 49997.02  # 50000 - 0.74 - 1.00 - 0.74 - 0.50
    voided = await sim.ctl(f"/trades/{closing['id']}/void")
    assert voided["voided"] is True and voided["commissions"] == 0.5
    assert (await sim.state())["accounts"][0]["balance"] == 50000 - 0.74


# ----- 2. order status 7: pending cancellation ----------------------------------------------------------
async def test_a_cancel_goes_through_pending_cancellation_before_the_answer(sim: Sim) -> None:
    token = await sim.login()
    hub = await sim.user_hub(token)
    oid = (await _place(sim, token, type=1, side=0, size=1, limitPrice=24000))["orderId"]
    assert (await sim.ok(token, CANCEL, {"accountId": ACCOUNT, "orderId": oid}))["success"] is True
    await wait_until(lambda: len(_statuses(hub, oid)) == 3, what="three order events")
    assert _statuses(hub, oid) == [1, 7, 3]
    await sim.settings(order_pending_cancel_event=False)
    other = (await _place(sim, token, type=1, side=0, size=1, limitPrice=24000))["orderId"]
    await sim.ok(token, CANCEL, {"accountId": ACCOUNT, "orderId": other})
    await wait_until(lambda: _statuses(hub, other) == [1, 3], what="open then cancelled")


async def test_a_pending_cancellation_lasts_the_setting_and_the_order_can_still_fill(sim: Sim) -> None:
    await sim.settings(pending_cancel_ms=400)
    token = await sim.login()
    hub = await sim.user_hub(token)
    oid = (await _place(sim, token, type=1, side=0, size=1, limitPrice=24000))["orderId"]
    started = time.monotonic()
    await sim.ok(token, CANCEL, {"accountId": ACCOUNT, "orderId": oid})
    listed = (await sim.ok(token, OPEN_ORDERS, {"accountId": ACCOUNT}))["orders"]
    assert [(o["id"], o["status"]) for o in listed] == [(oid, 7)]  # still open until confirmed
    again = await sim.ok(token, CANCEL, {"accountId": ACCOUNT, "orderId": oid})
    assert (again["success"], again["errorCode"]) == (False, 4)  # Pending
    moved = await sim.ok(token, MODIFY, {"accountId": ACCOUNT, "orderId": oid, "limitPrice": 23999})
    assert moved["errorCode"] == 4
    await wait_until(lambda: _statuses(hub, oid)[-1:] == [3], what="the cancel to complete")
    assert time.monotonic() - started >= 0.35
    assert (await sim.ok(token, OPEN_ORDERS, {"accountId": ACCOUNT}))["orders"] == []
    # a fill while the cancel is pending wins: the order ends Filled and no Cancelled follows
    late = (await _place(sim, token, type=1, side=0, size=1, limitPrice=24499.00))["orderId"]
    await sim.ok(token, CANCEL, {"accountId": ACCOUNT, "orderId": late})
    assert (await sim.quote(24498.75, 24499.00))["filledOrderIds"] == [late]
    # a later cancel's timer fires after this order's would have: once it has, nothing more can come
    marker = (await _place(sim, token, type=1, side=0, size=1, limitPrice=24000))["orderId"]
    await sim.ok(token, CANCEL, {"accountId": ACCOUNT, "orderId": marker})
    await wait_until(lambda: _statuses(hub, marker)[-1:] == [3], what="the later cancel to complete")
    assert _statuses(hub, late) == [1, 7, 2]
    assert (await sim.state())["positions"][0]["size"] == 1


# ----- 2. order status 8: suspended bracket children -----------------------------------------------------
async def test_bracket_children_are_suspended_until_the_entry_fills(sim: Sim) -> None:
    token = await sim.login()
    hub = await sim.user_hub(token)
    entry = await _place(
        sim,
        token,
        type=4,  # a buy stop above the market
        side=0,
        size=2,
        stopPrice=24510.00,
        stopLossBracket={"ticks": -12, "type": 4},
        takeProfitBracket={"ticks": 20, "type": 1},
    )
    eid = entry["orderId"]
    children = [o for o in (await sim.state())["orders"] if o.get("parentOrderId") == eid]
    sl, tp = children
    assert [(o["status"], o["type"], o["side"], o["size"]) for o in children] == [(8, 4, 1, 2), (8, 1, 1, 2)]
    assert sl["stopPrice"] == 24507.00 and tp["limitPrice"] == 24515.00  # from the entry's price
    assert sl["linkedOrderId"] is None and tp["linkedOrderId"] == sl["id"]
    await wait_until(lambda: _statuses(hub, tp["id"]) == [8], what="suspended child events")
    listed = (await sim.ok(token, OPEN_ORDERS, {"accountId": ACCOUNT}))["orders"]
    assert [o["id"] for o in listed] == [eid]  # searchOpen leaves suspended children out
    # a suspended sell stop does not trigger, however far the market falls
    assert (await sim.quote(24505.00, 24505.25))["filledOrderIds"] == []
    # the entry fills at 24510.25: the children go live, priced from the fill
    assert (await sim.quote(24510.00, 24510.25))["filledOrderIds"] == [eid]
    state = await sim.state()
    assert (_order(state, sl["id"])["status"], _order(state, sl["id"])["stopPrice"]) == (1, 24507.25)
    assert (_order(state, tp["id"])["status"], _order(state, tp["id"])["limitPrice"]) == (1, 24515.25)
    await wait_until(lambda: _statuses(hub, sl["id"]) == [8, 1], what="the stop child going live")
    assert (await sim.quote(24507.25, 24507.50))["filledOrderIds"] == [sl["id"]]
    assert _order(await sim.state(), tp["id"])["status"] == 3  # OCO


async def test_cancelling_an_entry_cancels_its_suspended_children(sim: Sim) -> None:
    token = await sim.login()
    entry = await _place(
        sim, token, type=1, side=1, size=1, limitPrice=24510.00, stopLossBracket={"ticks": 8, "type": 4}
    )
    eid = entry["orderId"]
    child = next(o for o in (await sim.state())["orders"] if o.get("parentOrderId") == eid)
    assert child["status"] == 8 and child["side"] == 0 and child["stopPrice"] == 24512.00
    await sim.ok(token, CANCEL, {"accountId": ACCOUNT, "orderId": eid})
    state = await sim.state()
    assert _order(state, eid)["status"] == 3 and _order(state, child["id"])["status"] == 3


# ----- 3. a public REST API as strict as the live one --------------------------------------------------
async def test_rest_takes_integer_enums_only_and_the_control_api_keeps_names(sim: Sim) -> None:
    token = await sim.login()
    named = await sim.api(
        token, PLACE, {"accountId": ACCOUNT, "contractId": MNQ, "type": "market", "side": 0, "size": 1}
    )
    assert named.status_code == 400 and "type" in named.json()["errors"]
    named = await sim.api(
        token, PLACE, {"accountId": ACCOUNT, "contractId": MNQ, "type": 2, "side": "buy", "size": 1}
    )
    assert named.status_code == 400 and "side" in named.json()["errors"]
    assert (await sim.state())["orders"] == []
    assert (await sim.order(type="market", side="buy", size=1))["success"] is True


async def test_bracket_ticks_must_carry_the_sign_of_their_side(sim: Sim) -> None:
    token = await sim.login()
    wrong = await _place(sim, token, type=2, side=0, size=1, stopLossBracket={"ticks": 10, "type": 4})
    assert wrong == {"orderId": None, "success": False, "errorCode": 2, "errorMessage": None}
    wrong = await _place(sim, token, type=2, side=1, size=1, takeProfitBracket={"ticks": 10, "type": 1})
    assert wrong["errorCode"] == 2
    untyped = await sim.api(
        token,
        PLACE,
        {
            "accountId": ACCOUNT,
            "contractId": MNQ,
            "type": 2,
            "side": 0,
            "size": 1,
            "stopLossBracket": {"ticks": -10},
        },
    )
    assert untyped.status_code == 400 and "stopLossBracket.type" in untyped.json()["errors"]
    assert (await sim.state())["orders"] == []
    right = await _place(
        sim,
        token,
        type=2,
        side=1,
        size=1,
        stopLossBracket={"ticks": 10, "type": 4},
        takeProfitBracket={"ticks": -10, "type": 1},
    )
    assert right["success"] is True
    # the trader's platform (control API) takes magnitudes
    assert (await sim.order(type="market", side="buy", size=1, stopLossBracket={"ticks": 10}))["success"]


async def test_trailing_price_is_the_anchor_and_the_distance_is_at_most_1000_ticks(sim: Sim) -> None:
    token = await sim.login()
    await _place(sim, token, type=2, side=0, size=1)
    too_far = await _place(sim, token, type=5, side=1, size=1, trailPrice=24249.75)  # 1001 ticks
    assert too_far["success"] is False and too_far["errorCode"] == 2
    crossed = await _place(sim, token, type=5, side=1, size=1, trailPrice=24500.25)  # above the bid
    assert crossed["errorCode"] == 2
    ok = await _place(sim, token, type=5, side=1, size=1, trailPrice=24250.00)  # exactly 1000 ticks
    assert _order(await sim.state(), ok["orderId"])["stopPrice"] == 24250.00
    far = await sim.ok(token, MODIFY, {"accountId": ACCOUNT, "orderId": ok["orderId"], "trailPrice": 24000})
    assert far["success"] is False and far["errorCode"] == 3
    # the other reading (a distance), selectable because the published clients disagree
    await sim.settings(trail_price="distance")
    dist = await _place(sim, token, type=5, side=1, size=1, trailPrice=2.00)
    assert _order(await sim.state(), dist["orderId"])["stopPrice"] == 24498.00
    assert (await _place(sim, token, type=5, side=1, size=1, trailPrice=250.25))["errorCode"] == 2


async def test_the_live_error_envelope(sim: Sim) -> None:
    token = await sim.login()
    foreign = {"accountId": 4242}
    for path, key in (
        (OPEN_ORDERS, "orders"),
        ("/api/Position/searchOpen", "positions"),
        ("/api/Trade/search", "trades"),
    ):
        body = {**foreign, "startTimestamp": "2020-01-01T00:00:00Z"}
        assert await sim.ok(token, path, body) == {
            key: None,
            "success": False,
            "errorCode": 1,
            "errorMessage": None,
        }
    missing = await sim.ok(token, "/api/Contract/searchById", {"contractId": "CON.F.US.XX.Z25"})
    assert missing == {"contract": None, "success": False, "errorCode": 1, "errorMessage": None}
    await sim.settings(error_messages="text")
    assert "not found" in (await sim.ok(token, OPEN_ORDERS, foreign))["errorMessage"]
    # token validation failures: HTTP 200 with an error code
    assert await sim.ok("not-a-token", "/api/Auth/validate", {}) == {
        "newToken": None,
        "success": False,
        "errorCode": 1,
        "errorMessage": None,
    }
    assert (await sim.ok("not-a-token", "/api/Auth/logout", {}))["errorCode"] == 1
    await sim.settings(token_ttl_s=1)
    short = await sim.login()
    await sim.settings(token_ttl_s=86400)

    async def expired() -> bool:
        return (await sim.ok(short, "/api/Auth/validate", {}))["errorCode"] == 3

    deadline = time.monotonic() + 5
    while not await expired():
        assert time.monotonic() < deadline, "the short token never expired"
        await asyncio.sleep(0.1)
    assert (await sim.api(short, OPEN_ORDERS, {"accountId": ACCOUNT})).status_code == 401  # other calls: 401


# ----- 4. a response shape the live gateway is known to vary ------------------------------------------
async def test_bare_list_answers_for_positions_and_trades(sim: Sim) -> None:
    await sim.settings(bare_list_responses=True)
    token = await sim.login()
    await _place(sim, token, type=2, side=0, size=1)
    positions = (await sim.api(token, "/api/Position/searchOpen", {"accountId": ACCOUNT})).json()
    assert isinstance(positions, list) and positions[0]["size"] == 1
    day = {"accountId": ACCOUNT, "startTimestamp": "2000-01-01T00:00:00Z"}
    trades = (await sim.api(token, "/api/Trade/search", day)).json()
    assert isinstance(trades, list) and len(trades) == 1
    assert "orders" in await sim.ok(token, OPEN_ORDERS, {"accountId": ACCOUNT})  # other lists: enveloped
