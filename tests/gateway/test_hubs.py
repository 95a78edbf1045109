"""Realtime client against the simulator's hubs: events, formats, reconnects, keep-alive, tokens."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from risk_manager.gateway.hub import HubSettings, HubState
from risk_manager.gateway.hubs import MarketHub, UserHub
from risk_manager.gateway.rest import RestClient
from tests.gateway.conftest import Events, HubFactory, journal, sim_post, wait_until, wait_until_async

pytestmark = pytest.mark.timeout(60)

FAST = HubSettings(reconnect_delays_s=(0.0, 0.1, 0.2, 0.5))


async def _user_hub(hubs: HubFactory, events: Events, **kw: Any) -> UserHub:
    hub: UserHub = await hubs(UserHub, events, settings=kw.pop("settings", FAST), **kw)
    await hub.subscribe_accounts()
    await hub.subscribe_account(1001)
    await hub.wait_connected(10)
    return hub


async def _buy(control: httpx.AsyncClient, contract: str, size: int = 1) -> None:
    body = {"accountId": 1001, "contractId": contract, "type": "market", "side": "buy", "size": size}
    await sim_post(control, "/sim/orders", body)


async def _connections(control: httpx.AsyncClient, hub: str) -> list[dict[str, Any]]:
    state = (await control.get("/sim/state")).json()
    return [c for c in state["connections"] if c["hub"] == hub]


async def test_user_events_wrapped(hubs: HubFactory, control: httpx.AsyncClient, mnq: str) -> None:
    events = Events()
    hub = await _user_hub(hubs, events)
    assert hub.state is HubState.CONNECTED and events.states[:2] == ["connecting", "connected"]
    await _buy(control, mnq, 2)
    position = await events.wait_for("GatewayUserPosition", lambda p: p["size"] == 2)
    assert position["accountId"] == 1001 and position["contractId"] == mnq
    order = await events.wait_for("GatewayUserOrder", lambda p: p["status"] == 2)
    assert order["fillVolume"] == 2 and "data" not in order
    await events.wait_for("GatewayUserTrade", lambda p: p["size"] == 2)
    await events.wait_for("GatewayUserAccount", lambda p: p["id"] == 1001)
    assert events.gaps == 0  # first connect is not a gap
    subs = (await _connections(control, "user"))[0]["subscriptions"]
    assert set(subs) >= {
        "SubscribeAccounts",
        "SubscribeOrders:1001",
        "SubscribePositions:1001",
        "SubscribeTrades:1001",
    }


async def test_user_events_bare_and_skip_negotiation(
    hubs: HubFactory, control: httpx.AsyncClient, mnq: str
) -> None:
    await sim_post(control, "/sim/settings", {"user_event_format": "bare"})
    events = Events()
    await _user_hub(hubs, events, settings=HubSettings(skip_negotiation=True))
    await _buy(control, mnq)
    order = await events.wait_for("GatewayUserOrder", lambda p: p["status"] == 2)
    assert order["accountId"] == 1001
    connects = [e for e in await journal(control, "hub_connect") if e["hub"] == "user"]
    assert connects and connects[-1]["negotiated"] is False


async def test_market_events(hubs: HubFactory, control: httpx.AsyncClient, mnq: str) -> None:
    events = Events()
    hub: MarketHub = await hubs(MarketHub, events, settings=FAST)
    await hub.subscribe_quotes(mnq)
    await hub.subscribe_trades(mnq)
    await hub.subscribe_depth(mnq)
    await hub.wait_connected(10)
    await sim_post(control, "/sim/quote", {"contractId": mnq, "bid": 24510.0, "ask": 24510.25})
    quote = await events.wait_for("GatewayQuote", lambda q: q.get("bestBid") == 24510.0)
    assert quote["contractId"] == mnq and quote["symbol"] == "F.US.MNQ"
    depth = await events.wait_for("GatewayDepth", lambda d: d.get("price") == 24510.0)
    assert depth["contractId"] == mnq
    await sim_post(control, "/sim/settings", {"market_event_format": "object"})
    await _buy(control, mnq)  # a fill prints on the tape
    tape = await events.wait_for("GatewayTrade", lambda t: t.get("price") == 24510.25)
    assert tape["contractId"] == mnq
    await hub.unsubscribe_quotes(mnq)
    assert ("SubscribeContractQuotes", (mnq,)) not in hub.subscriptions


@pytest.mark.parametrize("mode", ["close_frame", "abort", "close_message", "error"])
async def test_reconnect_after_drop(
    hubs: HubFactory, control: httpx.AsyncClient, mnq: str, mode: str
) -> None:
    events = Events()
    hub = await _user_hub(hubs, events)
    market_events = Events()
    market: MarketHub = await hubs(MarketHub, market_events, settings=FAST)
    await market.subscribe_quotes(mnq)
    await market.wait_connected(10)
    await sim_post(control, "/sim/faults", {"kind": "drop_hubs", "hub": "all", "mode": mode})
    await wait_until(lambda: events.gaps == 1 and hub.connected, 10, "user hub back with gap callback")
    await wait_until(lambda: market_events.gaps == 1 and market.connected, 10, "market hub back")
    assert "reconnecting" in events.states and events.states[-1] == "connected"
    assert hub.connects == 2
    subs = (await _connections(control, "user"))[0]["subscriptions"]
    assert "SubscribeOrders:1001" in subs and "SubscribeAccounts" in subs
    assert (await _connections(control, "market"))[0]["subscriptions"] == [f"SubscribeContractQuotes:{mnq}"]
    await _buy(control, mnq)
    await events.wait_for("GatewayUserPosition", lambda p: p["size"] == 1)
    await sim_post(control, "/sim/quote", {"contractId": mnq, "bid": 24520.0, "ask": 24520.25})
    await market_events.wait_for("GatewayQuote", lambda q: q.get("bestBid") == 24520.0)


async def test_reconnect_after_outage(hubs: HubFactory, control: httpx.AsyncClient, mnq: str) -> None:
    events = Events()
    hub = await _user_hub(hubs, events)
    await sim_post(control, "/sim/faults", {"kind": "hub_outage", "hub": "user", "duration_s": 1})
    await wait_until(lambda: events.gaps == 1 and hub.connected, 15, "reconnect after the outage")
    assert hub.connects == 2
    await _buy(control, mnq)
    await events.wait_for("GatewayUserOrder")


async def test_reconnect_with_expired_token_logs_in_again(
    hubs: HubFactory, rest: RestClient, control: httpx.AsyncClient, mnq: str
) -> None:
    events = Events()
    hub = await _user_hub(hubs, events)
    old = await rest.token()
    await sim_post(control, "/sim/faults", {"kind": "expire_tokens", "userName": "sim"})
    await sim_post(control, "/sim/faults", {"kind": "drop_hubs", "hub": "user"})
    await wait_until(lambda: events.gaps == 1 and hub.connected, 15, "reconnect with a fresh token")
    assert rest.session.logins == 2 and await rest.token() != old
    await _buy(control, mnq)
    await events.wait_for("GatewayUserOrder")


async def test_gateway_logout_reconnects(hubs: HubFactory, control: httpx.AsyncClient) -> None:
    events = Events()
    hub = await _user_hub(hubs, events)
    await sim_post(control, "/sim/faults", {"kind": "logout_event", "userName": "sim"})
    await events.wait_for("GatewayLogout")
    await wait_until(lambda: events.gaps == 1 and hub.connected, 15, "reconnect after GatewayLogout")


async def test_server_silence_detected(hubs: HubFactory, control: httpx.AsyncClient) -> None:
    await sim_post(control, "/sim/settings", {"ping_interval_s": 600})
    events = Events()
    settings = HubSettings(server_timeout_s=0.6, ping_interval_s=0.2, reconnect_delays_s=(0.0, 0.1))
    hub = await _user_hub(hubs, events, settings=settings)
    await wait_until(lambda: hub.connects >= 2 and events.gaps >= 1, 10, "reconnect after silence")
    assert "reconnecting" in events.states


async def test_callback_exception_keeps_connection(
    hubs: HubFactory, control: httpx.AsyncClient, mnq: str, caplog: pytest.LogCaptureFixture
) -> None:
    events = Events()
    seen: list[str] = []

    def fragile(target: str, payload: Any) -> None:
        seen.append(target)
        if len(seen) == 1:
            raise RuntimeError("handler bug")
        events.on_event(target, payload)

    hub: UserHub = await hubs(UserHub, events, settings=FAST)
    hub._on_event = fragile  # the factory wires events.on_event; put the fragile handler in front
    await hub.subscribe_account(1001)
    await hub.wait_connected(10)
    caplog.set_level(logging.ERROR, "risk_manager.gateway.hub")
    await _buy(control, mnq)
    await events.wait_for("GatewayUserOrder", lambda p: p["status"] == 2)
    assert hub.connects == 1 and "handler bug" in caplog.text


async def test_stop_is_clean(hubs: HubFactory, control: httpx.AsyncClient) -> None:
    events = Events()
    hub = await _user_hub(hubs, events)
    await hub.stop()
    assert hub.state is HubState.DOWN and events.states[-1] == "down"

    async def disconnects() -> list[dict[str, Any]]:
        return [e for e in await journal(control, "hub_disconnect") if e["hub"] == "user"]

    async def disconnected() -> bool:
        return bool(await disconnects())

    await wait_until_async(disconnected, 5, "the simulator to see the close")
    assert len(await disconnects()) == 1
    assert (await _connections(control, "user")) == []
    await hub.stop()  # idempotent
