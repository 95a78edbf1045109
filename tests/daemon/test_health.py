"""``health`` on the local API and ``risk-manager status`` (issue 15 item 8) against a real daemon and
a real simulator: protection per account with the age of its last broker event, storage, version and
uptime, and the exit codes a monitoring system polls (0 ok, 11 NOT PROTECTED, 3 storage degraded,
6 not running). The status command runs as a real subprocess; the daemon's clock is the test's, so
event ages are exact."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from risk_manager import __version__
from risk_manager.daemon.notify import StorageDegraded, StorageRecovered
from risk_manager.exit_codes import (
    EXIT_DAEMON_UNREACHABLE,
    EXIT_NOT_PROTECTED,
    EXIT_OK,
    EXIT_STORAGE_DEGRADED,
)
from tests.daemon.conftest import Running, until
from tests.daemon.recorder import Recorder
from tests.e2e.harness import ApiClient, Simulator


async def status_cli(*args: str) -> tuple[int, str, str]:
    """``risk-manager status ARGS`` as a user runs it (a separate process; the daemon's loop keeps going)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "risk_manager",
        "status",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def health(api: ApiClient) -> dict[str, Any]:
    reply = await api.request("health")
    assert reply["ok"], reply
    data: dict[str, Any] = reply["data"]
    return data


async def protected(api: ApiClient, n: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        data = await health(api)
        return data if data["protected"] == n else None

    deadline = asyncio.get_running_loop().time() + 20
    while asyncio.get_running_loop().time() < deadline:
        data = await check()
        if data is not None:
            return data
        await asyncio.sleep(0.25)  # stays inside the health budget (2/s)
    raise AssertionError(f"not {n} accounts protected: {await health(api)}")


async def test_health_and_status_command_report_protection_event_ages_and_storage(
    sim: Simulator, start_daemon: Any
) -> None:
    seen = Recorder()
    run: Running = await start_daemon({3001: {}, 3002: {}}, sinks=(seen,))
    async with ApiClient(run.api_url) as api:
        first = await protected(api, 2)
        assert first["status"] == "ok" and first["healthy"] and first["problems"] == []
        assert first["version"] == __version__ and first["state"] == "running"
        assert [a["accountId"] for a in first["accounts"]] == [3001, 3002]
        assert first["storage"]["state"] == "ok"

        # A fill on 3001 is its last event; the daemon's clock moves 90 s: the age says so exactly.
        sim.quote("RTY", 2450.0, 2450.1)
        sim.order(3001, "RTY", "buy", 1)
        await api.wait_for(lambda m: m.get("type") == "trade" and m.get("accountId") == 3001, 10, "the fill")
        before = run.clock.now()
        run.clock.advance(90)
        data = await health(api)
        acct = {a["accountId"]: a for a in data["accounts"]}
        assert acct[3001]["lastEventAgeS"] is not None
        assert 90.0 <= acct[3001]["lastEventAgeS"] <= 90.0 + (run.clock.now() - before).total_seconds()
        assert data["uptimeS"] >= 90

        code, out, err = await status_cli("--json", "--url", run.api_url)
        assert code == EXIT_OK, out + err
        shown = json.loads(out)
        assert shown["reachable"] and shown["status"] == "ok" and shown["protected"] == 2
        code, out, _ = await status_cli("--url", run.api_url)
        assert code == EXIT_OK
        assert out.splitlines()[0] == "OK: 2 of 2 accounts protected"
        assert "3001" in out and "last event 1m 30s ago" in out and "Storage: ok" in out

        # Storage fails for real (SQLite refuses every write on the writer's connection).
        assert run.daemon.persist is not None
        writer = run.daemon.persist._writer
        writer._give_up_after = 0.5  # declared degraded after 0.5 s of failing writes instead of 10 s
        writer._conn.execute("PRAGMA query_only=1")
        sim.order(3001, "RTY", "sell", 1)  # its trade row cannot be written
        await until(lambda: seen.of(StorageDegraded), 10, "storage degraded")
        data = await health(api)
        assert data["status"] == "storage_degraded" and not data["healthy"]
        assert any(p.startswith("storage degraded: ") for p in data["problems"])
        code, out, _ = await status_cli("--url", run.api_url)
        assert code == EXIT_STORAGE_DEGRADED
        assert "STORAGE DEGRADED: 2 of 2 accounts protected" in out and "Storage: DEGRADED since" in out
        writer._conn.execute("PRAGMA query_only=0")
        await until(lambda: seen.of(StorageRecovered), 10, "storage recovered")

        # The broker's hubs go away: NOT PROTECTED outranks everything but "not running".
        sim.control("POST", "/faults", {"kind": "hub_outage", "duration_s": 4})
        await api.wait_for(
            lambda m: m.get("type") == "connection" and m["data"].get("protection") == "disconnected",
            10,
            "accounts disconnected",
        )
        code, out, _ = await status_cli("--json", "--url", run.api_url)
        assert code == EXIT_NOT_PROTECTED, out
        shown = json.loads(out)
        assert shown["status"] == "not_protected" and shown["notProtected"] >= 1
        down = [a for a in shown["accounts"] if not a["protected"]]
        assert down and all(a["reason"] for a in down)
        assert any("NOT PROTECTED - broker connection lost" in p for p in shown["problems"])
        await protected(api, 2)  # the outage ends and both are watched again
    assert await run.stop() == 0
    code, out, err = await status_cli("--json", "--url", run.api_url)
    assert code == EXIT_DAEMON_UNREACHABLE
    assert json.loads(out) == {"reachable": False, "url": run.api_url, "reason": "connection refused"}
    code, out, err = await status_cli("--url", run.api_url)
    assert code == EXIT_DAEMON_UNREACHABLE and "NOT RUNNING" in err
