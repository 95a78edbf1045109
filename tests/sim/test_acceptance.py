"""The issue's acceptance path: a user made through /sim, a JWT from loginKey, an order entered through
/sim/orders seen on the user hub in the order of gateway.md §6.4, and the journal that records it all."""

from __future__ import annotations

import base64
import json

from tests.sim.conftest import ACCOUNT, MNQ, Sim
from tests.sim.hubclient import unwrap


def _claims(token: str) -> dict[str, object]:
    segment = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


async def test_login_of_a_user_created_through_the_control_api_returns_a_jwt(sim: Sim) -> None:
    assert await sim.ctl("/users", {"userName": "alice", "apiKey": "k-alice"}) == {"userName": "alice"}
    answer = await sim.http.post(
        "/api/Auth/loginKey",
        content=json.dumps({"userName": "alice", "apiKey": "k-alice"}),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["success"] is True and body["errorCode"] == 0 and body["errorMessage"] is None
    token = body["token"]
    assert len(token.split(".")) == 3
    claims = _claims(token)
    assert claims["sub"] == "alice" and isinstance(claims["exp"], int) and "iat" in claims and "jti" in claims
    # wrong key, unknown user: HTTP 200, success false, errorCode 3, token null
    for creds in ({"userName": "alice", "apiKey": "nope"}, {"userName": "bob", "apiKey": "k-alice"}):
        bad = (await sim.http.post("/api/Auth/loginKey", json=creds)).json()
        assert bad == {"token": None, "success": False, "errorCode": 3, "errorMessage": bad["errorMessage"]}
    # replacing the key of an existing user
    await sim.ctl("/users", {"userName": "alice", "apiKey": "k2"})
    assert (await sim.http.post("/api/Auth/loginKey", json={"userName": "alice", "apiKey": "k2"})).json()[
        "success"
    ]


async def test_control_order_produces_order_trade_position_events_in_order_and_journal(sim: Sim) -> None:
    token = await sim.login()
    hub = await sim.user_hub(token)
    since = (await sim.state())["journal_seq"]
    answer = await sim.order(type="market", side="buy", size=2)
    assert answer == {"orderId": 10000001, "success": True, "errorCode": 0, "errorMessage": None}

    await hub.wait_events("GatewayUserAccount", 1)
    user_events = [
        (m["target"], unwrap(m["arguments"][0]))
        for m in hub.messages
        if m.get("type") == 1 and m["target"].startswith("GatewayUser")
    ]
    assert [t for t, _ in user_events] == [
        "GatewayUserOrder",
        "GatewayUserTrade",
        "GatewayUserPosition",
        "GatewayUserOrder",
        "GatewayUserAccount",
    ]
    new, trade, position, filled, account = (p for _, p in user_events)
    assert new["status"] == 1 and new["fillVolume"] == 0 and new["id"] == 10000001
    assert trade["id"] == 20000001 and trade["orderId"] == 10000001 and trade["price"] == 24500.25
    assert trade["profitAndLoss"] is None and trade["fees"] == 0.74 and trade["voided"] is False
    assert position == {
        "id": 30000001,
        "accountId": ACCOUNT,
        "contractId": MNQ,
        "creationTimestamp": position["creationTimestamp"],
        "type": 1,
        "size": 2,
        "averagePrice": 24500.25,
    }
    assert filled["status"] == 2 and filled["fillVolume"] == 2 and filled["filledPrice"] == 24500.25
    assert filled["symbolId"] == "F.US.MNQ" and filled["customTag"] is None
    assert account["id"] == ACCOUNT and account["balance"] == 49999.26
    assert set(account) == {"id", "name", "balance", "canTrade", "isVisible", "simulated"}

    entries = await sim.journal(since)
    seqs = [e["seq"] for e in entries]
    assert seqs == list(range(since + 1, since + 1 + len(entries)))
    ts = [e["ts_ns"] for e in entries]
    assert all(isinstance(t, int) for t in ts) and ts == sorted(ts) and len(set(ts)) == len(ts)
    control = next(e for e in entries if e["kind"] == "control" and e["path"] == "/sim/orders")
    assert control["status"] == 200 and control["response"]["orderId"] == 10000001
    events = [e for e in entries if e["kind"] == "event" and e["hub"] == "user"]
    assert [e["target"] for e in events] == [t for t, _ in user_events]
    assert all(e["cause_seq"] == control["seq"] and e["recipients"] == 1 for e in events)
    assert all(e["seq"] > control["seq"] for e in events)
    assert events[0]["arguments"] == [{"action": 1, "data": new}]
    # the market tape print of the fill comes after the account event
    tape = [e for e in entries if e["kind"] == "event" and e["target"] == "GatewayTrade"]
    assert tape and tape[0]["seq"] > events[-1]["seq"] and tape[0]["cause_seq"] == control["seq"]
    # kinds filter
    only_control = await sim.journal(since, kinds="control")
    assert {e["kind"] for e in only_control} == {"control"}
