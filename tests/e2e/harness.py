"""Real processes for end-to-end tests: the simulator, the daemon, and a local-API client.

Everything talks over real sockets on 127.0.0.1. Waits are conditions with deadlines, never sleeps.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from risk_manager.engine.enums import WORKING_STATUSES
from risk_manager.procs import DAEMON_READY, ChildProcess, ChildProcessFailed, daemon_command, sim_command

PY = sys.executable
API_LINE = DAEMON_READY
RATE_LIMIT_RETRIES = 50


class Proc(ChildProcess):
    """A child process whose stdout lines can be waited for (test flavour: returns the line)."""

    def wait_line(self, pattern: re.Pattern[str] | None, timeout: float) -> str:  # type: ignore[override]
        try:
            return super().wait_line(pattern, timeout)[1]
        except ChildProcessFailed as exc:
            raise AssertionError(str(exc)) from None


class Simulator:
    def __init__(self, users_file: Path | None = None, port: int = 0, extra: list[str] | None = None) -> None:
        self.proc = Proc(sim_command(port=port, users=users_file) + (extra or []))
        self.urls = json.loads(self.proc.wait_line(None, 30))
        self.http = httpx.Client(base_url=self.urls["api_url"], timeout=10)

    @property
    def port(self) -> int:
        return int(self.urls["api_url"].rsplit(":", 1)[1])

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.http.request(method, f"/sim{path}", json=body)
        assert r.status_code < 300, f"{method} /sim{path} -> {r.status_code} {r.text}"
        return r.json()

    def state(self, account_id: int | None = None) -> dict[str, Any]:
        return self.control("GET", f"/state?accountId={account_id}" if account_id else "/state")

    def positions(self, account_id: int) -> dict[str, int]:
        return {
            p["contractId"]: p["size"]
            for p in self.state(account_id)["positions"]
            if p["accountId"] == account_id
        }

    def working_orders(self, account_id: int) -> list[dict[str, Any]]:
        return [
            o
            for o in self.state(account_id)["orders"]
            if o["accountId"] == account_id and o["status"] in WORKING_STATUSES  # 7 and 8 included
        ]

    def journal(self, since: int = 0, kinds: str = "rest,event") -> list[dict[str, Any]]:
        return self.control("GET", f"/journal?since={since}&kinds={kinds}")["entries"]

    def mutating_calls(self, account_id: int, path: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.journal(kinds="rest")
            if e.get("path") == path
            and isinstance(e.get("body"), dict)
            and e["body"].get("accountId") == account_id
        ]

    def order(
        self, account_id: int, contract: str, side: str, size: int, type_: str = "market", **extra: Any
    ) -> Any:
        body = {"accountId": account_id, "contractId": contract, "type": type_, "side": side, "size": size}
        body.update(extra)
        return self.control("POST", "/orders", body)

    def quote(self, contract: str, bid: float, ask: float, last: float | None = None) -> Any:
        body: dict[str, Any] = {"contractId": contract, "bid": bid, "ask": ask}
        if last is not None:
            body["last"] = last
        return self.control("POST", "/quote", body)

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll a condition until it is truthy (polling a real server is the condition, not a sleep)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def protection_is(account: int, *states: str) -> Callable[[dict[str, Any]], bool]:
    """A local-API message predicate: the account's ``connection`` push shows one of ``states``."""
    return lambda m: (
        m.get("type") == "connection"
        and m.get("accountId") == account
        and m["data"].get("protection") in states
    )


def write_config(
    directory: Path,
    urls: dict[str, str],
    logins: list[dict[str, Any]],
    rules: dict[str, Any],
    keys: dict[str, str],
    global_: dict[str, Any] | None = None,
) -> Path:
    """accounts.yaml / risk_config.yaml / secrets.yaml for the simulator's URLs (JSON is valid YAML)."""
    directory.mkdir(parents=True, exist_ok=True)
    accounts = {
        "version": 1,
        "gateway": {
            "environment": "custom",
            "api_url": urls["api_url"],
            "user_hub_url": urls["user_hub_url"],
            "market_hub_url": urls["market_hub_url"],
        },
        "logins": logins,
    }
    (directory / "accounts.yaml").write_text(json.dumps(accounts, indent=1), encoding="utf-8")
    risk: dict[str, Any] = {"version": 1, "rules": rules}
    if global_:
        risk["global"] = global_
    (directory / "risk_config.yaml").write_text(json.dumps(risk, indent=1), encoding="utf-8")
    secrets = directory / "secrets.yaml"
    secrets.write_text(json.dumps({"api_keys": keys}), encoding="utf-8")
    secrets.chmod(0o600)
    return directory


class Daemon:
    def __init__(self, workdir: Path, config_dir: Path, extra: list[str] | None = None) -> None:
        self.workdir = workdir
        self.config_dir = config_dir
        self.args = daemon_command(config_dir, workdir, *(extra or []))
        self.started = time.monotonic()
        self.proc = Proc(self.args)
        line = self.proc.wait_line(API_LINE, 30)
        match = API_LINE.search(line)
        assert match is not None
        self.api_url = match.group(1)

    def stop(self) -> int:
        return self.proc.terminate()

    def kill(self) -> None:
        self.proc.kill()


class ApiClient:
    """Local-API client that records every message, so tests can wait for one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: list[dict[str, Any]] = []
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._ids = 0

    async def __aenter__(self) -> ApiClient:
        self._ws = await connect(self.url, max_size=None)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._ws is not None:
            await self._ws.close()

    async def _read(self) -> None:
        assert self._ws is not None
        async for raw in self._ws:
            self.messages.append(json.loads(raw))
            self._changed.set()

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for msg in self.messages[seen:]:
                if predicate(msg):
                    return msg
            seen = len(self.messages)
            left = deadline - time.monotonic()
            if left <= 0:
                kinds = [m.get("type") for m in self.messages[-20:]]
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; last types {kinds}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass

    async def request(
        self, op: str, data: dict[str, Any] | None = None, timeout: float = 10, **extra: Any
    ) -> dict:
        """One request; a ``rate_limited`` answer is honoured (wait ``retryAfterMs``, ask again), as
        a well-behaved client does."""
        assert self._ws is not None
        for _ in range(RATE_LIMIT_RETRIES):
            self._ids += 1
            rid = f"t{self._ids}"
            await self._ws.send(json.dumps({"id": rid, "op": op, "data": data or {}, **extra}))
            reply = await self.wait_for(
                lambda m, rid=rid: m.get("type") == "response" and m.get("id") == rid, timeout, f"reply {op}"
            )
            error = reply.get("error") or {}
            if reply.get("ok") is not False or error.get("code") != "rate_limited":
                return reply
            await asyncio.sleep(max(0.01, (error.get("retryAfterMs") or 100) / 1000))  # the server said so
        return reply

    async def snapshot(self, account_id: int | None = None) -> dict[str, Any]:
        reply = await self.request("snapshot", {"accountId": account_id} if account_id else {})
        return reply["data"]

    def enforcement(self, state: str = "done") -> list[dict[str, Any]]:
        return [
            m for m in self.messages if m.get("type") == "enforcement" and m["data"].get("state") == state
        ]
