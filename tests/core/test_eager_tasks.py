"""Eager start of enforcement work (``risk_manager/eager_tasks.py``): natively on Python 3.12+,
backported on 3.11. The task runs inside the call that creates it up to its first real wait, keeps
every task semantic (current task, result, exception, cancel, timeout), and an HTTP request made in
it is on the wire, body included, before the call returns (a real socket, no loop turn between)."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest

from risk_manager.eager_tasks import EAGER, start_now
from risk_manager.gateway.session import REQUEST_SENT, RestSettings, http_client

pytestmark = pytest.mark.skipif(not EAGER, reason="no eager start on this Python")


async def test_runs_inside_the_call_up_to_its_first_wait_with_itself_as_the_current_task() -> None:
    seen: list[Any] = []
    parent = asyncio.current_task()

    async def work() -> int:
        seen.append(asyncio.current_task())
        await asyncio.sleep(0)
        seen.append("resumed")
        return 7

    task = start_now(work(), name="enforce-x")
    assert seen == [task] and task.get_name() == "enforce-x"
    assert asyncio.current_task() is parent  # the creating task is current again
    assert not task.done()
    assert await task == 7
    assert seen == [task, "resumed"]
    assert task not in asyncio.all_tasks()  # finished and unregistered like any task


async def test_a_task_that_finishes_at_once_is_done_when_returned() -> None:
    async def fails() -> None:
        raise ValueError("broker said no")

    async def answers() -> str:
        return "ok"

    failed, answered = start_now(fails()), start_now(answers())
    assert failed.done() and isinstance(failed.exception(), ValueError)
    assert answered.done() and answered.result() == "ok"


async def test_cancel_and_timeout_behave_as_for_any_task() -> None:
    sleeper = start_now(asyncio.sleep(30))
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    assert sleeper.cancelled()

    async def bounded() -> None:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(30)

    timed = start_now(bounded())
    with pytest.raises(TimeoutError):
        await timed

    async def cut() -> str:
        me = asyncio.current_task()
        assert me is not None
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            me.uncancel()  # Steps.mutate_until tells a cut from a stop this way
            return "cut"
        return "slept"

    waiting = start_now(cut())
    waiting.cancel()
    assert await waiting == "cut"


async def test_tasks_created_inside_an_eager_start_stay_ordinary() -> None:
    order: list[str] = []

    async def inner() -> None:
        order.append("inner")

    async def outer() -> None:
        asyncio.get_running_loop().create_task(inner())
        order.append("outer")
        await asyncio.sleep(0)

    task = start_now(outer())
    assert order == ["outer"]  # the nested task waits for the loop, as on 3.12
    await task
    assert order == ["outer", "inner"]
    assert asyncio.get_running_loop().get_task_factory() is None  # put back


async def test_a_post_made_in_it_is_on_the_wire_with_its_body_before_the_call_returns() -> None:
    server = _OneConnectionServer()
    written: list[bool] = []
    try:
        async with http_client(RestSettings()) as http:  # the REST session's own client
            url = f"http://127.0.0.1:{server.port}/api/Position/closeContract"
            async with http.post(url, data=b'{"warm":1}') as response:  # the connection, pooled
                assert response.status == 200 and await response.read() == b"{}"

            async def close() -> bytes:
                # what the executor's "sent" report sees: the bytes are already on the socket
                REQUEST_SENT.set(lambda: written.append(server.second.wait(5)))
                async with http.post(url, data=b'{"accountId":7}') as answer:
                    return await answer.read()

            server.second.clear()
            task = start_now(close())
            # No loop turn since: only an eager body write can have put the bytes on the socket.
            assert written == [True], "the request was not written (and reported) inside the call"
            assert server.requests[-1].endswith(b'{"accountId":7}')
            assert await task == b"{}"
            assert written == [True]  # reported once
    finally:
        server.close()


class _OneConnectionServer:
    """A blocking HTTP/1.1 server on a thread: one keep-alive connection, two POSTs answered."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self.second = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(10)
        conn, _ = self.sock.accept()
        conn.settimeout(10)
        with conn:
            for _ in range(2):
                data = b""
                while b"\r\n\r\n" not in data or not data.endswith(b"}"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                self.requests.append(data)
                if len(self.requests) == 2:
                    self.second.set()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)
