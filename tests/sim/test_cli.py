"""``risk-manager sim`` as a real subprocess (gateway.md §6.1): ready line, signals, start-up errors."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from tests.sim.hubclient import HubClient

START_TIMEOUT = 20.0


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "risk_manager",
        "sim",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(proc.communicate(), START_TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM semantics are POSIX")
async def test_ready_line_then_sigterm_closes_hubs_and_exits_0() -> None:
    proc = await _spawn("--port", "0", "--seed", "3")
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)  # type: ignore[union-attr]
        urls = json.loads(line)
        assert set(urls) >= {"api_url", "user_hub_url", "market_hub_url", "control_url"}
        base = urls["api_url"]
        assert base.startswith("http://127.0.0.1:") and not base.endswith(":0")
        assert urls["user_hub_url"] == base + "/hubs/user"
        assert urls["market_hub_url"] == base + "/hubs/market"
        assert urls["control_url"] == base + "/sim"
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/api/Status/ping")).json() == "pong"
            login = await http.post("/api/Auth/loginKey", json={"userName": "sim", "apiKey": "sim-key"})
            token = login.json()["token"]
        user = await HubClient.open(urls["user_hub_url"], token)
        market = await HubClient.open(urls["market_hub_url"], token, negotiated=False)
        proc.send_signal(signal.SIGTERM)
        for hub in (user, market):
            await hub.wait_closed(START_TIMEOUT)
            assert {"type": 7} in hub.messages
            await hub.close()
        code, rest, err = await _finish(proc)
        assert code == 0
        assert rest == ""  # exactly one line on stdout
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_bad_users_file_exits_2_naming_file_key_and_line(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(
        "users:\n  - userName: t1\n    apiKey: k1\n    accounts:\n      - {id: 1001, name: A, bogus: 1}\n",
        encoding="utf-8",
    )
    code, out, err = await _finish(await _spawn("--port", "0", "--users", str(users)))
    assert code == 2 and out == ""
    assert str(users) in err and "bogus" in err and "users[0].accounts[0]" in err and ":5" in err


async def test_scenario_file_with_unknown_key_exits_2(tmp_path: Path) -> None:
    scenario = tmp_path / "sc.yaml"
    scenario.write_text("version: 1\nname: x\nstart: immediate\nstepz: []\n", encoding="utf-8")
    code, out, err = await _finish(await _spawn("--port", "0", "--scenario", str(scenario)))
    assert code == 2 and out == ""
    assert f"{scenario}:4" in err and "stepz" in err


async def test_port_in_use_exits_2() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code, out, err = await _finish(await _spawn("--port", str(port)))
    assert code == 2 and out == ""
    assert str(port) in err
