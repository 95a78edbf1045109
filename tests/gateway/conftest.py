"""Gateway client tests run against the in-process simulator on a real loopback port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from risk_manager.gateway.hubs import MarketHub, UserHub
from risk_manager.gateway.rest import RestClient
from risk_manager.gateway.session import RestSettings
from risk_manager.sim.server import SimServer

API_KEY = "sim-key"


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true (a condition wait with a deadline, not a sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


async def wait_until_async(
    predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
) -> None:
    """``wait_until`` for a predicate that must query something (e.g. the simulator's journal)."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


class Events:
    """Collects ``on_event`` calls and lets a test wait for one that matches."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self.states: list[str] = []
        self.gaps = 0

    def on_event(self, target: str, payload: Any) -> None:
        self.items.append((target, payload))

    def on_state(self, state: Any, detail: str) -> None:
        self.states.append(str(state))

    def on_gap(self) -> None:
        self.gaps += 1

    def of(self, target: str) -> list[Any]:
        return [p for t, p in self.items if t == target]

    async def wait_for(
        self, target: str, match: Callable[[Any], bool] = lambda p: True, timeout: float = 10.0
    ) -> Any:
        found: list[Any] = []

        def check() -> bool:
            found[:] = [p for p in self.of(target) if match(p)]
            return bool(found)

        await wait_until(check, timeout, f"{target} event")
        return found[-1]


def fast_rest_settings(base_url: str, **overrides: Any) -> RestSettings:
    values: dict[str, Any] = {
        "api_url": base_url,
        "read_retry_delays_s": (0.05, 0.1, 0.2),
        "login_retry_s": 60.0,
    }
    values.update(overrides)
    return RestSettings(**values)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    server = SimServer(host="127.0.0.1", port=0, seed=1, users_file=None, scenario=None)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def control(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=10) as client:
        yield client


@pytest.fixture
async def rest(sim: SimServer) -> AsyncIterator[RestClient]:
    client = RestClient("sim", API_KEY, fast_rest_settings(sim.base_url))
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def mnq(rest: RestClient) -> str:
    contracts = await rest.available_contracts()
    return next(c["id"] for c in contracts if c["symbolId"] == "F.US.MNQ")


HubFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def hubs(sim: SimServer, rest: RestClient) -> AsyncIterator[HubFactory]:
    """Factory for started hubs (stopped at teardown): ``await hubs(UserHub, events, **kw)``."""
    made: list[UserHub | MarketHub] = []

    async def make(cls: type[UserHub] | type[MarketHub], events: Events, **kwargs: Any) -> Any:
        path = "/hubs/user" if cls is UserHub else "/hubs/market"
        hub = cls(
            kwargs.pop("url", sim.base_url + path),
            kwargs.pop("token_provider", rest.token),
            events.on_event,
            on_state=events.on_state,
            on_gap=events.on_gap,
            token_rejected=rest.session.token_rejected,
            **kwargs,
        )
        made.append(hub)
        hub.start()
        return hub

    try:
        yield make
    finally:
        for hub in made:
            await hub.stop()


async def sim_post(control: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await control.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def journal(control: httpx.AsyncClient, kinds: str = "rest") -> list[dict[str, Any]]:
    response = await control.get("/sim/journal", params={"kinds": kinds})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


async def rest_calls(control: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    return [e for e in await journal(control) if e.get("path") == path]
