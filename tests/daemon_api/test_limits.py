"""What one connection may cost (issue 8 §5): request budgets, the byte-capped send buffer, the
shared snapshot. Real server, real sockets; limits made small so each test takes a fraction of a second."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from risk_manager.daemon.api.limits import ApiLimits, Rate, TokenBucket

from .conftest import TIMEOUT, CannedProvider, OpenClient, StartApi, wait_until

SMALL = ApiLimits(snapshot=Rate(per_s=20.0, burst=3.0), history=Rate(per_s=20.0, burst=4.0))
GENEROUS = ApiLimits(snapshot=Rate(per_s=100.0, burst=100.0))


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(Rate(per_s=2.0, burst=3.0), lambda: now[0])
    assert [bucket.try_take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.try_take() == pytest.approx(0.5)  # nothing taken: one token in 0.5 s
    now[0] += 0.5
    assert bucket.try_take() == 0.0
    now[0] += 100
    assert [bucket.try_take() for _ in range(4)][-1] > 0  # never more than the burst
    assert bucket.charge(4.0) == pytest.approx(2.0)  # into debt: 4 tokens owed at 2 per second


async def test_snapshot_requests_past_the_budget_are_rate_limited(
    start_api: StartApi, open_client: OpenClient, provider: CannedProvider
) -> None:
    api = await start_api(limits=SMALL)
    client = await open_client(api)
    other = await open_client(api)
    replies = [await client.request("snapshot") for _ in range(4)]
    assert [r["ok"] for r in replies] == [True, True, True, False]
    error = replies[3]["error"]
    assert error["code"] == "rate_limited" and 1 <= error["retryAfterMs"] <= 50
    assert "snapshot" in error["message"] and "per second" in error["message"]
    assert (await other.request("snapshot"))["ok"]  # budgets are per connection
    # The connection is read again once the advertised wait is over: the next request is served.
    started = time.perf_counter()
    assert (await client.request("snapshot"))["ok"]
    assert time.perf_counter() - started >= error["retryAfterMs"] / 1000 * 0.8


async def test_history_requests_past_the_budget_never_reach_the_store(
    start_api: StartApi, open_client: OpenClient, provider: CannedProvider
) -> None:
    api = await start_api(limits=SMALL)
    client = await open_client(api)
    replies = [await client.request("history.trades", {"accountId": 12345}) for _ in range(5)]
    assert [r["ok"] for r in replies] == [True] * 4 + [False]
    assert replies[4]["error"]["code"] == "rate_limited"
    assert len(provider.history_calls) == 4
    assert (await client.request("status"))["ok"]  # other ops are not limited by it


async def test_health_requests_past_the_budget_are_rate_limited_without_asking_the_daemon(
    start_api: StartApi, open_client: OpenClient, provider: CannedProvider
) -> None:
    api = await start_api(limits=ApiLimits(health=Rate(per_s=20.0, burst=3.0)))
    client = await open_client(api)
    replies = [await client.request("health") for _ in range(4)]
    assert [r["ok"] for r in replies] == [True, True, True, False]
    assert replies[0]["data"]["status"] == "ok"
    error = replies[3]["error"]
    assert error["code"] == "rate_limited" and "health" in error["message"] and error["retryAfterMs"] >= 1
    assert provider.health_calls == 3  # the refused one never reached the provider
    assert (await client.request("health"))["ok"]  # served again after the advertised wait


async def test_a_client_looping_on_refusals_gets_one_answer_per_refill(
    start_api: StartApi, open_client: OpenClient
) -> None:
    api = await start_api(limits=ApiLimits(snapshot=Rate(per_s=2.0, burst=1.0)))
    client = await open_client(api)
    started = time.perf_counter()
    ids = [await client.send_request("snapshot") for _ in range(50)]  # as fast as it can
    replies = [await client.response(i) for i in ids[:5]]
    elapsed = time.perf_counter() - started
    assert [r["ok"] for r in replies] == [True, False, True, False, True]
    assert elapsed >= 0.9  # two refusals, each followed by 0.5 s of not reading the connection


async def test_frames_past_the_budget_are_read_later_not_refused(
    start_api: StartApi, open_client: OpenClient
) -> None:
    api = await start_api(limits=ApiLimits(frames=Rate(per_s=100.0, burst=5.0)))
    client = await open_client(api)
    started = time.perf_counter()
    ids = [await client.send_request("status") for _ in range(45)]
    replies = [await client.response(i) for i in ids]
    elapsed = time.perf_counter() - started
    assert all(r["ok"] for r in replies)
    assert elapsed >= 0.35  # 40 frames past the burst at 100 per second


async def test_snapshot_is_built_once_per_state_change(
    start_api: StartApi, open_client: OpenClient, provider: CannedProvider
) -> None:
    api = await start_api(snapshot_max_age_s=3600, limits=GENEROUS)
    first = await open_client(api)
    assert api.snapshot_builds == 1
    for _ in range(4):
        assert (await first.request("snapshot"))["ok"]
    for _ in range(3):
        await open_client(api)  # new connections share it too
    assert api.snapshot_builds == 1 and len(provider.snapshot_calls) == 1
    api.push("heartbeat", {"uptimeS": 1})  # no state in a heartbeat
    assert (await first.request("snapshot"))["data"]["accounts"][0]["balance"] == "49487.60"
    assert api.snapshot_builds == 1
    # State changes, then its push: the next snapshot is rebuilt and shows it.
    provider.account["balance"] = "49000.00"
    api.push("account", {"balance": "49000.00"}, account_id=12345)
    reply = await first.request("snapshot")
    assert reply["data"]["accounts"][0]["balance"] == "49000.00"
    assert api.snapshot_builds == 2
    late = await open_client(api)
    assert late.snapshot["data"]["accounts"][0]["balance"] == "49000.00"  # type: ignore[attr-defined]
    assert api.snapshot_builds == 2


async def test_snapshot_scopes_and_errors(
    start_api: StartApi, open_client: OpenClient, provider: CannedProvider
) -> None:
    api = await start_api(snapshot_max_age_s=3600)
    client = await open_client(api)
    for _ in range(2):
        assert (await client.request("snapshot", {"accountId": 12345}))["ok"]
    assert provider.snapshot_calls == [None, 12345]  # one entry per scope
    for _ in range(2):
        assert (await client.request("snapshot", {"accountId": 777}))["error"]["code"] == "not_found"
    assert provider.snapshot_calls == [None, 12345, 777, 777]  # a failure is never cached


async def test_snapshot_older_than_its_max_age_is_rebuilt(
    start_api: StartApi, open_client: OpenClient, provider: CannedProvider
) -> None:
    # Quotes move unrealized P&L without a push: the age bound keeps snapshots fresh anyway.
    api = await start_api(snapshot_max_age_s=0.05)
    client = await open_client(api)
    provider.account["balance"] = "1.00"
    await asyncio.sleep(0.06)  # past the max age
    assert (await client.request("snapshot"))["data"]["accounts"][0]["balance"] == "1.00"
    assert api.snapshot_builds == 2


def _non_reading_socket(port: int) -> socket.socket:
    """A client socket with a tiny receive buffer: the kernel holds almost nothing for it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock


async def test_client_that_does_not_read_is_dropped_by_bytes_and_logged_once(
    start_api: StartApi, caplog: pytest.LogCaptureFixture
) -> None:
    api = await start_api(limits=ApiLimits(send_buffer_bytes=256 * 1024))
    ws = await connect(
        f"ws://127.0.0.1:{api.port}/", sock=_non_reading_socket(api.port), max_queue=1, open_timeout=TIMEOUT
    )
    try:
        await wait_until(lambda: api.clients == 1)
        blob = "y" * 20_000
        pushed = 0
        with caplog.at_level(logging.WARNING, logger="risk_manager.daemon.api.server"):
            while api.clients == 1 and pushed < 500:  # bounded: 10 MB at most
                api.push("order", {"n": pushed, "blob": blob})
                pushed += 1
                await asyncio.sleep(0)  # the sender task writes what the socket takes
            for _ in range(50):
                api.push("order", {"after": True})  # more pushes after the drop: no second log line
        assert api.clients == 0, "the client that does not read was never dropped"
        assert pushed < 1000  # dropped on bytes, long before the 1,000-message limit
        drops = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
        assert len(drops) == 1 and "client too slow" in drops[0] and "bytes" in drops[0]
        # Its socket is aborted after the close grace: nothing it was sent stays in the daemon.
        await wait_until(lambda: api.sockets == 0, timeout=5)
    finally:
        ws.transport.abort()


async def test_one_message_larger_than_the_cap_still_goes_out(
    start_api: StartApi, open_client: OpenClient, provider: CannedProvider
) -> None:
    provider.account["blob"] = "z" * 50_000  # a connect snapshot bigger than the whole buffer
    api = await start_api(limits=ApiLimits(send_buffer_bytes=10_000))
    client = await open_client(api)
    assert len(client.snapshot["data"]["accounts"][0]["blob"]) == 50_000  # type: ignore[attr-defined]
    assert (await client.request("status"))["ok"]


async def test_stop_does_not_wait_for_a_client_that_does_not_read(start_api: StartApi) -> None:
    api = await start_api(stop_flush_timeout_s=0.2)
    ws = await connect(f"ws://127.0.0.1:{api.port}/", sock=_non_reading_socket(api.port), max_queue=1)
    try:
        await wait_until(lambda: api.clients == 1)
        for n in range(40):  # ~800 kB: far more than the socket takes
            api.push("order", {"n": n, "blob": "w" * 20_000})
        started = time.perf_counter()
        await asyncio.wait_for(api.stop(), 10)
        assert time.perf_counter() - started < 3
    finally:
        ws.transport.abort()


async def test_reading_clients_are_unaffected_by_a_flooding_one(
    start_api: StartApi, open_client: OpenClient
) -> None:
    api = await start_api(limits=SMALL)
    flooder = await open_client(api)
    dashboard = await open_client(api)
    ids = [await flooder.send_request("snapshot") for _ in range(10)]
    codes = [(await flooder.response(i))["ok"] for i in ids[:5]]
    assert codes.count(False) >= 1
    api.push("status", {"state": "running"})
    assert (await dashboard.recv())["type"] == "status"
    assert (await dashboard.request("snapshot"))["ok"]


async def test_history_budget_is_server_wide_too(
    start_api: StartApi, open_client: OpenClient, provider: CannedProvider
) -> None:
    # Opening more connections does not buy more database reads.
    api = await start_api(limits=ApiLimits(history=Rate(100.0, 100.0), history_total=Rate(1.0, 3.0)))
    first, second = await open_client(api), await open_client(api)
    assert (await first.request("history.pnl"))["ok"] and (await first.request("history.pnl"))["ok"]
    assert (await second.request("history.pnl"))["ok"]
    refused = await second.request("history.pnl")
    assert refused["error"]["code"] == "rate_limited"
    assert "from all clients together" in refused["error"]["message"]
    assert len(provider.history_calls) == 3


async def test_new_connections_past_the_server_budget_get_503_before_the_handshake(
    start_api: StartApi, open_client: OpenClient, provider: CannedProvider
) -> None:
    api = await start_api(limits=ApiLimits(connections=Rate(per_s=0.5, burst=2.0)), snapshot_max_age_s=3600)
    await open_client(api)
    await open_client(api)
    with pytest.raises(InvalidStatus) as info:
        await connect(f"ws://127.0.0.1:{api.port}/", open_timeout=TIMEOUT)
    assert info.value.response.status_code == 503
    assert info.value.response.headers["Retry-After"] == "2"
    assert len(provider.snapshot_calls) == 1  # the refused one cost no snapshot
