"""The drawdown floor, the ladder's reduce-only rung, the week and the losing streak on the dashboard
(issue 15), against a real simulator and a real daemon: the Textual pilot waits on widget text.

Account 6101 carries RULE-013 (intraday, max drawdown 1,000, locked at the start: the floor line is
49,000.00) with a reduce-only rung at 50 % of the room, RULE-014 (weekly loss 1,000) and RULE-015
(3 losses in a row). Account 6102 has none of them: its Overview shows no floor or week line.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from risk_manager.trader.app import TraderApp
from risk_manager.trader.notifier import RecordingNotifier
from risk_manager.trader.widgets.table import KeyedTable

from .conftest import Stack, live, make_stack, text_of, until

ACCOUNTS: dict[int, dict[str, Any]] = {
    6101: {
        "trailing_drawdown": {
            "enabled": True,
            "mode": "intraday",
            "max_drawdown": 1000,
            "lock_at_start": True,
            "ladder": {"reduce_only_at": 50},
        },
        "weekly_limits": {"enabled": True, "loss_limit": 1000},
        "consecutive_losses": {"enabled": True, "max_losses": 3, "action": "cooldown", "cooldown_seconds": 600},
    },
    6102: {"daily_realized_loss": {"enabled": True, "loss_limit": 1000}},
}


@pytest.fixture(scope="module")
def stack(module_root: Path) -> Iterator[Stack]:
    yield from make_stack(module_root, ACCOUNTS)


def app_for(stack: Stack, account: int, notifier: RecordingNotifier | None = None) -> TraderApp:
    return TraderApp(stack.url, db_path=stack.db, account=account, notifier=notifier or RecordingNotifier())


def money_in(text: str, before: str) -> Decimal:
    """The amount written just before ``before``: ``$1,000.00 above`` -> 1000.00."""
    head = text.split(before, 1)[0].rsplit("$", 1)[1].strip()
    return Decimal(head.replace(",", ""))


async def test_floor_week_streak_and_the_reduce_only_rung_as_exits_only(stack: Stack) -> None:
    notifier = RecordingNotifier()
    app = app_for(stack, 6101, notifier)
    sim = stack.sim
    async with app.run_test(size=(110, 34)) as pilot:
        await live(pilot, app)
        # Before any trade: net 50,000.00, the floor line 1,000.00 below it (locked at the start).
        await until(pilot, lambda: "$1,000.00 above $49,000.00" in text_of(app, "#ov-drawdown"), 10, "the floor")
        assert "net $50,000.00" in text_of(app, "#ov-drawdown") and "used 0 %" in text_of(app, "#ov-drawdown")
        assert "Losing streak 0 of 3" in text_of(app, "#ov-week")

        # A losing round trip: RTY -3.1 points = -$155 (+ $2.80 fees in the balance).
        sim.quote("RTY", 2450.0, 2450.1)
        sim.order(6101, "RTY", "buy", 1)
        sim.quote("RTY", 2447.0, 2447.1)
        sim.order(6101, "RTY", "sell", 1)
        await until(pilot, lambda: "Losing streak 1 of 3" in text_of(app, "#ov-week"), 10, "streak 1 of 3")
        assert "P&L −$155.00 of loss $1,000.00" in text_of(app, "#ov-week")
        await until(
            pilot, lambda: "$842.20 above $49,000.00" in text_of(app, "#ov-drawdown"), 10, "the floor closer"
        )

        # Two lots held while RTY falls 4.1 points: -$410 open, the room used passes 50 %: exits only.
        sim.quote("RTY", 2450.0, 2450.1)
        sim.order(6101, "RTY", "buy", 2)
        sim.quote("RTY", 2446.0, 2446.1, 2446.0)
        await until(pilot, lambda: "EXITS ONLY" in text_of(app, "#header"), 10, "the rung in the header")
        header = text_of(app, "#header")
        assert "▼ EXITS ONLY until 17:00 CT" in header and "LOCKED" not in header
        banner = text_of(app, "#banners")
        assert "EXITS ONLY — Trailing drawdown:" in banner and "reduce-only rung at 50%" in banner
        assert "closing is allowed" in banner
        assert notifier.count("desktop", "EXITS ONLY") == 1
        await until(  # the open loss counts: the distance shrank below half of the room
            pilot,
            lambda: money_in(text_of(app, "#ov-drawdown"), " above $49,000.00") < Decimal("500"),
            10,
            "the floor within $500",
        )
        assert sim.positions(6101)  # nothing was closed: holding is allowed

        await pilot.press("5")
        rules = app.query_one("#rules-table", KeyedTable)
        await until(pilot, lambda: "exits only" in rules.cell_text("RULE-013", "state"), 10, "RULE-013 exits only")
        assert rules.cell_text("RULE-013", "rule") == "Trailing drawdown"
        assert rules.cell_style("RULE-013", "state") != app.palette.crit  # not drawn as a lock
        assert rules.cell_text("RULE-014", "limit").startswith("loss 1000.00 per week")
        assert rules.cell_text("RULE-015", "current") == "1"
        await pilot.press("6")
        active = app.query_one("#lock-active", KeyedTable)
        await until(pilot, lambda: len(active.row_keys()) == 1, 5, "the rung listed")
        (key,) = active.row_keys()
        assert active.cell_text(key, "rule") == "Trailing drawdown (exits only)"

        # Exits stay open: closing the two lots is not refused, and the rung stays for the day.
        sim.order(6101, "RTY", "sell", 2)
        await pilot.press("1")
        await until(pilot, lambda: "Losing streak 2 of 3" in text_of(app, "#ov-week"), 10, "streak 2 of 3")
        assert sim.positions(6101) == {}
        assert "EXITS ONLY" in text_of(app, "#header")


async def test_no_floor_or_week_line_while_those_rules_are_off(stack: Stack) -> None:
    app = app_for(stack, 6102)
    async with app.run_test(size=(110, 34)) as pilot:
        await live(pilot, app)
        await until(pilot, lambda: "Loss limit  $1,000.00" in text_of(app, "#ov-limit"), 10, "the overview")
        assert not app.query_one("#ov-drawdown").display and not app.query_one("#ov-week").display
        await pilot.press("5")
        rules = app.query_one("#rules-table", KeyedTable)
        await until(pilot, lambda: len(rules.row_keys()) == 15, 5, "fifteen rules")
        assert rules.cell_text("RULE-013", "state") == "disabled"
