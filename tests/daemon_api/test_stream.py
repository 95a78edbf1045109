"""Connection lifecycle and pushes of the local API (daemon.md §9.1-§9.3)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from risk_manager.daemon.api.connection import PortInUseError
from risk_manager.daemon.api.server import LocalApi

from .conftest import TIMEOUT, CannedProvider, Client, OpenClient, StartApi, wait_until


async def test_snapshot_is_the_first_message_with_seq_1(api: LocalApi) -> None:
    async with connect(f"ws://127.0.0.1:{api.port}/?v=1") as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert first["v"] == 1 and first["type"] == "snapshot" and first["seq"] == 1
    assert first["ts"].endswith("Z") and "accountId" not in first
    data = first["data"]
    assert data["protocol"] == 1 and data["version"] == "1.2.3" and data["mode"] == "test"
    assert data["pid"] == os.getpid()
    assert data["accounts"][0]["accountId"] == 12345


async def test_unsupported_protocol_version_gets_an_error_then_close(api: LocalApi) -> None:
    async with connect(f"ws://127.0.0.1:{api.port}/?v=2") as ws:
        msg = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert msg["type"] == "error" and msg["seq"] == 1
    assert msg["data"]["code"] == "unsupported_protocol" and msg["data"]["supported"] == [1]
    assert ws.close_code == 1008
    assert api.clients == 0


async def test_pushes_arrive_in_order_with_increasing_seq(api: LocalApi, open_client: OpenClient) -> None:
    client = await open_client()
    other = await open_client()
    await wait_until(lambda: api.clients == 2)
    for i in range(50):
        api.push("order", {"orderId": i, "stopPrice": "24480.00"}, account_id=12345 if i % 2 else None)
    got = [await client.recv() for _ in range(50)]
    assert [m["seq"] for m in got] == list(range(2, 52))
    assert [m["data"]["orderId"] for m in got] == list(range(50))
    assert all(m["type"] == "order" and m["v"] == 1 for m in got)
    assert [m.get("accountId") for m in got[:2]] == [None, 12345]
    assert "accountId" not in got[0]
    # each connection has its own sequence, both complete
    other_got = [await other.recv() for _ in range(50)]
    assert [m["seq"] for m in other_got] == list(range(2, 52))


async def test_heartbeat_is_pushed_with_the_client_count(
    start_api: StartApi, open_client: OpenClient
) -> None:
    api = await start_api(heartbeat_interval_s=0.05)
    client = await open_client(api)
    beat = await client.recv()
    assert beat["type"] == "heartbeat" and beat["seq"] == 2
    assert beat["data"] == {"uptimeS": 42, "eventsPerS": 1.5, "protected": 1, "notProtected": 0, "clients": 1}
    second = await client.recv()
    assert second["type"] == "heartbeat" and second["seq"] == 3


async def test_slow_client_is_dropped_without_blocking_the_others(
    api: LocalApi, open_client: OpenClient
) -> None:
    # The slow client reads its snapshot, then stops reading: max_queue=1 makes its library stop
    # draining the socket, so kernel buffers fill and the server-side queue grows.
    slow = await open_client(max_queue=1)
    fast = await open_client()
    await wait_until(lambda: api.clients == 2)
    received: list[dict] = []

    async def read_fast() -> None:
        while True:
            received.append(await fast.recv())

    reader = asyncio.create_task(read_fast())
    blob = "x" * 16_000
    pushed = 0
    slowest_batch = 0.0
    try:
        for _ in range(400):  # bounded: ~128 MB at most; the drop comes after the kernel buffers fill
            started = time.perf_counter()
            for _ in range(20):  # 320 kB per batch: under the 1 MiB send buffer of a reading client
                api.push("order", {"n": pushed, "blob": blob})
                pushed += 1
            slowest_batch = max(slowest_batch, time.perf_counter() - started)
            await wait_until(lambda n=pushed: len(received) == n)  # the fast client keeps up
            if api.clients == 1:
                break
        assert api.clients == 1, "the slow client was never dropped"
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    assert slowest_batch < 0.5  # pushes never wait for a socket
    assert [m["seq"] for m in received] == list(range(2, pushed + 2))
    # The slow client finds its buffered messages (gap-free), then the 1008 close.
    seqs = []
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(30):
            while True:
                seqs.append(json.loads(await slow.ws.recv())["seq"])
    assert slow.ws.close_code == 1008 and slow.ws.close_reason == "client too slow"
    assert seqs == list(range(2, len(seqs) + 2)) and len(seqs) < pushed
    # the server still works for everybody else
    api.push("status", {"state": "running"})
    assert (await fast.recv())["seq"] == pushed + 2


async def test_origin_header_is_refused_with_403(api: LocalApi) -> None:
    for origin in ("https://evil.example", "null"):
        with pytest.raises(InvalidStatus) as info:
            await connect(f"ws://127.0.0.1:{api.port}/", additional_headers={"Origin": origin})
        assert info.value.response.status_code == 403
    assert api.clients == 0


async def test_unknown_path_is_404(api: LocalApi) -> None:
    with pytest.raises(InvalidStatus) as info:
        await connect(f"ws://127.0.0.1:{api.port}/admin")
    assert info.value.response.status_code == 404


async def test_client_limit_refuses_the_extra_connection(
    start_api: StartApi, open_client: OpenClient
) -> None:
    api = await start_api(max_clients=2)
    await open_client(api)
    await open_client(api)
    await wait_until(lambda: api.clients == 2)
    async with connect(f"ws://127.0.0.1:{api.port}/") as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert ws.close_code == 1013 and ws.close_reason == "too many clients"


async def test_stop_closes_clients_with_1001_after_flushing(
    start_api: StartApi, open_client: OpenClient
) -> None:
    api = await start_api()
    client = await open_client(api)
    api.push("status", {"state": "stopping"})
    await api.stop()
    last = await client.recv()
    assert last["type"] == "status" and last["data"]["state"] == "stopping"
    with pytest.raises(ConnectionClosed):
        await client.recv()
    assert client.ws.close_code == 1001
    assert api.clients == 0
    with pytest.raises(OSError):
        await connect(f"ws://127.0.0.1:{api.port}/", open_timeout=2)


async def test_port_in_use_raises_a_clear_error(provider: CannedProvider) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        api = LocalApi("127.0.0.1", port, provider, version="1", mode="test", heartbeat_interval_s=0)
        with pytest.raises(PortInUseError) as info:
            await api.start()
    assert f"127.0.0.1:{port} is already in use" in str(info.value)
    assert "api.port" in str(info.value)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_non_loopback_host_is_refused(provider: CannedProvider, host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        LocalApi(host, 8765, provider, version="1", mode="test")


async def test_client_disconnect_is_noticed(api: LocalApi, open_client: OpenClient) -> None:
    client: Client = await open_client()
    await wait_until(lambda: api.clients == 1)
    await client.ws.close()
    await wait_until(lambda: api.clients == 0)
    api.push("status", {"state": "running"})  # no client left: nothing to do, nothing raised
