"""The client against answers the live gateway is known to give (issue 9): bare-list responses,
the live error envelope (``errorMessage`` null, arrays null), token validation failures as HTTP 200
with an error code, and payload fields beyond the spec (ignored, never fatal)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from risk_manager.engine.events import parse_order, parse_position, parse_trade
from risk_manager.gateway.errors import ApiError, ProtocolError
from risk_manager.gateway.hubs import UserHub
from risk_manager.gateway.rest import RestClient
from tests.gateway.conftest import Events, HubFactory, sim_post

pytestmark = pytest.mark.timeout(60)

START = datetime.now(UTC) - timedelta(hours=1)


async def test_positions_and_trades_as_bare_lists(
    rest: RestClient, control: httpx.AsyncClient, mnq: str
) -> None:
    await sim_post(control, "/sim/settings", {"bare_list_responses": True})
    await sim_post(
        control, "/sim/orders", {"accountId": 1001, "contractId": mnq, "type": 2, "side": 0, "size": 2}
    )
    positions = await rest.open_positions(1001)
    assert [(p["contractId"], p["size"]) for p in positions] == [(mnq, 2)]
    trades = await rest.search_trades(1001, START)
    assert len(trades) == 1 and trades[0]["fees"] == Decimal("0.74")
    assert len(await rest.open_orders(1001)) == 0  # the enveloped endpoints still read as before


def test_a_list_of_non_objects_is_a_protocol_error() -> None:
    from risk_manager.gateway.rest import _list

    with pytest.raises(ProtocolError):
        _list([1, 2], "positions", "/api/Position/searchOpen")
    assert _list({"positions": None}, "positions", "/api/Position/searchOpen") == []


async def test_failures_with_a_null_message_and_null_arrays(rest: RestClient) -> None:
    with pytest.raises(ApiError) as info:
        await rest.open_orders(4242)  # not the caller's account
    assert info.value.error_code == 1 and info.value.error_message is None
    assert "None" not in str(info.value)


async def test_validate_failing_with_http_200_falls_back_to_login(
    rest: RestClient, control: httpx.AsyncClient
) -> None:
    await rest.search_accounts()
    assert rest.session.logins == 1
    await sim_post(control, "/sim/faults", {"kind": "expire_tokens", "userName": "sim"})
    # 401 -> validate answers 200 {success:false, errorCode:2} -> loginKey -> the call is repeated
    assert [a["id"] for a in await rest.search_accounts()] == [1001]
    assert rest.session.logins == 2 and rest.session.refreshes == 0


async def test_fields_beyond_the_spec_reach_the_engine_and_are_ignored(
    rest: RestClient, control: httpx.AsyncClient, hubs: HubFactory, mnq: str
) -> None:
    await sim_post(control, "/sim/settings", {"commissions_per_side": {"MNQ": 0.1}})
    events = Events()
    hub: UserHub = await hubs(UserHub, events)
    await hub.subscribe_account(1001)
    await hub.wait_connected(10)
    entry = {
        "accountId": 1001,
        "contractId": mnq,
        "type": 2,
        "side": 0,
        "size": 1,
        "stopLossBracket": {"ticks": 20, "type": 4},
    }
    await sim_post(control, "/sim/orders", entry)
    child = await events.wait_for("GatewayUserOrder", lambda p: p.get("parentOrderId") is not None)
    assert parse_order(child).working and child["linkedOrderId"] is None
    trade = await events.wait_for("GatewayUserTrade")
    assert parse_trade(trade).charges == Decimal("0.47")  # 0.37 fees + 0.10 commissions
    extra = {"contractDisplayName": "MNQZ5", "futureField": {"nested": [1, 2]}}
    position = await events.wait_for("GatewayUserPosition")
    assert parse_position({**position, **extra}).size == 1
    assert parse_trade({**trade, **extra}).commissions == Decimal("0.1")
