"""``risk-manager demo``: the simulator's scripted trader, the real daemon, and a live view."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        no_dashboard: Annotated[
            bool, typer.Option("--no-dashboard", help="Plain text lines instead of the live view.")
        ] = False,
        seed: Annotated[int, typer.Option("--seed", help="Simulator seed (same seed, same prices).")] = 0,
        keep: Annotated[
            bool, typer.Option("--keep", help="Keep the temporary config, data and logs.")
        ] = False,
        duration: Annotated[
            float | None, typer.Option("--duration", help="Stop by itself after this many seconds.")
        ] = None,
    ) -> None:
        """Run a complete demo: no broker account, no set-up. Ctrl+C stops everything."""
        from risk_manager.demo.orchestrator import DemoError, DemoStack

        stack = DemoStack.create(keep=keep, seed=seed)
        typer.echo("Starting the gateway simulator (demo scenario) and the risk daemon...", err=True)
        try:
            stack.start()
            typer.echo(f"Daemon local API at {stack.api_url}; working directory {stack.workdir}", err=True)
            # The live view needs a terminal; piped or redirected output gets plain lines.
            plain = no_dashboard or not sys.stdout.isatty()
            asyncio.run(_watch(stack.api_url, stack, plain, duration))
        except DemoError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            pass
        finally:
            stack.stop()
            if keep:
                typer.echo(f"Kept {stack.workdir}", err=True)


async def _watch(url: str, stack: object, plain: bool, duration: float | None) -> None:
    from risk_manager.demo.live_view import run_view

    narration = getattr(stack, "narration", None)
    task = asyncio.create_task(_plain(url) if plain else run_view(url, narration))
    try:
        if duration is None:
            await task
        else:
            await asyncio.wait({task}, timeout=duration)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _plain(url: str) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None) as ws:
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("type") in ("enforcement", "lockout_set", "lockout_cleared", "warning", "connection"):
                data = msg.get("data") or {}
                if msg["type"] == "enforcement" and data.get("state") not in ("done", "failed", "observed"):
                    continue
                print(
                    f"{msg.get('ts')} account={msg.get('accountId')} {msg['type']} {json.dumps(data)}",
                    flush=True,
                )
