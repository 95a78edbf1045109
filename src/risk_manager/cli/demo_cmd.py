"""``risk-manager demo``: the simulator's scripted trader, the real daemon, and the trader dashboard on it."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        no_dashboard: Annotated[
            bool, typer.Option("--no-dashboard", help="One plain line per event instead of the dashboard.")
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
            # The dashboard needs a terminal; piped or redirected output gets plain lines.
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
    task = asyncio.create_task(_plain(url) if plain else _dashboard(url, stack, duration))
    try:
        if duration is None:
            await task
        else:
            await asyncio.wait({task}, timeout=duration + (5 if not plain else 0))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _dashboard(url: str, stack: object, duration: float | None) -> None:
    """The real trader dashboard on the demo's daemon; the selection screen lists both accounts."""
    from risk_manager.trader.app import TraderApp

    workdir = getattr(stack, "workdir", None)
    app = TraderApp(
        url,
        db_path=None if workdir is None else workdir / "data" / "risk.db",
        narration=getattr(stack, "narration", None),
        log_file=None if workdir is None else workdir / "logs" / "trader.log",
        stop_after=duration,
        settle_gc=True,
    )
    await app.run_async()


async def _plain(url: str) -> None:
    from risk_manager.demo.plain import PlainLines
    from risk_manager.trader.client import DaemonClient

    lines = PlainLines()
    client = DaemonClient(url, silence_s=30.0)
    await client.open()
    try:
        while True:
            text = lines.line(await client.receive())
            if text:
                print(text, flush=True)
    finally:
        await client.close()
