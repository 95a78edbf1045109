"""One account, one daemon that is killed and restarted: opening directly, the offline view from
SQLite, reconnecting, a broker hub outage, and the read-only guarantee (trader-cli.md §13 cases 1,
10-13, 18)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from risk_manager.daemon.app import Daemon as DaemonCore
from risk_manager.daemon.clock import ManualClock
from risk_manager.trader.app import TraderApp
from risk_manager.trader.notifier import RecordingNotifier
from risk_manager.trader.widgets.table import KeyedTable
from tests.e2e.harness import ApiClient

from .conftest import Stack, free_port, live, make_stack, text_of, until

ACCOUNT = 6101
RULES: dict[int, dict[str, Any]] = {ACCOUNT: {"daily_realized_loss": {"enabled": True, "loss_limit": 800}}}


@pytest.fixture(scope="module")
def stack(module_root: Path) -> Iterator[Stack]:
    yield from make_stack(module_root, RULES)


async def test_one_account_opens_directly_with_the_daemons_figures(stack: Stack) -> None:
    async with ApiClient(stack.url) as api:  # listening before the trades: no push can be missed
        snap = await api.wait_for(lambda m: m.get("type") == "snapshot", 10, "snapshot")
        truth = snap["data"]["accounts"][0]
        stack.sim.quote("MNQ", 20000.0, 20000.25, 20000.0)
        stack.sim.order(ACCOUNT, "MNQ", "buy", 1)
        stack.sim.quote("MNQ", 19995.0, 19995.25, 19995.0)
        stack.sim.order(ACCOUNT, "MNQ", "sell", 1)
        await api.wait_for(
            lambda m: m.get("type") == "account" and m["data"].get("tradeCount") == 2, 10, "2 trades"
        )
    notifier = RecordingNotifier()
    app = TraderApp(stack.url, db_path=stack.db, notifier=notifier)  # no --account
    async with app.run_test(size=(100, 30)) as pilot:
        await live(pilot, app)
        assert app.account_id == ACCOUNT  # opened directly: no selection screen
        await until(pilot, lambda: "Trades today 2" in text_of(app, "#ov-positions"), 10, "trade count")
        fresh = await app.link.request("snapshot", {"accountId": ACCOUNT})
        assert fresh is not None
        daemon = fresh["data"]["accounts"][0]["pnl"]
        assert app.view.pnl["realized"] == daemon["realized"] == "-10.50"
        assert app.view.pnl["tradeCount"] == daemon["tradeCount"] == 2
        assert truth["accountId"] == ACCOUNT
        assert "−$10.50" in text_of(app, "#ov-realized")


async def test_kill_offline_from_sqlite_read_only_then_restart_live_again(stack: Stack) -> None:
    notifier = RecordingNotifier()
    app = TraderApp(stack.url, db_path=stack.db, account=ACCOUNT, notifier=notifier)
    async with app.run_test(size=(110, 30)) as pilot:
        await live(pilot, app)
        stack.sim.quote("MNQ", 20000.0, 20000.25, 20000.0)
        stack.sim.order(ACCOUNT, "MNQ", "buy", 1)
        await until(pilot, lambda: app.view.positions, 10, "a position")
        await until(
            pilot,
            lambda: app.view.positions and next(iter(app.view.positions.values())).get("last"),
            10,
            "its quote",
        )
        # Positions reach the database in the batched writer (at most ~1 s late); the offline view reads it.
        await pilot.press("3")
        assert stack.daemon is not None
        stack.daemon.kill()  # SIGKILL: no goodbye
        db_bytes, db_mtime = stack.db.read_bytes(), stack.db.stat().st_mtime_ns
        # 11: offline within 10 s, countdown visible, figures from SQLite with their age.
        await until(
            pilot,
            lambda: "DAEMON OFFLINE — accounts NOT protected" in text_of(app, "#banners"),
            10,
            "offline banner",
        )
        await until(pilot, lambda: "reconnecting in" in text_of(app, "#header"), 5, "countdown")
        assert "(attempt " in text_of(app, "#header")
        await until(pilot, lambda: app.model.source == "offline", 10, "the SQLite view")
        await pilot.press("1")
        await until(pilot, lambda: "as of " in text_of(app, "#ov-net"), 5, "age of the figures")
        assert "−$10.50" in text_of(app, "#ov-realized")  # realized P&L from daily_pnl
        assert "n/a (offline)" in text_of(app, "#ov-unrealized")
        await pilot.press("3")
        positions = app.query_one("#pos-table", KeyedTable)
        await until(pilot, lambda: positions.row_keys(), 5, "positions as last saved")
        key = positions.row_keys()[0]
        assert (
            positions.cell_text(key, "unrealized") == "n/a (offline)"
            and positions.cell_text(key, "last") == "n/a (offline)"
        )
        assert notifier.count("desktop", "offline") == 1  # the offline alert rang once
        polls = app.link.last_poll_at
        await until(pilot, lambda: app.link.last_poll_at != polls, 5, "another poll of the database")
        # 18 (offline): reading never changed the database file.
        assert stack.db.read_bytes() == db_bytes and stack.db.stat().st_mtime_ns == db_mtime
        old_view = app.view
        # 12: restart; back within one backoff step, banner gone, a fresh snapshot replaces the model.
        stack.start_daemon()
        step = app.link.current_delay + 1.0
        await until(
            pilot, lambda: app.link.state == "live" and app.model.source == "live", step + 10, "live again"
        )
        assert "DAEMON OFFLINE" not in text_of(app, "#banners")
        assert app.view is not old_view and app.view.positions
        assert any("Daemon back online — data is live." in n.message for n in app._notifications)


async def test_hub_outage_shows_not_protected_until_recovery(stack: Stack) -> None:
    app = TraderApp(stack.url, db_path=stack.db, account=ACCOUNT, notifier=RecordingNotifier())
    async with app.run_test(size=(110, 30)) as pilot:
        await live(pilot, app)
        await until(pilot, lambda: app.view.protection == "protected", 20, "protected first")
        stack.sim.control("POST", "/faults", {"kind": "hub_outage", "hub": "all", "duration_s": 2})
        await until(pilot, lambda: "NOT PROTECTED — " in text_of(app, "#banners"), 10, "NOT PROTECTED banner")
        assert "The risk manager cannot act." in text_of(app, "#banners")
        await until(
            pilot,
            lambda: "NOT PROTECTED" not in text_of(app, "#banners"),
            30,
            "banner cleared after recovery",
        )
        assert app.view.protection in ("protected", "degraded")


async def test_daily_reset_zeroes_figures_and_moves_history(stack: Stack, tmp_path: Path) -> None:
    from risk_manager.daemon.options import DaemonOptions

    # A second daemon for the same simulator account, in-process, on a clock 5 s before the reset.
    chicago = ZoneInfo("America/Chicago")
    today = datetime.now(chicago).date()
    clock = ManualClock(datetime.combine(today, time(16, 59, 55), chicago).astimezone(UTC), auto_advance=False)
    port = free_port()
    options = DaemonOptions(
        config_dir=stack.config_dir,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        console_log=False,
        api_port=port,
        handle_signals=False,
        set_umask=False,
    )
    daemon = DaemonCore(options, clock=clock)
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(daemon.ready.wait(), 30)
        stack.sim.quote("MNQ", 20000.0, 20000.25, 20000.0)
        stack.sim.order(ACCOUNT, "MNQ", "buy", 1)
        stack.sim.quote("MNQ", 19990.0, 19990.25, 19990.0)
        stack.sim.order(ACCOUNT, "MNQ", "sell", 1)
        app = TraderApp(
            f"ws://127.0.0.1:{port}", account=ACCOUNT, notifier=RecordingNotifier(), clock=clock.now
        )
        async with app.run_test(size=(100, 30)) as pilot:
            await live(pilot, app)
            # Earlier tests of this module traded on the same account today: at least these two count.
            await until(pilot, lambda: _trades_today(app) >= 2, 10, "today's trades")
            before = _trades_today(app)
            day = app.view.info["tradingDay"]
            assert "reset 17:00 CT in 5s" in text_of(app, "#statusbar")
            clock.advance(10)
            await until(pilot, lambda: app.view.info["tradingDay"] != day, 10, "the daily reset")
            await until(pilot, lambda: "Trades today 0" in text_of(app, "#ov-positions"), 5, "figures zeroed")
            assert "$0.00" in text_of(app, "#ov-realized")
            assert "reset 17:00 CT in 23h 59m" in text_of(app, "#statusbar")  # countdown restarted
            assert (
                app.view.previous_day is not None and app.view.previous_day["tradeCount"] == before
            )  # history moved
    finally:
        daemon.request_stop("test done")
        await asyncio.wait_for(task, 20)


def _trades_today(app: TraderApp) -> int:
    match = re.search(r"Trades today (\d+)", text_of(app, "#ov-positions"))
    return int(match.group(1)) if match else -1
