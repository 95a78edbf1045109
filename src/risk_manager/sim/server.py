"""One aiohttp server on one port serving REST, both hubs and the control API (spec/gateway.md §6.1-§6.2).

``SimServer`` is the in-process face used by tests, benchmarks and the demo; ``risk-manager sim`` wraps
it with the readiness line and signal handling.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

from aiohttp import web

from risk_manager.sim.control import ControlApi
from risk_manager.sim.core import DEFAULT_USER, Simulator, UserSpec
from risk_manager.sim.hubs import HubServer
from risk_manager.sim.rest import RestApi
from risk_manager.sim.scenario import Scenario, ScenarioRunner, load_scenario, load_users_file

log = logging.getLogger("risk_manager.sim")


class SimServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int | None = None,
        users_file: Path | str | None = None,
        scenario: str | Scenario | None = None,
        settings: dict[str, Any] | None = None,
        users: list[UserSpec] | None = None,
        as_of: date | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        loaded = load_scenario(name=scenario) if isinstance(scenario, str) else scenario
        self.scenario = loaded
        seed_value = seed if seed is not None else (loaded.seed if loaded and loaded.seed is not None else 0)
        self.sim = Simulator(seed=seed_value, as_of=as_of or (loaded.as_of if loaded else None))
        all_users: list[UserSpec] = list(users or [])
        if users_file is not None:
            all_users += load_users_file(Path(users_file))
        if loaded is not None:
            all_users += loaded.users
        if not all_users:
            all_users = [DEFAULT_USER]
        self.sim.add_users(all_users)  # duplicate user/account -> ValueError
        if settings:
            self.sim.settings.update(settings)
        self.hubs = HubServer(self.sim)
        self.rest = RestApi(self.sim)
        self.control = ControlApi(self.sim)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    def urls(self) -> dict[str, str]:
        base = self.base_url
        return {
            "api_url": base,
            "user_hub_url": f"{base}/hubs/user",
            "market_hub_url": f"{base}/hubs/market",
            "control_url": f"{base}/sim",
        }

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        self.rest.add_routes(app)
        self.hubs.add_routes(app)
        self.control.add_routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port, reuse_address=False)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.requested_port
        self.hubs.start()
        if self.scenario is not None:
            runner = ScenarioRunner(self.sim, self.scenario, self.control)
            runner.apply_setup(add_users=False)
            self.sim.scenario = runner
        self.sim.mark_startup()
        if self.sim.scenario is not None:
            self.sim.scenario.arm()

    async def stop(self) -> None:
        if self.sim.scenario is not None:
            await self.sim.scenario.stop()
        await self.hubs.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
