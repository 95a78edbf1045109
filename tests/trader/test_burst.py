"""A burst of fills on the P&L tab (trader-cli.md §12): the latest trade and the chart's last point are
always shown, the chart is redrawn at most every 0.5 s, and a new trade re-renders only its own cells.

Real simulator and daemon; the fills are placed while the dashboard's loop is blocked (the simulator
control calls are synchronous), so their pushes arrive together, as they do from a fast trader.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from risk_manager.trader.app import TraderApp
from risk_manager.trader.notifier import RecordingNotifier
from risk_manager.trader.widgets.pnl import CHART_EVERY_S, PnlTab
from risk_manager.trader.widgets.table import KeyedTable

from .conftest import Stack, live, make_stack, text_of, until

ACCOUNT = 6401
BURST = 12


@pytest.fixture(scope="module")
def stack(module_root: Path) -> Iterator[Stack]:
    yield from make_stack(
        module_root, {ACCOUNT: {"daily_realized_loss": {"enabled": True, "loss_limit": 5000}}}
    )


def fill(stack: Stack, n: int) -> None:
    stack.sim.order(ACCOUNT, "MES", "buy" if n % 2 == 0 else "sell", 1)


async def test_burst_of_fills_shows_the_latest_trade_and_chart_point(stack: Stack) -> None:
    app = TraderApp(stack.url, db_path=stack.db, account=ACCOUNT, notifier=RecordingNotifier())
    async with app.run_test(size=(110, 32)) as pilot:
        await live(pilot, app)
        await pilot.press("2")
        tab = app.query_one("#pnl-view", PnlTab)
        trades = app.query_one("#pnl-trades", KeyedTable)
        stack.sim.quote("MES", 5000.0, 5000.25)
        draws0, started = tab.chart_draws, time.monotonic()
        for n in range(BURST):
            fill(stack, n)

        def latest_shown() -> bool:
            view = app.view
            if view is None or len(view.trades) < BURST:
                return False
            newest = str(next(reversed(view.trades)))
            return bool(trades.row_keys()) and trades.row_keys()[0] == newest

        await until(pilot, latest_shown, 15, f"the newest of {BURST} trades at the top of the table")
        await until(pilot, lambda: f"Trades {BURST}" in text_of(app, "#pnl-summary"), 5, "the trade count")

        def last_point_drawn() -> bool:
            view = app.view
            points = [pt for pt in view.series if pt[1] is not None] if view is not None else []
            drawn = tab._chart_key
            return bool(points) and isinstance(drawn, tuple) and drawn[:2] == (len(points), points[-1])

        await until(pilot, last_point_drawn, 5, "the chart drawn up to the last point")
        elapsed = time.monotonic() - started
        assert tab.chart_draws - draws0 <= elapsed / CHART_EVERY_S + 2  # coalesced, not one per fill
        assert len(app.view.trades) == BURST and len(trades.row_keys()) == BURST

        # once the new-row highlights are over, one more fill renders only the new row's cells
        await until(pilot, lambda: not trades._new, 10, "the new-row highlights to end")
        await pilot.pause()
        renders = trades.cell_renders
        fill(stack, BURST)
        await until(pilot, lambda: len(trades.row_keys()) == BURST + 1, 10, "the next trade's row")
        await pilot.pause()
        visible = min(len(trades.row_keys()), trades.size.height - 1) * len(trades.columns_wanted)
        assert 0 < trades.cell_renders - renders <= 2 * len(trades.columns_wanted) < visible
