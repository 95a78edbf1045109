"""The SignalR hubs as a third-party client sees them (gateway.md §4-§5, server behaviours of §7.2)."""

from __future__ import annotations

import json
import secrets

import aiohttp
import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.sim.conftest import ACCOUNT, MNQ, Sim, wait_until
from tests.sim.hubclient import RS, HubClient, negotiate, unwrap, ws_url


async def test_negotiate_answers_the_exact_shape_for_every_query_form(sim: Sim) -> None:
    token = await sim.login()
    hub = sim.url + "/hubs/user"
    for via, query in (("query", ""), ("header", ""), ("both", "&id=stale-id-123")):
        answer = await negotiate(hub, token, via=via, query=query)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("application/json")
        body = answer.json()
        assert set(body) == {"negotiateVersion", "connectionId", "connectionToken", "availableTransports"}
        assert body["negotiateVersion"] == 1 and isinstance(body["negotiateVersion"], int)
        assert body["connectionId"] == body["connectionToken"]
        assert body["availableTransports"] == [
            {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}
        ]
    async with httpx.AsyncClient() as client:
        # no negotiateVersion, JSON content type, market hub
        plain = await client.post(
            sim.url + "/hubs/market/negotiate",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert plain.status_code == 200 and plain.json()["negotiateVersion"] == 1
        missing = await client.post(hub + "/negotiate?negotiateVersion=1")
        assert missing.status_code == 401 and missing.headers["Content-Type"].startswith("application/json")
        assert "error" in missing.json()
        forged = await client.post(hub + "/negotiate?access_token=" + token[:-4] + "AAAA")
        assert forged.status_code == 401
        preflight = await client.options(hub + "/negotiate")
        assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "kw",
    [
        {"negotiated": True},
        {"negotiated": False},  # skip negotiation: no id at all
        {"negotiated": False, "extra_query": {"id": "stale-" + secrets.token_hex(4)}},
        {"negotiated": False, "extra_query": {"connectionId": secrets.token_hex(8)}},
        {"negotiated": True, "via": "header"},
    ],
    ids=["negotiated", "no-id", "stale-id", "connectionId", "bearer-header"],
)
async def test_upgrade_variants_all_open_a_working_connection(sim: Sim, kw: dict[str, object]) -> None:
    token = await sim.login()
    hub = await sim.user_hub(token, **kw)  # type: ignore[arg-type]
    await sim.order(type="market", side="buy", size=1)
    await hub.wait_events("GatewayUserTrade", 1)
    connections = (await sim.state())["connections"]
    assert [(c["hub"], c["userName"]) for c in connections] == [("user", "sim")]
    assert "SubscribeOrders:1001" in connections[0]["subscriptions"]


async def test_upgrade_without_a_valid_token_is_401(sim: Sim) -> None:
    with pytest.raises(InvalidStatus) as info:
        await HubClient.open(sim.url + "/hubs/user", None, negotiated=False)
    assert info.value.response.status_code == 401


async def test_handshake_version_0_with_whitespace_and_nothing_before_it(sim: Sim) -> None:
    await sim.settings(ping_interval_s=0.2)
    token = await sim.login()
    silent = await HubClient.open(sim.url + "/hubs/user", token, handshake=None)
    sim.hubs.append(silent)
    spaced = '\n { "protocol" : "json" ,\t"version" : 0 }  '
    hub = await HubClient.open(sim.url + "/hubs/user", token, negotiated=False, handshake=spaced)
    sim.hubs.append(hub)
    assert hub.frames[0] == "{}" + RS  # the handshake answer in its own frame
    await wait_until(lambda: len([m for m in hub.messages if m.get("type") == 6]) >= 2, what="two pings")
    assert silent.frames == []  # no handshake yet: nothing at all, not even pings
    assert (await hub.invoke("SubscribeAccounts")) == {"type": 3, "invocationId": "1-SubscribeAccounts"}


async def test_messagepack_is_rejected_with_an_error_record_and_closed(sim: Sim) -> None:
    token = await sim.login()
    hub = await HubClient.open(sim.url + "/hubs/user", token, handshake=None)
    sim.hubs.append(hub)
    await hub.send_raw('{"protocol":"messagepack","version":1}' + RS)
    await hub.wait_closed()
    assert len(hub.messages) == 1 and set(hub.messages[0]) == {"error"} and hub.messages[0]["error"]


async def test_completion_only_with_invocation_id_several_per_frame_and_binary(sim: Sim) -> None:
    token = await sim.login()
    hub = await HubClient.open(sim.url + "/hubs/user", token)
    sim.hubs.append(hub)
    await hub.send(
        {"type": 1, "target": "SubscribeAccounts", "arguments": []},  # no id: no completion
        {"type": 1, "target": "NoSuchMethod", "arguments": []},  # no id, even for errors
        {
            "type": 1,
            "invocationId": "7",
            "target": "SubscribeOrders",
            "arguments": [ACCOUNT],
            "headers": {"a": "b"},
        },
        {
            "type": 1,
            "invocationId": "7",
            "target": "SubscribePositions",
            "arguments": [ACCOUNT],
        },  # repeated id
        {"type": 6},
        {"type": 42},  # unknown type: ignored
    )
    await hub.send({"type": 1, "invocationId": "9", "target": "NoSuchMethod", "arguments": []}, binary=True)
    error = await hub.wait_for(lambda m: m.get("invocationId") == "9")
    completions = [m for m in hub.messages if m.get("type") == 3]
    assert completions[:2] == [{"type": 3, "invocationId": "7"}, {"type": 3, "invocationId": "7"}]
    assert len(completions) == 3 and set(error) == {"type", "invocationId", "error"}
    state = (await sim.state())["connections"][0]
    assert state["subscriptions"] == ["SubscribeAccounts", "SubscribeOrders:1001", "SubscribePositions:1001"]
    assert all(isinstance(f, str) for f in hub.frames)  # the server sends text frames only


async def test_server_pings_on_schedule_and_never_sends_websocket_ping_frames(sim: Sim) -> None:
    await sim.settings(ping_interval_s=0.5)
    token = await sim.login()
    url = ws_url(sim.url + "/hubs/user") + "?access_token=" + token
    records: list[str] = []
    control_frames = 0
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, autoping=False, heartbeat=None) as ws:
            await ws.send_str('{"protocol":"json","version":1}' + RS)
            while len([r for r in records if r == '{"type":6}']) < 3:
                msg = await ws.receive(timeout=5)
                if msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                    control_frames += 1
                    continue
                assert msg.type == aiohttp.WSMsgType.TEXT
                records += [r for r in msg.data.split(RS) if r]
            await ws.ping(b"x")  # a client ping frame is answered with a pong
            pong = await ws.receive(timeout=5)
            while pong.type == aiohttp.WSMsgType.TEXT:
                pong = await ws.receive(timeout=5)
            assert pong.type == aiohttp.WSMsgType.PONG
    assert records[0] == "{}" and control_frames == 0


async def test_silent_clients_are_dropped_with_a_plain_close_and_pinging_ones_kept(sim: Sim) -> None:
    await sim.settings(client_timeout_s=1, ping_interval_s=0.3)
    token = await sim.login()
    silent = await sim.user_hub(token, streams=False)
    talker = await sim.user_hub(token, streams=False)
    while not silent.closed.is_set():
        await talker.send({"type": 6})
        await wait_until(lambda: silent.closed.is_set() or len(talker.messages) > 0, what="anything")
        talker.messages.clear()
        if not silent.closed.is_set():
            await talker.wait_for(lambda m: m.get("type") == 6, 2, "a server ping")
    assert not any(m.get("type") == 7 for m in silent.messages)
    assert silent.close_code == 1001
    assert not talker.closed.is_set()


async def test_foreign_accounts_deliver_nothing(sim: Sim) -> None:
    await sim.ctl("/users", {"userName": "other", "apiKey": "k"})
    await sim.ctl("/accounts", {"id": 2001, "name": "OTHER", "balance": 1000, "userName": "other"})
    token = await sim.login()
    hub = await sim.user_hub(token)
    for method in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades"):
        assert await hub.invoke(method, 2001) == {"type": 3, "invocationId": hub.messages[-1]["invocationId"]}
    await sim.order(accountId=2001, type="market", side="buy", size=1)
    await sim.order(type="market", side="buy", size=1)  # own account: delivered after the foreign one
    await hub.wait_events("GatewayUserAccount", 1)
    ids = {
        unwrap(a[0]).get("accountId", unwrap(a[0]).get("id"))
        for m in ("Order", "Trade", "Position", "Account")
        for a in hub.events("GatewayUser" + m)
    }
    assert ids == {ACCOUNT}
    calls = await sim.journal(kinds="hub_call")
    assert any(c["outcome"].startswith("ignored") and c["arguments"] == [2001] for c in calls)


@pytest.mark.parametrize("on_subscribe", [True, False])
async def test_quote_on_subscribe_and_depth_reset(sim: Sim, on_subscribe: bool) -> None:
    await sim.settings(quote_on_subscribe=on_subscribe)
    token = await sim.login()
    hub = await sim.market_hub(token, MNQ)
    await sim.quote(24501.00, 24501.25)
    quotes = await hub.wait_events("GatewayQuote", 2 if on_subscribe else 1)
    assert all(q[0] == MNQ and q[1]["symbol"] == "F.US.MNQ" for q in quotes)
    assert [q[1]["bestBid"] for q in quotes] == ([24500.00, 24501.00] if on_subscribe else [24501.00])
    assert quotes[-1][1]["symbolName"] == "/MNQ" and quotes[-1][1]["lastPrice"] == 24501.00
    depth = hub.events("GatewayDepth")[0]
    assert depth[0] == MNQ and [d["type"] for d in depth[1]] == [6, 4, 3]


@pytest.mark.parametrize("fmt", ["wrapped", "bare"])
async def test_user_event_format(sim: Sim, fmt: str) -> None:
    await sim.settings(user_event_format=fmt)
    token = await sim.login()
    hub = await sim.user_hub(token)
    await sim.order(type="market", side="buy", size=1)
    await hub.wait_events("GatewayUserAccount", 1)
    for message in hub.messages:
        if message.get("type") != 1:
            continue
        assert set(message) == {"type", "target", "arguments"}
        assert len(message["arguments"]) == 1
        payload = message["arguments"][0]
        if fmt == "wrapped":
            assert set(payload) == {"action", "data"} and payload["action"] == 1
        else:
            assert "id" in payload and "action" not in payload


@pytest.mark.parametrize("fmt", ["array", "object"])
async def test_market_event_format(sim: Sim, fmt: str) -> None:
    await sim.settings(market_event_format=fmt)
    token = await sim.login()
    hub = await sim.market_hub(token, MNQ)
    await sim.quote(24501.00, 24501.25, volume=3)
    await sim.order(type="market", side="buy", size=2)
    trades = await hub.wait_events("GatewayTrade", 2)
    for message in hub.messages:
        if message.get("type") == 1:
            assert set(message) == {"type", "target", "arguments"} and len(message["arguments"]) == 2
    for _, item in trades:
        assert isinstance(item, list if fmt == "array" else dict)
    items = [t for _, arg in trades for t in (arg if isinstance(arg, list) else [arg])]
    assert items[-1] == {**items[-1], "symbolId": "F.US.MNQ", "price": 24501.25, "type": 0, "volume": 2}
    depth = hub.events("GatewayDepth")
    assert all(isinstance(d[1], list if fmt == "array" else dict) for d in depth)


async def test_client_close_message_ends_the_connection(sim: Sim) -> None:
    token = await sim.login()
    hub = await sim.user_hub(token)
    await hub.send({"type": 7})
    await hub.wait_closed()
    await wait_until(lambda: not sim.server.hubs.connections, what="server side close")
    assert (await sim.state())["connections"] == []
    kinds = [e["kind"] for e in await sim.journal(kinds="hub_connect,hub_disconnect")]
    assert kinds[-1] == "hub_disconnect"


async def test_continuous_token_check_closes_without_error(sim: Sim) -> None:
    await sim.settings(hub_token_check="continuous")
    token = await sim.login()
    hub = await sim.user_hub(token)
    await sim.fault(kind="expire_tokens", userName="sim")
    await hub.wait_closed()
    assert not any(m.get("type") == 7 and "error" in m for m in hub.messages)
    assert json.dumps(hub.messages)  # strict JSON throughout
