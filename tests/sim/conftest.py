"""Simulator tests: an in-process ``SimServer`` on a real loopback port, driven over real sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from risk_manager.sim.server import SimServer
from tests.sim.hubclient import HubClient

ACCOUNT = 1001
MNQ = "CON.F.US.MNQ.Z25"  # front month on the pinned date below
AS_OF = "2025-11-20"


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


class Sim:
    """A running simulator plus an HTTP client and small helpers for REST, control API and hubs."""

    def __init__(self, server: SimServer, http: httpx.AsyncClient) -> None:
        self.server = server
        self.http = http
        self.hubs: list[HubClient] = []

    @property
    def url(self) -> str:
        return self.server.base_url

    async def login(self, user: str = "sim", key: str = "sim-key") -> str:
        answer = await self.http.post("/api/Auth/loginKey", json={"userName": user, "apiKey": key})
        body = answer.json()
        assert body["success"], body
        return str(body["token"])

    async def api(self, token: str | None, path: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.post(path, json={} if body is None else body, headers=headers)

    async def ok(self, token: str, path: str, body: Any = None) -> dict[str, Any]:
        answer = await self.api(token, path, body)
        assert answer.status_code == 200, (answer.status_code, answer.text)
        return dict(answer.json())

    async def ctl(self, path: str, body: Any = None, status: int = 200) -> Any:
        answer = await self.http.post("/sim" + path, json={} if body is None else body)
        assert answer.status_code == status, (answer.status_code, answer.text)
        return answer.json()

    async def get(self, path: str, **params: Any) -> Any:
        answer = await self.http.get("/sim" + path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def settings(self, **values: Any) -> dict[str, Any]:
        return dict(await self.ctl("/settings", values))

    async def fault(self, **spec: Any) -> dict[str, Any]:
        return dict(await self.ctl("/faults", spec))

    async def order(self, status: int = 200, **body: Any) -> Any:
        body.setdefault("accountId", ACCOUNT)
        body.setdefault("contractId", "MNQ")
        return await self.ctl("/orders", body, status)

    async def quote(self, bid: str | float, ask: str | float, contract: str = "MNQ", **extra: Any) -> Any:
        return await self.ctl("/quote", {"contractId": contract, "bid": bid, "ask": ask, **extra})

    async def state(self, **params: Any) -> dict[str, Any]:
        return dict(await self.get("/state", **params))

    async def journal(self, since: int = 0, **params: Any) -> list[dict[str, Any]]:
        page = await self.get("/journal", since=since, **params)
        return list(page["entries"])

    async def user_hub(
        self, token: str, accounts: tuple[int, ...] = (ACCOUNT,), streams: bool = True, **kw: Any
    ) -> HubClient:
        hub = await HubClient.open(self.url + "/hubs/user", token, **kw)
        self.hubs.append(hub)
        if streams:
            assert (await hub.invoke("SubscribeAccounts")).get("error") is None
            for acct in accounts:
                for method in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades"):
                    completion = await hub.invoke(method, acct)
                    assert "error" not in completion, completion
        return hub

    async def market_hub(self, token: str, *contracts: str, **kw: Any) -> HubClient:
        hub = await HubClient.open(self.url + "/hubs/market", token, **kw)
        self.hubs.append(hub)
        for cid in contracts:
            for method in (
                "SubscribeContractQuotes",
                "SubscribeContractTrades",
                "SubscribeContractMarketDepth",
            ):
                assert "error" not in await hub.invoke(method, cid)
        return hub


@pytest.fixture
def sim_settings() -> dict[str, Any]:
    """Override in a module to start the simulator with other settings."""
    return {}


@pytest.fixture
async def sim(sim_settings: dict[str, Any]) -> AsyncIterator[Sim]:
    from datetime import date

    server = SimServer(seed=1, settings=sim_settings or None, as_of=date.fromisoformat(AS_OF))
    async with server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            helper = Sim(server, http)
            try:
                yield helper
            finally:
                for hub in helper.hubs:
                    await hub.close()
