"""The express lane (gateway/express.py): enforcement calls on a kept-open connection of their own.

Against the simulator: an enforcement call goes on the lane, is written before the call returns to
the loop, and answers like any call; routine calls and a second call while the lane is busy go
through aiohttp. Against a scripted HTTP server on a real loopback socket: every way an answer can
fail (none, garbled, cut, oversized, 500, the server closing) is reported as aiohttp's failures are,
and the lane opens a fresh connection afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Iterator

import h11
import httpx
import pytest
import trustme

from risk_manager.broker_ops import OutcomeUncertain
from risk_manager.gateway import express
from risk_manager.gateway.errors import ConnectionFailed, RequestTimeout, ServerError
from risk_manager.gateway.rest import RestClient
from risk_manager.gateway.session import REQUEST_SENT
from risk_manager.sim.server import SimServer
from tests.gateway.conftest import API_KEY, fast_rest_settings, rest_calls, sim_post, wait_until

pytestmark = pytest.mark.timeout(60)


@contextlib.contextmanager
def enforcement(sent: list[str]) -> Iterator[None]:
    """What the executor does around a money-moving call: ask to be told when it is written."""
    token = REQUEST_SENT.set(lambda: sent.append("sent"))
    try:
        yield
    finally:
        REQUEST_SENT.reset(token)


def lane_of(client: RestClient) -> express.ExpressLane:
    lane = client.session.express
    assert lane is not None
    return lane


@pytest.fixture
async def client(sim: SimServer) -> AsyncIterator[RestClient]:
    async with RestClient("sim", API_KEY, fast_rest_settings(sim.base_url, express_lane=True)) as c:
        await c.login()  # the first request opens the lane in the background
        await wait_until(lambda: lane_of(c).ready() is not None, what="the express lane open")
        yield c


async def _open_position(control: httpx.AsyncClient, mnq: str) -> None:
    await sim_post(control, "/sim/orders", {"accountId": 1001, "contractId": mnq, "type": 2, "side": 0, "size": 1})


async def test_enforcement_call_is_written_on_the_lane_before_the_call_waits(
    client: RestClient, control: httpx.AsyncClient
) -> None:
    contracts = await client.available_contracts()
    mnq = next(c["id"] for c in contracts if c["symbolId"] == "F.US.MNQ")
    await _open_position(control, mnq)
    sent: list[str] = []
    with enforcement(sent):
        call = asyncio.get_running_loop().create_task(client.close_contract(1001, mnq))
        await asyncio.sleep(0)  # one step of the call: with an open lane the request is written in it
        assert sent == ["sent"]
        await call
    assert lane_of(client).requests == 1
    [close] = await rest_calls(control, "/api/Position/closeContract")
    assert close["status"] == 200 and close["agent"].endswith("(express)")
    assert await client.open_positions(1001) == []
    [search] = await rest_calls(control, "/api/Position/searchOpen")
    assert "express" not in search["agent"]  # a routine read: aiohttp, as before
    assert lane_of(client).requests == 1


async def test_a_second_call_while_the_lane_is_busy_goes_through_aiohttp(
    client: RestClient, control: httpx.AsyncClient
) -> None:
    await sim_post(
        control, "/sim/faults", {"kind": "latency", "path": "/api/Position/searchOpen", "ms": 300, "count": 1}
    )
    sent: list[str] = []
    with enforcement(sent):
        first, second = await asyncio.gather(client.open_positions(1001), client.open_positions(1001))
    assert first == second == []
    assert sent == ["sent", "sent"]
    agents = sorted("express" in c["agent"] for c in await rest_calls(control, "/api/Position/searchOpen"))
    assert agents == [False, True]
    assert lane_of(client).requests == 1


async def test_sessions_outside_the_daemon_keep_no_lane(sim: SimServer) -> None:
    async with RestClient("sim", API_KEY, fast_rest_settings(sim.base_url)) as plain:
        assert plain.session.express is None
        with enforcement([]):
            assert await plain.open_positions(1001) == []


async def test_a_lane_left_idle_is_replaced_before_a_server_would_drop_it(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(express, "FRESH_S", 0.4)  # "half a minute", without waiting for it
    monkeypatch.setattr(express, "CHECK_EVERY_S", 0.05)
    async with RestClient("sim", API_KEY, fast_rest_settings(sim.base_url, express_lane=True)) as c:
        await c.login()
        lane = lane_of(c)
        await wait_until(lambda: lane.ready() is not None, what="the express lane open")
        first = lane.ready()
        await wait_until(lambda: lane.connects >= 2 and lane.ready() not in (None, first), what="a fresh one")
        await wait_until(lambda: first is not None and first.closed, what="the stale connection closed")
        monkeypatch.setattr(express, "FRESH_S", 30.0)  # the new one is used (no replacement race in the check)
        with enforcement([]):
            assert await c.open_positions(1001) == []
        assert lane.requests == 1


# ----- a scripted server: every way an answer can fail ------------------------------------------------
class Scripted:
    """An HTTP/1.1 server on 127.0.0.1 that logs in anyone and answers other requests by ``mode``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.mode = "ok"
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = self._server.sockets[0].getsockname()[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.Request):
                    target = event.target.decode()
                    headers = {k.decode(): v.decode() for k, v in event.headers}
                    self.requests.append((target, headers))
                elif isinstance(event, h11.EndOfMessage):
                    target, _ = self.requests[-1]
                    if not await self._answer(conn, writer, target):
                        return
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return
        except (ConnectionError, h11.ProtocolError, ssl.SSLError):
            return
        finally:
            writer.close()

    async def _answer(self, conn: h11.Connection, writer: asyncio.StreamWriter, target: str) -> bool:
        mode = "ok" if target.endswith("/loginKey") else self.mode
        body = json.dumps({"success": True, "errorCode": 0, "token": "tok-scripted", "positions": []}).encode()
        status, extra = 200, []
        if mode == "silent":
            await asyncio.sleep(30)  # never answers within the test's timeout
            return False
        if mode == "garbled":
            writer.write(b"HTTX/9 what\r\n\r\n")
            await writer.drain()
            return False
        if mode == "cut":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"succ")
            await writer.drain()
            return False
        if mode == "huge":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (express.MAX_ANSWER + 10))
            chunk = b" " * 65536
            for _ in range(express.MAX_ANSWER // len(chunk) + 2):
                writer.write(chunk)
                await writer.drain()
            return False
        if mode == "500":
            status, body = 500, b"{}"
        if mode == "close-after":
            extra = [("Connection", "close")]
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *extra]
        writer.write(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
        writer.write(conn.send(h11.Data(data=body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        return mode != "close-after"


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[Scripted, RestClient]]:
    server = Scripted()
    url = await server.start()
    settings = fast_rest_settings(url, express_lane=True, request_timeout_s=0.5, read_retry_delays_s=())
    client = RestClient("u", "key-never-shown", settings)
    try:
        await client.login()
        await wait_until(lambda: lane_of(client).ready() is not None, what="the express lane open")
        yield server, client
    finally:
        await client.aclose()
        await server.stop()


async def _close_on_lane(client: RestClient) -> None:
    with enforcement([]):
        await client.close_contract(1001, "CON.F.US.MNQ.Z25")


async def _carries_on(server: Scripted, client: RestClient, *, reopened: bool) -> None:
    """After the first request: (a new connection, when ``reopened``) the next one goes on the lane."""
    lane = lane_of(client)
    if reopened:
        await wait_until(lambda: lane.connects == 2 and lane.ready() is not None, what="the lane reopened")
    server.mode = "ok"
    await _close_on_lane(client)
    assert lane.requests == 2 and lane.connects == (2 if reopened else 1)


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("silent", RequestTimeout),
        ("garbled", ConnectionFailed),
        ("cut", ConnectionFailed),
        ("huge", ConnectionFailed),
        ("500", ServerError),
    ],
)
async def test_a_failed_answer_is_uncertain_and_the_lane_starts_afresh(
    scripted: tuple[Scripted, RestClient], mode: str, error: type[Exception], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, client = scripted
    lane = lane_of(client)
    server.mode = mode
    monkeypatch.setattr(express, "RETRY_S", 0.1)  # "cut": the server ended a young connection
    with pytest.raises(error) as info:
        await _close_on_lane(client)
    assert isinstance(info.value, OutcomeUncertain)  # a money-moving call: verified, never repeated
    assert "key-never-shown" not in str(info.value) and "tok-scripted" not in str(info.value)
    closes = [t for t, _ in server.requests if t.endswith("/closeContract")]
    assert len(closes) == 1
    assert lane.requests == 1
    # the connection cannot be trusted after a failed answer: a new one is opened (a 500 is an answer)
    await _carries_on(server, client, reopened=mode != "500")


async def test_a_server_ending_the_connection_after_its_answer(scripted: tuple[Scripted, RestClient]) -> None:
    server, client = scripted
    lane = lane_of(client)
    server.mode = "close-after"
    await _close_on_lane(client)  # the answer is complete: a success
    assert lane.requests == 1
    await _carries_on(server, client, reopened=True)


async def test_the_lane_sends_what_aiohttp_sends(scripted: tuple[Scripted, RestClient]) -> None:
    server, client = scripted
    await _close_on_lane(client)
    target, headers = server.requests[-1]
    assert target == "/api/Position/closeContract"
    assert headers["authorization"] == "Bearer tok-scripted"
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"].endswith("(express)")
    login_target, login_headers = server.requests[0]
    assert login_target == "/api/Auth/loginKey" and "express" not in login_headers["user-agent"]


async def test_a_header_unsafe_on_the_wire_goes_through_aiohttp(scripted: tuple[Scripted, RestClient]) -> None:
    server, client = scripted
    session = client.session
    lane = lane_of(client)
    with enforcement([]), contextlib.suppress(ValueError):  # aiohttp refuses it in its own way
        await session._request(
            "POST", "/api/Order/cancel", b"{}", {"Content-Type": "application/json", "X-Bad": "a\r\nInjected: 1"}
        )
    assert lane.requests == 0  # refused by the lane
    assert all("injected" not in headers for _, headers in server.requests)


async def test_an_unreachable_lane_is_retried_at_most_every_few_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    server = Scripted()
    url = await server.start()
    await server.stop()  # nobody listens there any more
    client = RestClient("u", "k", fast_rest_settings(url, express_lane=True, read_retry_delays_s=()))
    lane = lane_of(client)
    try:
        attempts = 0
        real_open = lane._open

        async def counted() -> None:
            nonlocal attempts
            attempts += 1
            await real_open()

        monkeypatch.setattr(lane, "_open", counted)
        for _ in range(20):
            with contextlib.suppress(Exception):
                await client.ping()
        assert attempts == 1  # twenty requests, one connect attempt: the next waits RETRY_S
        assert lane.ready() is None and lane.connects == 0
    finally:
        await client.aclose()


async def test_the_lane_speaks_tls_like_the_real_gateway() -> None:
    ca = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(served)
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    server = Scripted(tls=served)
    url = await server.start()
    assert url.startswith("https://")
    settings = fast_rest_settings(url, express_lane=True, tls=trusted, read_retry_delays_s=())
    try:
        async with RestClient("u", "k", settings) as client:
            await client.login()  # aiohttp, over TLS
            lane = lane_of(client)
            await wait_until(lambda: lane.ready() is not None, what="the express lane open over TLS")
            await _close_on_lane(client)
            assert lane.requests == 1 and server.requests[-1][0] == "/api/Position/closeContract"
            assert server.requests[-1][1]["user-agent"].endswith("(express)")
        stranger = fast_rest_settings(url, express_lane=True, read_retry_delays_s=())  # the default trust store
        async with RestClient("u", "k", stranger) as client:
            with pytest.raises(ConnectionFailed):
                await client.login()  # the certificate is nobody's the system trusts: refused on both paths
            await wait_until(lambda: lane_of(client)._opening is None, what="the lane's attempt over")
            assert lane_of(client).connects == 0 and lane_of(client).ready() is None
    finally:
        await server.stop()


async def test_a_request_the_socket_refuses_is_left_to_aiohttp(scripted: tuple[Scripted, RestClient]) -> None:
    _, client = scripted
    lane = lane_of(client)
    conn = lane.ready()
    assert conn is not None and conn.transport is not None
    conn.transport.write_eof()  # our side shut for writing: the next write raises
    assert lane.send(conn, "POST", "/api/Order/cancel", b"{}", {"Content-Type": "application/json"}) is None
    assert conn.closed and conn.waiter is None and lane.requests == 0  # nothing sent, nothing waited for
    await wait_until(lambda: lane.ready() not in (None, conn), what="a new connection")
    await _close_on_lane(client)
    assert lane.requests == 1
