"""REST auth and limits (gateway.md §1.2-§1.5) and every fault kind of §6.7."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.sim.conftest import ACCOUNT, MNQ, Sim, wait_until
from tests.sim.hubclient import HubClient, negotiate, unwrap

SEARCH = "/api/Account/search"


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 3.0) -> None:
    """Poll an async condition (an HTTP read) until true, with a deadline."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def _no_faults(sim: Sim) -> bool:
    return not (await sim.get("/faults"))["faults"]


ACTIVE = {"onlyActiveAccounts": True}


async def test_rest_basics_ping_404_and_400(sim: Sim) -> None:
    ping = await sim.http.get("/api/Status/ping")
    assert ping.status_code == 200 and ping.json() == "pong"
    assert ping.headers["Content-Type"].startswith("application/json")
    token = await sim.login()
    assert (await sim.api(token, "/api/Auth/loginApp", {})).status_code == 404
    assert (await sim.api(token, "/api/Nope", {})).status_code == 404
    bad = await sim.http.post(SEARCH, content=b"{not json", headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 400 and bad.headers["Content-Type"].startswith("application/json")
    assert (await sim.api(token, SEARCH, {})).status_code == 400  # required field missing
    accounts = await sim.ok(token, SEARCH, {**ACTIVE, "unknownField": 1})  # unknown fields ignored
    assert accounts["accounts"] == [
        {
            "id": 1001,
            "name": "SIM-50K-1001",
            "balance": 50000,
            "canTrade": True,
            "isVisible": True,
            "simulated": True,
        }
    ]


async def test_auth_401_validate_logout_and_expire_tokens(sim: Sim) -> None:
    assert (await sim.api(None, SEARCH, ACTIVE)).status_code == 401
    assert (await sim.api("a.b.c", SEARCH, ACTIVE)).status_code == 401
    token = await sim.login()
    assert (await sim.api(token, SEARCH, ACTIVE)).status_code == 200
    renewed = await sim.ok(token, "/api/Auth/validate", {})
    new = renewed["newToken"]
    assert renewed["success"] and len(new.split(".")) == 3 and new != token
    assert (await sim.api(new, SEARCH, ACTIVE)).status_code == 200
    assert (await sim.ok(new, "/api/Auth/logout", {}))["success"] is True
    assert (await sim.api(new, SEARCH, ACTIVE)).status_code == 401
    # a token validation failure is HTTP 200 with an error code (2 SessionNotFound), not 401
    gone = await sim.ok(new, "/api/Auth/validate", {})
    assert gone == {"newToken": None, "success": False, "errorCode": 2, "errorMessage": None}
    assert (await sim.api(token, SEARCH, ACTIVE)).status_code == 200  # logout revokes only that token
    # expire_tokens: every token so far, on REST, validate and hubs; a fresh login works
    await sim.fault(kind="expire_tokens", userName="sim")
    assert (await sim.api(token, SEARCH, ACTIVE)).status_code == 401
    assert (await sim.ok(token, "/api/Auth/validate", {}))["errorCode"] == 2
    assert (await negotiate(sim.url + "/hubs/user", token)).status_code == 401
    with pytest.raises(InvalidStatus) as info:
        await HubClient.open(sim.url + "/hubs/market", token, negotiated=False)
    assert info.value.response.status_code == 401
    fresh = await sim.login()
    assert (await sim.api(fresh, SEARCH, ACTIVE)).status_code == 200
    assert (await negotiate(sim.url + "/hubs/user", fresh)).status_code == 200


async def test_rate_limit_429_with_retry_after_per_user_and_separate_bars_window(sim: Sim) -> None:
    await sim.settings(rate_limit_default=[3, 60], rate_limit_bars=[1, 30])
    token = await sim.login()
    second = await sim.login()
    statuses = [(await sim.api(t, SEARCH, ACTIVE)).status_code for t in (token, second, token)]
    assert statuses == [200, 200, 200]
    limited = await sim.api(second, SEARCH, ACTIVE)  # scope user: both tokens share the window
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    bars = {
        "contractId": MNQ,
        "live": False,
        "startTime": "2020-01-01T00:00:00Z",
        "endTime": "2100-01-01T00:00:00Z",
        "unit": 2,
        "unitNumber": 1,
        "limit": 10,
        "includePartialBar": True,
    }
    first = await sim.ok(token, "/api/History/retrieveBars", bars)
    assert first["success"] and isinstance(first["bars"][0]["v"], int)
    assert (await sim.api(token, "/api/History/retrieveBars", bars)).status_code == 429
    assert (
        await sim.http.post("/api/Auth/loginKey", json={"userName": "sim", "apiKey": "sim-key"})
    ).status_code == 200
    await sim.settings(rate_limit_scope="token")
    third = await sim.login()
    assert (await sim.api(third, SEARCH, ACTIVE)).status_code == 200
    await sim.settings(rate_limit_enabled=False)
    assert (await sim.api(token, SEARCH, ACTIVE)).status_code == 200


async def test_fail_rest_modes(sim: Sim) -> None:
    token = await sim.login()
    armed = await sim.fault(kind="fail_rest", path=SEARCH, count=2)
    assert armed["kind"] == "fail_rest" and armed["remaining"] == 2
    assert [(await sim.api(token, SEARCH, ACTIVE)).status_code for _ in range(3)] == [500, 500, 200]
    await sim.fault(kind="fail_rest", path="/api/Position/closeContract", mode="success_false")
    answer = await sim.ok(token, "/api/Position/closeContract", {"accountId": ACCOUNT, "contractId": MNQ})
    assert answer["success"] is False and answer["errorCode"] == 7  # closeContract's UnknownError
    await sim.fault(kind="fail_rest", path="*", mode="success_false", errorCode=4, errorMessage="nope")
    answer = await sim.ok(token, "/api/Order/searchOpen", {"accountId": ACCOUNT})
    assert (answer["errorCode"], answer["errorMessage"]) == (4, "nope")
    await sim.fault(kind="fail_rest", mode="http_401")
    assert (await sim.api(token, SEARCH, ACTIVE)).status_code == 401
    assert (await sim.api(token, SEARCH, ACTIVE)).status_code == 200  # the token itself is fine
    await sim.fault(kind="fail_rest", mode="timeout", hold_ms=200)
    started = time.monotonic()
    assert (await sim.api(token, SEARCH, ACTIVE)).status_code == 504
    assert time.monotonic() - started >= 0.2
    # not executed without execute:true
    place = {"accountId": ACCOUNT, "contractId": MNQ, "type": 2, "side": 0, "size": 1}
    await sim.fault(kind="fail_rest", path="/api/Order/place")
    assert (await sim.api(token, "/api/Order/place", place)).status_code == 500
    assert (await sim.state())["orders"] == []
    # execute:true: carried out with its events, only the answer fails
    hub = await sim.user_hub(token)
    await sim.fault(kind="fail_rest", path="/api/Order/place", execute=True)
    answer = await sim.api(token, "/api/Order/place", place)
    assert answer.status_code == 500
    assert [o["status"] for o in (await sim.state())["orders"]] == [2]
    await hub.wait_events("GatewayUserTrade", 1)
    rest = [e for e in await sim.journal(kinds="rest") if e["path"] == "/api/Order/place"]
    assert rest[-1]["status"] == 500 and rest[-1]["fault"] is not None and rest[-2]["fault"] is not None


async def test_rate_limit_fault_is_not_executed(sim: Sim) -> None:
    token = await sim.login()
    await sim.fault(kind="rate_limit", path="/api/Order/place", retry_after_s=2)
    place = {"accountId": ACCOUNT, "contractId": MNQ, "type": 2, "side": 0, "size": 1}
    limited = await sim.api(token, "/api/Order/place", place)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert (await sim.state())["orders"] == []
    assert (await sim.api(token, "/api/Order/place", place)).status_code == 200


async def test_latency_on_rest_and_on_user_hub(sim: Sim) -> None:
    token = await sim.login()
    await sim.fault(kind="latency", target="rest", path=SEARCH, ms=300, count=1)
    started = time.monotonic()
    assert (await sim.api(token, SEARCH, ACTIVE)).status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    await sim.api(token, SEARCH, ACTIVE)
    assert time.monotonic() - started < 0.3
    hub = await sim.user_hub(token)
    await sim.fault(kind="latency", target="user_hub", ms=100, duration_s=30)
    since = (await sim.state())["journal_seq"]
    started = time.monotonic()
    await sim.order(type="market", side="buy", size=1)  # events before the answer: 5 delayed events
    await hub.wait_events("GatewayUserAccount", 1)
    assert time.monotonic() - started >= 0.5
    control = next(e for e in await sim.journal(since) if e["kind"] == "control")
    first_event = next(e for e in await sim.journal(since) if e["kind"] == "event")
    assert first_event["ts_ns"] - control["ts_ns"] >= 100_000_000


async def test_duplicate_reorder_and_drop_events(sim: Sim) -> None:
    token = await sim.login()
    hub = await sim.user_hub(token)
    await sim.fault(kind="duplicate_events", target="GatewayUserTrade")
    await sim.order(type="market", side="buy", size=1)
    await hub.wait_events("GatewayUserAccount", 1)
    trades = hub.events("GatewayUserTrade")
    assert len(trades) == 2 and trades[0] == trades[1]
    dup = [e for e in await sim.journal(kinds="event") if e["target"] == "GatewayUserTrade"]
    assert dup[-1]["duplicate"] is True

    await sim.settings(order_pending_cancel_event=False)  # one order event per cancel: Open, Cancelled
    await sim.fault(kind="reorder_events", target="GatewayUserOrder", count=2)
    oid = (await sim.order(type="limit", side="buy", size=1, limitPrice=24000))["orderId"]
    await sim.ctl(f"/orders/{oid}/cancel")
    await wait_until(
        lambda: len([a for a in hub.events("GatewayUserOrder") if unwrap(a[0])["id"] == oid]) == 2
    )
    statuses = [unwrap(a[0])["status"] for a in hub.events("GatewayUserOrder") if unwrap(a[0])["id"] == oid]
    assert statuses == [3, 1]

    # fewer than count: released after about 1 s anyway
    await sim.fault(kind="reorder_events", target="GatewayUserOrder", count=5)
    oid = (await sim.order(type="limit", side="buy", size=1, limitPrice=24000))["orderId"]
    await wait_until(lambda: any(unwrap(a[0])["id"] == oid for a in hub.events("GatewayUserOrder")), 3)

    await sim.fault(kind="drop_events", target="GatewayUserTrade", count=1)
    before = len(hub.events("GatewayUserTrade"))
    await sim.order(type="market", side="buy", size=1)
    await hub.wait_events("GatewayUserAccount", 2)
    assert len(hub.events("GatewayUserTrade")) == before
    dropped = [e for e in await sim.journal(kinds="event") if e["target"] == "GatewayUserTrade"]
    assert dropped[-1]["dropped"] is True
    assert (await sim.get("/faults"))["faults"] == []  # all consumed


async def test_pause_market_data_silences_market_events_but_not_pings(sim: Sim) -> None:
    await sim.settings(ping_interval_s=0.2)
    token = await sim.login()
    market = await sim.market_hub(token, MNQ)
    user = await sim.user_hub(token)
    await sim.fault(kind="pause_market_data", duration_s=0.6)
    since = (await sim.state())["journal_seq"]
    count = len(market.events("GatewayQuote"))
    await sim.quote(24501.00, 24501.25)
    await sim.order(type="market", side="buy", size=1)
    await user.wait_events("GatewayUserAccount", 1)  # user events still flow
    pings = len([m for m in market.messages if m.get("type") == 6])
    await wait_until(lambda: len([m for m in market.messages if m.get("type") == 6]) > pings, 2, "a ping")
    assert len(market.events("GatewayQuote")) == count
    assert not [e for e in await sim.journal(since, kinds="event") if e["hub"] == "market"]
    await _until(lambda: _no_faults(sim), "the pause to expire")
    await sim.quote(24502.00, 24502.25)
    await market.wait_events("GatewayQuote", count + 1)


@pytest.mark.parametrize("mode", ["close_frame", "abort", "close_message", "error"])
async def test_drop_hubs_modes(sim: Sim, mode: str) -> None:
    token = await sim.login()
    user = await sim.user_hub(token)
    market = await sim.market_hub(token, MNQ)
    await sim.fault(kind="drop_hubs", hub="user", mode=mode)
    await user.wait_closed()
    closes = [m for m in user.messages if m.get("type") == 7]
    if mode == "close_frame":
        assert closes == [] and user.close_code == 1001
    elif mode == "abort":
        assert closes == [] and user.close_code in (None, 1006)
    elif mode == "close_message":
        assert closes == [{"type": 7, "allowReconnect": True}]
    else:
        assert len(closes) == 1 and set(closes[0]) == {"type", "error"}
    assert not market.closed.is_set()
    await sim.quote(24501.00, 24501.25)
    await market.wait_for(
        lambda m: m.get("target") == "GatewayQuote" and m["arguments"][1]["bestBid"] == 24501.0
    )
    again = await sim.user_hub(token)  # reconnecting works
    assert not again.closed.is_set()
    disconnects = await sim.journal(kinds="hub_disconnect")
    assert disconnects[0]["reason"] == mode


async def test_hub_outage_answers_503_then_recovers(sim: Sim) -> None:
    token = await sim.login()
    user = await sim.user_hub(token)
    await sim.fault(kind="hub_outage", hub="all", duration_s=0.5)
    await user.wait_closed()
    assert (await negotiate(sim.url + "/hubs/user", token)).status_code == 503
    with pytest.raises(InvalidStatus) as info:
        await HubClient.open(sim.url + "/hubs/market", token, negotiated=False)
    assert info.value.response.status_code == 503
    assert (await sim.api(token, SEARCH, ACTIVE)).status_code == 200  # REST is not affected

    async def negotiate_ok() -> bool:
        return (await negotiate(sim.url + "/hubs/user", token)).status_code == 200

    await _until(negotiate_ok, "the outage to end")
    await sim.user_hub(token)


async def test_logout_event_on_both_hubs(sim: Sim) -> None:
    token = await sim.login()
    user = await sim.user_hub(token)
    market = await sim.market_hub(token)
    await sim.fault(kind="logout_event", userName="sim")
    for hub in (user, market):
        message = await hub.wait_for(lambda m: m.get("target") == "GatewayLogout")
        assert message == {"type": 1, "target": "GatewayLogout", "arguments": []}


async def test_fault_book_list_clear_and_validation(sim: Sim) -> None:
    a = await sim.fault(kind="fail_rest", path=SEARCH, count=3)
    b = await sim.fault(kind="latency", target="rest", ms=1, duration_s=60)
    listed = (await sim.get("/faults"))["faults"]
    assert [f["id"] for f in listed] == [a["id"], b["id"]]
    cleared = await sim.http.delete(f"/sim/faults/{a['id']}")
    assert cleared.status_code == 200 and [f["id"] for f in cleared.json()["faults"]] == [b["id"]]
    assert (await sim.http.delete("/sim/faults/999")).status_code == 404
    assert (await sim.http.delete("/sim/faults")).json() == {"faults": []}
    for bad in ({"kind": "nope"}, {"kind": "fail_rest", "bogus": 1}, {"kind": "drop_hubs", "mode": "x"}):
        answer = await sim.http.post("/sim/faults", json=bad)
        assert answer.status_code == 400 and "error" in answer.json()
    journal = await sim.journal(kinds="fault")
    assert [e["action"] for e in journal] == ["armed", "armed", "cleared", "cleared"]
    settings = await sim.http.post("/sim/settings", json={"no_such_setting": 1})
    assert settings.status_code == 400 and "no_such_setting" in settings.json()["error"]
    async with httpx.AsyncClient(base_url=sim.url) as client:
        assert (await client.get("/sim/nothing-here")).status_code == 404
