"""``risk-manager sim``: the local ProjectX gateway simulator (spec/gateway.md §6.1)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _serve(host: str, port: int, users: Path | None, scenario: str | None, seed: int | None) -> int:
    from risk_manager.sim.scenario import ScenarioError
    from risk_manager.sim.server import SimServer

    try:
        server = SimServer(host, port, seed=seed, users_file=users, scenario=scenario)
    except (ScenarioError, ValueError) as exc:
        print(f"risk-manager sim: {exc}", file=sys.stderr)
        return 2
    try:
        await server.start()
    except OSError as exc:
        print(f"risk-manager sim: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(server.urls()) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGBREAK", None)):
        if sig is None:
            continue
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows event loops
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    await stop.wait()
    await server.stop()
    return 0


def sim(
    host: Annotated[str, typer.Option(help="Bind address; non-loopback prints a warning.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="TCP port for REST, hubs and control API; 0 = any free port.")
    ] = 0,
    users: Annotated[Path | None, typer.Option(help="YAML/JSON users file (spec/gateway.md §6.8).")] = None,
    scenario: Annotated[str | None, typer.Option(help="'demo' or a scenario YAML file.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of every random choice (default 0).")] = None,
) -> None:
    """Run the local ProjectX gateway simulator: REST, SignalR hubs and the /sim control API."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    if not _is_loopback(host):
        print(
            f"risk-manager sim: warning: listening on {host}, reachable from other machines; "
            "the control API still answers loopback peers only",
            file=sys.stderr,
        )
    try:
        code = asyncio.run(_serve(host, port, users, scenario, seed))
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("sim")(sim)
