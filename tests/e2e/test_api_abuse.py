"""No local process can slow or stop enforcement through the local API (issue 8 §5).

One simulator and one daemon process for the module; the hostile clients are real websocket clients
(and, for the password test, a separate process). Measured with ``bench/api_flood.py`` on the 2-core
development machine (load 4-7 from other work): breach -> close p50 4.3 ms quiet and 4.3 ms under four
flooding clients (p99 49 / 31 ms); on the branch point the same flood took the p50 to 63 ms and the
p99 to 4.3 s. In this test (order -> close, with the flooders in the test process) the medians seen
were 5-15 ms. The bound asserted below (median of six breaches <= 50 ms, each <= 1 s) is several
times those, so machine noise does not trip it, and below what the flood did before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .harness import PY, ApiClient, Daemon, Simulator, wait_until, write_config
from .rulesets import accounts_for, all_disabled, users_file

USER, KEY = "abuse", "abuse-key"
BREACH_ACCOUNTS = list(range(6001, 6009))  # one breach each: a first breach on an account is the one timed
DAY_ACCOUNT = 6009  # holds a day of trades (history pages of 500)
ACCOUNTS = [*BREACH_ACCOUNTS, DAY_ACCOUNT]
RULE = {"max_contracts": {"enabled": True, "limit": 1, "count_type": "net", "enforcement": "close_all"}}
PASSWORD = "correct horse battery"
CLOSE = "/api/Position/closeContract"


class Stack:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        users = root / "users.json"
        users.write_text(json.dumps(users_file({USER: (KEY, ACCOUNTS)})), encoding="utf-8")
        self.sim = Simulator(users)
        logins = [
            {
                "name": USER,
                "user_name": USER,
                "accounts": accounts_for(ACCOUNTS, dict.fromkeys(ACCOUNTS, RULE)),
            }
        ]
        self.config = write_config(root / "config", self.sim.urls, logins, all_disabled(), {USER: KEY})
        cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        (self.config / "admin_password.hash").write_text(cheap.hash(PASSWORD) + "\n", encoding="utf-8")
        (self.config / "admin_password.hash").chmod(0o600)  # the daemon refuses a readable hash
        self.root = root
        self.daemon = Daemon(root, self.config)
        self.url = self.daemon.api_url

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def token_file(self) -> Path:
        return self.root / "data" / "admin.token"

    def log_text(self, name: str) -> str:
        path = self.logs / name
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def close(self) -> None:
        if self.daemon.proc.p.poll() is None:
            self.daemon.stop()
        self.sim.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("api-abuse"))
    try:
        wait_until(lambda: _status(s.url).get("protected") == len(ACCOUNTS), 30, "all accounts protected")
        # A trading day on one account: 250 round turns of 1 contract (no breach, no broker call), so
        # a history page holds 500 trades (~125 kB).
        for _ in range(250):
            s.sim.order(DAY_ACCOUNT, "MNQ", "buy", 1)
            s.sim.order(DAY_ACCOUNT, "MNQ", "sell", 1)
        yield s
    finally:
        s.close()


def _status(url: str) -> dict[str, Any]:
    async def ask() -> dict[str, Any]:
        async with ApiClient(url) as api:
            return (await api.request("status"))["data"]

    return asyncio.run(ask())


def rss_bytes(pid: int) -> int | None:
    """Resident set size from /proc (Linux); None elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def breach_latency_ms(sim: Simulator, since: int, account: int) -> float:
    """The trader's order (control entry) -> the daemon's closeContract (rest entry), journal clock."""
    order_ns: int | None = None
    for e in sim.journal(since, kinds="control,rest"):
        body = e.get("body") if isinstance(e.get("body"), dict) else {}
        if body.get("accountId") != account:
            continue
        if order_ns is None and e["kind"] == "control" and e.get("path") == "/sim/orders":
            order_ns = e["ts_ns"]
        elif order_ns is not None and e["kind"] == "rest" and e.get("path") == CLOSE:
            return (e["ts_ns"] - order_ns) / 1e6
    raise AssertionError(f"no order -> close pair for {account} in the journal since {since}")


def last_seq(sim: Simulator) -> int:
    return int(sim.control("GET", "/journal?since=999999999999&limit=1")["last_seq"])


# ----- hostile clients ------------------------------------------------------------------------------------
MALFORMED: dict[str, str | bytes] = {
    "huge-int": '{"id":"m1","op":"history.trades","data":{"accountId":' + "7" * 5000 + "}}",
    "deep": "[" * 30000 + "]" * 30000,
    "wrong-type": '{"id":"m3","op":"snapshot","data":{"accountId":[1,2]}}',
    "beyond-64-bits": '{"id":"m4","op":"history.trades","data":{"before":18446744073709551616}}',
    "huge-string": '{"id":"m5","op":"' + "x" * 60000 + '"}',
    "nan": '{"id":"m6","op":"history.pnl","data":{"limit":NaN}}',
    "binary": b"\x00\xff\xfe binary" * 1000,
}


async def _response(ws: ClientConnection) -> dict[str, Any]:
    """The next response on ``ws`` (pushes in between are skipped)."""
    async with asyncio.timeout(10):
        while True:
            msg = json.loads(await ws.recv())
            if msg.get("type") == "response":
                return msg


def _cut_as_slow(exc: ConnectionClosed) -> bool:
    """The daemon dropped this client for not reading its pushes fast enough (on a loaded machine the
    test's own flooders fall behind): a policy close the flooder answers by connecting again."""
    return exc.rcvd is not None and exc.rcvd.code == 1008 and exc.rcvd.reason == "client too slow"


async def _loop(url: str, kind: str, tally: Counter[str], request: dict[str, Any]) -> None:
    n = 0
    while True:
        try:
            async with connect(url, max_size=None) as ws:
                await ws.recv()
                while True:
                    n += 1
                    await ws.send(json.dumps({**request, "id": f"{kind}{n}"}))
                    while True:
                        msg = json.loads(await ws.recv())
                        if msg.get("type") == "response" and msg.get("id") == f"{kind}{n}":
                            tally[f"{kind}.{'ok' if msg['ok'] else msg['error']['code']}"] += 1
                            break
        except ConnectionClosed as exc:
            if not _cut_as_slow(exc):
                raise
            tally[f"{kind}.cut_as_slow"] += 1


async def _malformed(url: str, tally: Counter[str], closes: list[int | None]) -> None:
    while True:
        async with connect(url, max_size=None) as ws:
            await ws.recv()
            try:
                while True:
                    for name, frame in MALFORMED.items():
                        await ws.send(frame)
                        msg = await _response(ws)
                        tally[f"malformed.{name}.{'ok' if msg['ok'] else msg['error']['code']}"] += 1
            except ConnectionClosed as exc:
                if _cut_as_slow(exc):  # behind on pushes, not a bad frame: connect again
                    tally["malformed.cut_as_slow"] += 1
                    continue
                closes.append(ws.close_code)
                raise


@contextlib.asynccontextmanager
async def flooding(url: str) -> Any:
    tally: Counter[str] = Counter()
    closes: list[int | None] = []
    tasks = [
        asyncio.create_task(_loop(url, "snapshot", tally, {"op": "snapshot", "data": {}})),
        asyncio.create_task(
            _loop(
                url,
                "history",
                tally,
                {"op": "history.trades", "data": {"accountId": DAY_ACCOUNT, "limit": 500}},
            )
        ),
        asyncio.create_task(_malformed(url, tally, closes)),
    ]
    try:
        # every flooder is connected and busy, and every bad frame was answered once
        wanted = ("snapshot.", "history.", *(f"malformed.{name}." for name in MALFORMED))
        async with asyncio.timeout(10):
            while not all(any(k.startswith(p) for k in tally) for p in wanted):
                await asyncio.sleep(0.01)  # polling the tally the flooding tasks fill
        yield tally, closes
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if not isinstance(result, asyncio.CancelledError):
                raise AssertionError(f"a flooding client stopped early: {result!r}")


def _non_reading_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel holds almost nothing for it
    sock.connect(("127.0.0.1", port))
    return sock


# ----- tests ----------------------------------------------------------------------------------------------
async def test_flooding_clients_do_not_stall_enforcement(stack: Stack) -> None:
    sim = stack.sim
    latencies: list[float] = []
    async with flooding(stack.url) as (tally, closes):
        for account in BREACH_ACCOUNTS[:6]:
            since = await asyncio.to_thread(last_seq, sim)
            await asyncio.to_thread(sim.order, account, "MNQ", "buy", 2)
            await asyncio.to_thread(
                wait_until, lambda a=account: sim.positions(a) == {}, 10, f"breach on {account} closed"
            )
            latencies.append(await asyncio.to_thread(breach_latency_ms, sim, since, account))
        flood = dict(tally)
    print(f"\nbreach -> close under flooding: {[round(x, 1) for x in latencies]} ms; flooders got {flood}")
    assert statistics.median(latencies) <= 50 and max(latencies) <= 1000, latencies
    assert flood.get("snapshot.rate_limited", 0) > 0 and flood.get("history.rate_limited", 0) > 0
    for name in MALFORMED:
        assert flood.get(f"malformed.{name}.bad_request", 0) > 0, (name, flood)
    assert closes == []  # malformed frames never cost the connection
    assert "Traceback" not in stack.log_text("error.log")
    assert stack.daemon.proc.p.poll() is None


async def test_malformed_frames_are_answered_and_never_logged_as_errors(stack: Stack) -> None:
    async with connect(stack.url, max_size=None) as ws:
        await ws.recv()
        for name, frame in MALFORMED.items():
            await ws.send(frame)
            reply = await _response(ws)
            assert reply["error"]["code"] == "bad_request", (name, reply)
        await ws.send(json.dumps({"id": "after", "op": "status"}))
        assert (await _response(ws))["ok"]
    errors = stack.log_text("error.log")
    assert "Traceback" not in errors and "connection handler failed" not in stack.log_text("daemon.log")


async def test_client_that_never_reads_is_dropped_and_memory_stays_bounded(stack: Stack) -> None:
    pid = stack.daemon.proc.p.pid
    before = rss_bytes(pid)
    port = int(stack.url.rsplit(":", 1)[1].strip("/"))
    ws: ClientConnection = await connect(
        stack.url, sock=_non_reading_socket(port), max_queue=1, max_size=None
    )
    local_port = ws.local_address[1]
    history = {"op": "history.trades", "data": {"accountId": DAY_ACCOUNT, "limit": 500}}
    sent = 0
    try:
        async with asyncio.timeout(30):
            with contextlib.suppress(ConnectionClosed, OSError):
                while sent < 3000:  # it asks for ~125 kB pages and snapshots, and never reads them
                    request = history if sent % 2 else {"op": "snapshot", "data": {}}
                    await ws.send(json.dumps({**request, "id": f"s{sent}"}))
                    sent += 1
                    await asyncio.sleep(0.002)
            # the daemon dropped it: its sends fail once the daemon aborted the socket
        after = rss_bytes(pid)
    finally:
        ws.transport.abort()
    drops = [
        line
        for line in stack.log_text("daemon.log").splitlines()
        if f":{local_port} " in line and "dropped: client too slow" in line
    ]
    print(f"\nnon-reading client sent {sent} requests; daemon RSS {before} -> {after}")
    assert sent < 3000, "the client that never reads was never disconnected"
    assert len(drops) == 1, drops  # logged once
    if before is not None and after is not None:
        assert after - before < 15 * 1024 * 1024
    # the others are served as before
    async with ApiClient(stack.url) as api:
        assert (await api.request("status"))["ok"]


ATTACKER = r"""
import asyncio, json, sys
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

async def main(url):
    codes = []
    while len(codes) < 12:
        async with connect(url, max_size=None) as ws:
            await ws.recv()
            try:
                for n in range(3):
                    await ws.send(json.dumps({"id": f"a{n}", "op": "auth", "data": {"password": f"guess{len(codes)}"}}))
                    while True:
                        msg = json.loads(await ws.recv())
                        if msg.get("type") == "response":
                            codes.append(msg["error"]["code"] if not msg["ok"] else "ok")
                            break
                await ws.recv()
            except ConnectionClosed:
                pass
    print(json.dumps(codes))

asyncio.run(main(sys.argv[1]))
"""


async def test_wrong_passwords_without_the_token_never_lock_the_admin_out(stack: Stack) -> None:
    # Another process, without the token (it cannot read the file as an unprivileged user).
    started = time.monotonic()
    out = await asyncio.to_thread(
        subprocess.run, [PY, "-c", ATTACKER, stack.url], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    codes = json.loads(out.stdout)
    print(f"\n12 token-less attempts answered in {time.monotonic() - started:.2f} s (process start included)")
    assert codes == ["unauthorized"] * 12
    token = stack.token_file.read_text(encoding="ascii").strip()
    async with ApiClient(stack.url) as admin:
        wrong = await admin.request("auth", {"password": "not it", "adminToken": token})
        # counted as the first failure, not the eleventh: nothing before it counted
        assert wrong["error"]["code"] == "auth_failed" and "2 attempts left" in wrong["error"]["message"], (
            wrong
        )
    async with ApiClient(stack.url) as admin:
        ok = await admin.request("auth", {"password": PASSWORD, "adminToken": token, "osUser": "e2e"})
        assert ok["ok"], ok
        assert (await admin.request("logout", session=ok["data"]["session"]))["ok"]


def test_admin_token_file_is_private_to_the_daemon(stack: Stack) -> None:
    token = stack.token_file.read_text(encoding="ascii").strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", token)
    if sys.platform != "win32":
        assert stack.token_file.stat().st_mode & 0o777 == 0o600
