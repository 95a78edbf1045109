"""SVG snapshots pin the layout of every tab, in colour and in monochrome (trader-cli.md §13).

The screens come from the real app on a scripted daemon with a fixed snapshot and a frozen clock, so
they are identical on every run. After an intended layout change, regenerate them with
``UPDATE_SNAPSHOTS=1 python -m pytest tests/trader/test_snapshots.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from risk_manager.trader.app import TAB_IDS, TraderApp
from risk_manager.trader.notifier import RecordingNotifier

from .conftest import until
from .fake_daemon import NOW, FakeDaemon, snapshot

SNAPSHOTS = Path(__file__).parent / "snapshots"
READY = {
    "overview": ("#ov-closest", "Trade frequency"),
    "pnl": ("#pnl-range", "Loss limit"),
    "positions": ("#pos-footer", "Contracts held 3"),
    "orders": ("#ord-working", None),
    "rules": ("#rules-footer", "administrator"),
    "lockouts": ("#lock-title", "Active lockouts"),
    "enforcement": ("#enf-counts", "Today: 2 actions"),
    "connection": ("#conn-dashboard", "messages"),
}


async def render(tab: str, mono: bool) -> str:
    async with FakeDaemon() as fake:
        fake.snapshot_data = snapshot()
        app = TraderApp(fake.url, account=12345, clock=lambda: NOW, mono=mono, notifier=RecordingNotifier())
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.link.state == "live" and app.view is not None, 10, "live")
            app.link.url = (
                "ws://127.0.0.1:8765"  # the fake's port is random; only the Connection tab shows it
            )
            await pilot.press(str(TAB_IDS.index(tab) + 1))
            selector, text = READY[tab]

            def ready() -> bool:
                from .conftest import text_of

                return app.active_tab == tab and (text is None or text in text_of(app, selector))

            await until(pilot, ready, 10, f"{tab} drawn")
            if tab == "pnl":
                await until(pilot, lambda: "history.pnl" in app.link.sent_ops, 5, "series requested")
            await pilot.pause()
            app._tick()
            await pilot.pause()
            svg = app.export_screenshot(title="Risk Manager — Trader")
    return re.sub(r"\n\s*$", "\n", svg)


@pytest.mark.parametrize("mono", [False, True], ids=["colour", "mono"])
@pytest.mark.parametrize("tab", TAB_IDS)
async def test_tab_layout_is_unchanged(tab: str, mono: bool) -> None:
    svg = await render(tab, mono)
    path = SNAPSHOTS / f"{tab}-{'mono' if mono else 'colour'}.svg"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not path.exists():
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        if os.environ.get("UPDATE_SNAPSHOTS") != "1":
            pytest.fail(f"{path.name} did not exist and was written; review and commit it")
    assert svg == path.read_text(encoding="utf-8"), (
        f"{tab} ({'mono' if mono else 'colour'}) differs from {path}; if intended: UPDATE_SNAPSHOTS=1"
    )
