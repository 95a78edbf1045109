"""Regenerate the trader dashboard pictures in docs/images/ from the real app on the real demo.

    pip install -e '.[docs]'        # resvg-py: SVG -> PNG, a self-contained wheel (no Cairo, no browser)
    python docs/screenshots.py      # about 4 minutes: it follows the demo scenario

Starts the demo's simulator and daemon (``risk-manager demo``'s stack), runs the dashboard headless on
account 1001 and, at chosen moments of the story, exports Textual's SVG screenshot of each tab and
converts it to PNG. The files are committed; CI never runs this.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from risk_manager.demo.orchestrator import DemoStack
from risk_manager.trader.app import TAB_IDS, TraderApp
from risk_manager.trader.notifier import RecordingNotifier

OUT = Path(__file__).parent / "images"
SIZE = (110, 32)
FONT = 'font-family: "DejaVu Sans Mono", "Cascadia Mono", Consolas, monospace;'


def to_png(svg: str, path: Path) -> None:
    import resvg_py

    svg = svg.replace("font-family: Fira Code, monospace;", FONT)
    path.write_bytes(bytes(resvg_py.svg_to_bytes(svg_string=svg, zoom=1.4)))


async def wait(pilot: Any, check: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await pilot.pause(0.2)


async def shoot(app: TraderApp, pilot: Any, tab: str, name: str) -> None:
    await pilot.press(str(TAB_IDS.index(tab) + 1))
    await pilot.pause(0.5)
    svg = app.export_screenshot(title="risk-manager trader")
    (OUT / f"{name}.svg").write_text(svg, encoding="utf-8")
    to_png(svg, OUT / f"{name}.png")
    print(f"  {name}.png", flush=True)


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    stack = DemoStack.create()
    stack.start()
    try:
        app = TraderApp(
            stack.api_url,
            db_path=stack.workdir / "data" / "risk.db",
            account=1001,
            narration=stack.narration,
            notifier=RecordingNotifier(),
        )
        async with app.run_test(size=SIZE) as pilot:
            await wait(pilot, lambda: app.view is not None and app.link.state == "live", 30, "the dashboard")
            print("waiting for the scalping cooldown (about 95 s into the demo)...", flush=True)
            await wait(pilot, lambda: app.view.cooldown() is not None, 180, "the cooldown")
            await pilot.pause(2.0)
            for tab in ("overview", "rules", "lockouts", "enforcement", "orders", "positions"):
                await shoot(app, pilot, tab, f"trader-{tab}")
            print("waiting for the hub outage (NOT PROTECTED)...", flush=True)
            await wait(pilot, lambda: app.view.protection not in ("protected", "degraded"), 60, "the outage")
            await pilot.pause(1.0)
            await shoot(app, pilot, "connection", "trader-connection")
            await shoot(app, pilot, "overview", "trader-not-protected")
            print("waiting for the daily loss lock (about 205 s)...", flush=True)
            await wait(pilot, lambda: app.view.hard_lockout() is not None, 200, "the daily loss lock")
            await pilot.pause(3.0)
            await shoot(app, pilot, "pnl", "trader-pnl")
            await shoot(app, pilot, "overview", "trader-locked")
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
