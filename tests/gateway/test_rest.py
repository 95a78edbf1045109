"""REST client against the simulator: every endpoint of gateway.md §2, envelope errors, 401, 429, 5xx."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from risk_manager.broker_ops import BrokerRejected, OutcomeUncertain
from risk_manager.gateway.broker_ops_impl import RestBrokerOps
from risk_manager.gateway.errors import (
    ApiError,
    AuthRejected,
    RateLimited,
    RequestTimeout,
    ServerError,
)
from risk_manager.gateway.rest import RestClient
from risk_manager.sim.server import SimServer
from tests.gateway.conftest import API_KEY, fast_rest_settings, rest_calls, sim_post, wait_until

pytestmark = pytest.mark.timeout(60)

START_OF_DAY = datetime.now(UTC) - timedelta(hours=1)


async def test_ping_login_accounts(rest: RestClient) -> None:
    assert await rest.ping() is True
    await rest.login()
    assert rest.session.has_token
    accounts = await rest.search_accounts(only_active=False)
    assert [a["id"] for a in accounts] == [1001]
    assert accounts[0]["canTrade"] is True
    assert isinstance(accounts[0]["balance"], Decimal | int)
    token = await rest.token()
    for text in (repr(rest), str(rest), repr(rest.session), str(rest.session)):
        assert API_KEY not in text and token not in text


async def test_contracts(rest: RestClient, mnq: str) -> None:
    found = await rest.search_contracts("MNQ")
    assert mnq in [c["id"] for c in found]
    contract = await rest.contract_by_id(mnq)
    assert contract is not None and contract["tickSize"] == Decimal("0.25")
    assert contract["tickValue"] == Decimal("0.5")
    with pytest.raises(ApiError) as info:
        await rest.contract_by_id("CON.F.US.NOPE.Z25")
    assert info.value.error_code == 1 and isinstance(info.value, BrokerRejected)
    available = await rest.available_contracts()
    assert {c["symbolId"] for c in available} >= {"F.US.MNQ", "F.US.EP"}


async def test_order_lifecycle(rest: RestClient, mnq: str) -> None:
    tag = "rm-" + "0123456789abcdef0123"
    order_id = await rest.place_order(1001, mnq, 4, 1, 1, stop_price=Decimal("24400.00"), custom_tag=tag)
    assert isinstance(order_id, int)
    open_orders = await rest.open_orders(1001)
    assert [(o["id"], o["customTag"], o["status"]) for o in open_orders] == [(order_id, tag, 1)]
    await rest.modify_order(1001, order_id, stop_price=Decimal("24390.25"), size=2)
    modified = (await rest.open_orders(1001))[0]
    assert modified["stopPrice"] == Decimal("24390.25") and modified["size"] == 2
    await rest.cancel_order(1001, order_id)
    assert await rest.open_orders(1001) == []
    history = await rest.search_orders(1001, START_OF_DAY)
    assert [(o["id"], o["status"]) for o in history] == [(order_id, 3)]
    with pytest.raises(ApiError) as info:
        await rest.cancel_order(1001, order_id)  # already final
    assert info.value.error_code == 3
    with pytest.raises(ApiError):  # crossed stop: a sell stop above the bid
        await rest.place_order(1001, mnq, 4, 1, 1, stop_price=Decimal("24600.00"))


async def test_positions_and_trades(rest: RestClient, control: httpx.AsyncClient, mnq: str) -> None:
    await sim_post(
        control, "/sim/orders", {"accountId": 1001, "contractId": mnq, "type": 2, "side": 0, "size": 3}
    )
    positions = await rest.open_positions(1001)
    assert [(p["contractId"], p["size"], p["type"]) for p in positions] == [(mnq, 3, 1)]
    await rest.partial_close_contract(1001, mnq, 1)
    assert (await rest.open_positions(1001))[0]["size"] == 2
    with pytest.raises(ApiError) as info:
        await rest.partial_close_contract(1001, mnq, 5)
    assert info.value.error_code == 5
    await rest.close_contract(1001, mnq)
    assert await rest.open_positions(1001) == []
    with pytest.raises(ApiError) as info:
        await rest.close_contract(1001, mnq)  # already flat: success:false means "verify"
    assert info.value.error_code == 2
    trades = await rest.search_trades(1001, START_OF_DAY, datetime.now(UTC) + timedelta(minutes=1))
    assert len(trades) == 3
    assert trades[0]["profitAndLoss"] is None and trades[1]["profitAndLoss"] is not None
    assert all(isinstance(t["fees"], Decimal) for t in trades)


async def test_bars(rest: RestClient, control: httpx.AsyncClient, mnq: str) -> None:
    for bid in ("24500.00", "24501.00", "24499.00"):
        await sim_post(
            control, "/sim/quote", {"contractId": mnq, "bid": bid, "ask": str(Decimal(bid) + Decimal("0.25"))}
        )
    now = datetime.now(UTC)
    bars = await rest.retrieve_bars(
        mnq,
        now - timedelta(hours=1),
        now + timedelta(minutes=2),
        unit=2,
        unit_number=1,
        include_partial_bar=True,
    )
    assert bars and {"t", "o", "h", "l", "c", "v"} <= set(bars[0])
    assert bars[0]["h"] >= Decimal("24501")
    assert rest.session.bars_limiter.granted_routine == 1
    with pytest.raises(ApiError):
        await rest.retrieve_bars("CON.F.US.NOPE.Z25", now - timedelta(hours=1), now)


async def test_logout(rest: RestClient) -> None:
    await rest.login()
    await rest.logout()
    assert not rest.session.has_token
    assert await rest.search_accounts()  # logs in again


# ----- authentication and token lifecycle ---------------------------------------------------------------
async def test_bad_key_rejected_and_not_retried_in_a_loop(
    sim: SimServer, control: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "wrong-key-never-logged"
    async with RestClient("sim", secret, fast_rest_settings(sim.base_url)) as bad:
        with pytest.raises(AuthRejected) as info:
            await bad.search_accounts()
        assert info.value.error_code == 3
        with pytest.raises(AuthRejected):
            await bad.search_accounts()  # within 60 s: answered locally
        assert len(await rest_calls(control, "/api/Auth/loginKey")) == 1
        assert secret not in str(info.value) and secret not in repr(bad)
    assert secret not in caplog.text


async def test_401_refreshes_and_repeats_once(rest: RestClient, control: httpx.AsyncClient) -> None:
    await rest.search_accounts()
    await sim_post(
        control, "/sim/faults", {"kind": "fail_rest", "path": "/api/Account/search", "mode": "http_401"}
    )
    assert await rest.search_accounts()
    assert rest.session.refreshes == 1 and rest.session.logins == 1


async def test_expired_tokens_lead_to_login(rest: RestClient, control: httpx.AsyncClient) -> None:
    await rest.search_accounts()
    old = await rest.token()
    await sim_post(control, "/sim/faults", {"kind": "expire_tokens", "userName": "sim"})
    assert await rest.search_accounts()  # 401 -> validate 401 -> loginKey -> repeat
    assert rest.session.logins == 2
    assert await rest.token() != old


async def test_token_refreshed_before_exp(sim: SimServer, control: httpx.AsyncClient) -> None:
    await sim_post(control, "/sim/settings", {"token_ttl_s": 4})
    async with RestClient("sim", API_KEY, fast_rest_settings(sim.base_url)) as client:
        await client.login()
        first = await client.token()
        expires = client.session.token_expires_at
        assert expires is not None and expires - time.time() <= 4.5
        # Refresh margin is min(1 h, half the token's life): wait until the token is in it.
        session = client.session
        await wait_until(lambda: session._token is not None and session._token.needs_refresh(3600), 5)
        await client.search_accounts()
        assert session.refreshes == 1 and session.logins == 1
        assert await client.token() != first
    validates = await rest_calls(control, "/api/Auth/validate")
    assert len(validates) == 1 and validates[0]["status"] == 200


async def test_no_secret_in_logs(
    rest: RestClient, control: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await rest.search_accounts()
    await sim_post(
        control, "/sim/faults", {"kind": "fail_rest", "path": "/api/Account/search", "mode": "http_401"}
    )
    await rest.search_accounts()
    token = await rest.token()
    assert API_KEY not in caplog.text and token not in caplog.text


# ----- 5xx, timeouts, success:false ------------------------------------------------------------------------
async def test_read_retried_after_500(rest: RestClient, control: httpx.AsyncClient) -> None:
    await sim_post(
        control, "/sim/faults", {"kind": "fail_rest", "path": "/api/Position/searchOpen", "count": 2}
    )
    assert await rest.open_positions(1001) == []
    calls = await rest_calls(control, "/api/Position/searchOpen")
    assert [c["status"] for c in calls] == [500, 500, 200]


async def test_mutating_call_not_repeated_after_500(
    rest: RestClient, control: httpx.AsyncClient, mnq: str
) -> None:
    await sim_post(
        control, "/sim/orders", {"accountId": 1001, "contractId": mnq, "type": 2, "side": 0, "size": 1}
    )
    await sim_post(
        control, "/sim/faults", {"kind": "fail_rest", "path": "/api/Position/closeContract", "execute": True}
    )
    with pytest.raises(ServerError) as info:
        await rest.close_contract(1001, mnq)
    assert isinstance(info.value, OutcomeUncertain) and info.value.status == 500
    assert len(await rest_calls(control, "/api/Position/closeContract")) == 1
    assert await rest.open_positions(1001, priority=True) == []  # it was executed: verification shows it


async def test_timeout_is_uncertain(sim: SimServer, control: httpx.AsyncClient, mnq: str) -> None:
    async with RestClient("sim", API_KEY, fast_rest_settings(sim.base_url, request_timeout_s=0.5)) as client:
        await client.login()
        await sim_post(
            control,
            "/sim/faults",
            {"kind": "fail_rest", "path": "/api/Order/cancel", "mode": "timeout", "hold_ms": 3000},
        )
        with pytest.raises(RequestTimeout) as info:
            await client.cancel_order(1001, 10000001)
        assert isinstance(info.value, OutcomeUncertain)


async def test_success_false_fault(rest: RestClient, control: httpx.AsyncClient, mnq: str) -> None:
    await sim_post(
        control,
        "/sim/faults",
        {"kind": "fail_rest", "path": "/api/Position/closeContract", "mode": "success_false", "errorCode": 7},
    )
    with pytest.raises(ApiError) as info:
        await rest.close_contract(1001, mnq)
    assert info.value.error_code == 7 and "errorCode=7" in str(info.value)


# ----- 429 ---------------------------------------------------------------------------------------------------
async def test_429_routine_waits_retry_after(rest: RestClient, control: httpx.AsyncClient) -> None:
    await rest.login()
    await sim_post(
        control,
        "/sim/faults",
        {"kind": "rate_limit", "path": "/api/Account/search", "count": 1, "retry_after_s": 1},
    )
    started = time.monotonic()
    assert await rest.search_accounts()
    assert time.monotonic() - started >= 0.95  # honoured Retry-After: 1
    calls = await rest_calls(control, "/api/Account/search")
    assert [c["status"] for c in calls] == [429, 200]


async def test_429_enforcement_waits_at_most_2s(
    rest: RestClient, control: httpx.AsyncClient, mnq: str
) -> None:
    await rest.login()
    await sim_post(
        control, "/sim/orders", {"accountId": 1001, "contractId": mnq, "type": 2, "side": 0, "size": 1}
    )
    await sim_post(
        control,
        "/sim/faults",
        {"kind": "rate_limit", "path": "/api/Position/closeContract", "count": 1, "retry_after_s": 30},
    )
    started = time.monotonic()
    await rest.close_contract(1001, mnq)  # not executed on the 429, so repeating it is safe
    assert time.monotonic() - started < 4
    assert await rest.open_positions(1001) == []


async def test_429_exhausted_raises(sim: SimServer, control: httpx.AsyncClient) -> None:
    settings = fast_rest_settings(sim.base_url, rate_limit_retries=0)
    async with RestClient("sim", API_KEY, settings) as client:
        await client.login()
        await sim_post(
            control, "/sim/faults", {"kind": "rate_limit", "path": "/api/Account/search", "retry_after_s": 1}
        )
        with pytest.raises(RateLimited) as info:
            await client.search_accounts()
        assert info.value.retry_after == 1 and isinstance(info.value, OutcomeUncertain)


# ----- BrokerOps adapter -------------------------------------------------------------------------------------
async def test_broker_ops_adapter(rest: RestClient, control: httpx.AsyncClient, mnq: str) -> None:
    ops = RestBrokerOps(rest)
    await sim_post(
        control, "/sim/orders", {"accountId": 1001, "contractId": mnq, "type": 2, "side": 0, "size": 2}
    )
    tag = "rm-" + "ab" * 10
    order_id = await ops.place_stop(1001, mnq, 1, 2, Decimal("24400.00"), tag)
    assert order_id is not None
    await ops.modify_order(1001, order_id, stop_price=Decimal("24410.00"))
    assert [o["stopPrice"] for o in await ops.open_orders(1001)] == [Decimal("24410.00")]
    assert [o["id"] for o in await ops.orders_since(1001, START_OF_DAY) if o["customTag"] == tag] == [
        order_id
    ]
    await ops.cancel_order(1001, order_id)
    await ops.partial_close(1001, mnq, 1)
    assert (await ops.open_positions(1001))[0]["size"] == 1
    await ops.close_contract(1001, mnq)
    with pytest.raises(BrokerRejected):
        await ops.close_contract(1001, mnq)
    assert rest.session.limiter.granted_priority >= 8
