"""The dashboard against a real simulator and a real daemon (trader-cli.md §13): one stack, one
account per case, the Textual pilot waiting on widget text."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from risk_manager.daemon.api.protocol import PUBLIC_OPS
from risk_manager.security.admin_token import read_admin_token
from risk_manager.trader.app import TraderApp
from risk_manager.trader.notifier import RecordingNotifier
from risk_manager.trader.screens import AccountScreen, HelpScreen
from risk_manager.trader.widgets.table import KeyedTable
from tests.e2e.harness import ApiClient

from .conftest import Stack, live, make_stack, text_of, until

PASSWORD = "correct horse battery"
ACCOUNTS: dict[int, dict[str, Any]] = {
    6001: {
        "daily_realized_loss": {"enabled": True, "loss_limit": 5000},
        "max_contracts": {"enabled": True, "limit": 10},
    },
    6002: {"no_stop_loss_grace": {"enabled": True, "grace_period_seconds": 4}},
    6003: {"daily_realized_loss": {"enabled": True, "loss_limit": 1000}},
    6004: {"daily_realized_loss": {"enabled": True, "loss_limit": 100, "lockout_until": "daily_reset"}},
    6005: {"max_contracts": {"enabled": True, "limit": 1, "count_type": "net", "enforcement": "close_all"}},
}

_OPENED: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _OPENED is not None and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@pytest.fixture(scope="module")
def stack(module_root: Path) -> Iterator[Stack]:
    (module_root / "config").mkdir(parents=True, exist_ok=True)
    hash_file = module_root / "config" / "admin_password.hash"
    hash_file.write_text(PasswordHasher().hash(PASSWORD), encoding="utf-8")
    hash_file.chmod(0o600)  # the daemon refuses a password hash other users can read
    yield from make_stack(module_root, ACCOUNTS, observe=(6005,))


def app_for(stack: Stack, account: int | None, **kwargs: Any) -> TraderApp:
    kwargs.setdefault("notifier", RecordingNotifier())
    return TraderApp(stack.url, db_path=stack.db, account=account, **kwargs)


def trade(
    stack: Stack, account: int, contract: str, buy_at: tuple[float, float], sell_at: tuple[float, float]
) -> None:
    """A round trip: buy at the first quote's ask, sell at the second quote's bid."""
    stack.sim.quote(contract, *buy_at)
    stack.sim.order(account, contract, "buy", 1)
    stack.sim.quote(contract, *sell_at)
    stack.sim.order(account, contract, "sell", 1)


def table(app: TraderApp, selector: str) -> KeyedTable:
    return app.query_one(selector, KeyedTable)


# ----- 2: several accounts -> selection screen; unknown --account -> exit 7 ---------------------------------
async def test_selection_screen_lists_every_account_and_opens_the_chosen_one(stack: Stack) -> None:
    app = app_for(stack, None)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, AccountScreen), 15, "the account selection screen")
        rows = app.screen.query_one("#acct-table").row_count
        assert rows == len(ACCOUNTS)
        await pilot.press("2", "enter")
        await until(
            pilot,
            lambda: app.account_id == 6002 and "#6002" in text_of(app, "#header"),
            5,
            "account 6002 open",
        )


def test_unknown_account_exits_7_with_the_list(stack: Stack) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "risk_manager",
            "trader",
            "--account",
            "999",
            "--url",
            stack.url,
            "--db",
            str(stack.db),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 7, proc.stderr
    assert 'Unknown account "999". Available: 6001 (E2E-6001), 6002 (E2E-6002)' in proc.stderr


def test_not_a_terminal_exits_10(stack: Stack) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "risk_manager.cli.trader", "--account", "6001", "--url", stack.url],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 10, proc.stderr
    assert "The trader dashboard needs an interactive terminal." in proc.stderr


# ----- 3: keys ------------------------------------------------------------------------------------------
async def test_keys_pressed_in_quick_succession_land_on_the_last_tab(stack: Stack) -> None:
    """A tab with a table focuses it; Textual then activates the pane holding the focused widget, a
    message later. A second key before that message must still win (seen in the guardrails test:
    ``6`` then ``1`` left the dashboard on Lockouts)."""
    app = app_for(stack, 6001)
    async with app.run_test(size=(100, 30)) as pilot:
        await live(pilot, app)
        for first, second, want in (("6", "1", "overview"), ("3", "2", "pnl"), ("7", "8", "connection")):
            await pilot.press(first, second)
            for _ in range(5):  # let every message the two keys caused be handled
                await pilot.pause()
            assert app.active_tab == want, (first, second, app.active_tab)


async def test_keys_switch_tabs_show_help_and_selection_and_quit_cleanly(stack: Stack) -> None:
    app = app_for(stack, 6001)
    async with app.run_test(size=(100, 30)) as pilot:
        await live(pilot, app)
        tabs = ["overview", "pnl", "positions", "orders", "rules", "lockouts", "enforcement", "connection"]
        for number, tab in enumerate(tabs, start=1):
            await pilot.press(str(number))
            await until(pilot, lambda tab=tab: app.active_tab == tab, 3, f"tab {tab}")
        await pilot.press("tab")
        await until(pilot, lambda: app.active_tab == "overview", 3, "Tab wraps to Overview")
        await pilot.press("shift+tab")
        await until(pilot, lambda: app.active_tab == "connection", 3, "Shift+Tab back to Connection")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), 3, "help overlay")
        assert "mute / unmute" in text_of(app.screen, "#help-text")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen), 3, "help closed")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AccountScreen), 3, "account selection")
        await pilot.press("escape")
        await until(
            pilot,
            lambda: not isinstance(app.screen, AccountScreen) and app.account_id == 6001,
            3,
            "back on 6001",
        )
        await pilot.press("q")
        await until(pilot, lambda: app.return_value == 0, 5, "clean exit")
    assert app.return_value == 0


# ----- 4: a fill with a loss ---------------------------------------------------------------------------------
async def test_losing_fill_updates_figures_trades_and_chart_and_flashes(stack: Stack) -> None:
    app = app_for(stack, 6001)
    async with app.run_test(size=(100, 30)) as pilot:
        await live(pilot, app)
        before = len(app.view.series)
        trade(stack, 6001, "MNQ", (20000.0, 20000.25), (19990.0, 19990.25))  # -10.25 pt x $2 = -$20.50
        await until(pilot, lambda: "−$20.50" in text_of(app, "#ov-realized"), 10, "realized -$20.50")
        assert app.query_one("#ov-realized").flashing  # the changed figure flashes
        await until(pilot, lambda: "Trades today 2" in text_of(app, "#ov-positions"), 5, "trade count")
        assert "−$20.50" in text_of(app, "#ov-net")
        await pilot.press("2")
        trades = table(app, "#pnl-trades")
        await until(pilot, lambda: len(trades.row_keys()) == 2, 5, "two recent trades")
        newest = trades.row_keys()[0]
        assert trades.cell_text(newest, "pnl") == "−$20.50" and trades.cell_text(newest, "total") == "−$20.50"
        assert len(app.view.series) > before  # a chart point per trade
        assert "−$20.50" in text_of(app, "#pnl-summary")


# ----- 5: a quote on an open position -------------------------------------------------------------------------
async def test_quote_move_changes_only_last_and_unrealized(stack: Stack) -> None:
    app = app_for(stack, 6001)
    async with app.run_test(size=(120, 30)) as pilot:
        await live(pilot, app)
        stack.sim.quote("MNQ", 20000.0, 20000.25, 20000.0)
        stack.sim.order(6001, "MNQ", "buy", 2)
        await pilot.press("3")
        positions = table(app, "#pos-table")
        await until(
            pilot,
            lambda: "MNQ" in "".join(positions.cell_text(k, "contract") for k in positions.row_keys()),
            10,
            "MNQ row",
        )
        key = next(k for k in positions.row_keys() if "MNQ" in k)
        await until(
            pilot, lambda: positions.cell_text(key, "last").startswith("20,000.00"), 10, "first quote shown"
        )
        cols = [c for c, _ in positions.columns_wanted if c not in ("last", "unrealized", "age")]
        before = {c: positions.cell_text(key, c) for c in cols}
        rows_before = positions.row_keys()
        stack.sim.quote("MNQ", 20010.0, 20010.25, 20010.0)
        await until(
            pilot, lambda: positions.cell_text(key, "last").startswith("20,010.00"), 10, "Last 20,010.00"
        )
        await until(
            pilot, lambda: positions.cell_text(key, "unrealized") == "$39.00", 5, "Unrealized +$39.00"
        )
        assert {c: positions.cell_text(key, c) for c in cols} == before
        assert positions.row_keys() == rows_before
        stack.sim.control(
            "POST",
            "/orders",
            {"accountId": 6001, "contractId": "MNQ", "type": "market", "side": "sell", "size": 2},
        )


# ----- 6: a position without a stop -------------------------------------------------------------------------
async def test_missing_stop_shows_countdown_then_enforcement_and_close(stack: Stack) -> None:
    app = app_for(stack, 6002)
    async with app.run_test(size=(100, 30)) as pilot:
        await live(pilot, app)
        await pilot.press("3")
        stack.sim.quote("MES", 6000.0, 6000.25)
        stack.sim.order(6002, "MES", "buy", 1)
        positions = table(app, "#pos-table")
        await until(
            pilot,
            lambda: any("✗ none closes in" in positions.cell_text(k, "stop") for k in positions.row_keys()),
            10,
            "✗ none with the grace countdown",
        )
        await until(pilot, lambda: positions.row_keys() == [], 15, "position closed by the rule")
        await pilot.press("7")
        log = table(app, "#enf-table")
        await until(
            pilot,
            lambda: any(
                log.cell_text(k, "rule") == "RULE-008" and log.cell_text(k, "result") == "done"
                for k in log.row_keys()
            ),
            10,
            "RULE-008 close done in the log",
        )
        row = next(k for k in log.row_keys() if log.cell_text(k, "rule") == "RULE-008")
        assert log.cell_text(row, "action") == "close position"
        assert "no valid stop" in log.cell_text(row, "reason")


# ----- 7: green -> yellow -> red, one 80 % alert ----------------------------------------------------------------------
async def test_rule_colours_and_a_single_80_percent_alert(stack: Stack) -> None:
    notifier = RecordingNotifier()
    app = app_for(stack, 6003, notifier=notifier)
    async with app.run_test(size=(100, 30)) as pilot:
        await live(pilot, app)
        await pilot.press("5")
        rules = table(app, "#rules-table")
        pal = app.palette

        async def used(pct: str, style: str) -> None:
            await until(
                pilot,
                lambda: (
                    rules.cell_text("RULE-003", "used") == pct
                    and rules.cell_text("RULE-003", "state").startswith("▕")
                ),
                10,
                f"RULE-003 at {pct}",
            )
            assert rules.cell_style("RULE-003", "used") == style

        trade(stack, 6003, "NQ", (20000.0, 20000.25), (19970.25, 19970.5))  # -$600
        await used("60 %", pal.ok)
        trade(stack, 6003, "NQ", (19970.25, 19970.5), (19958.0, 19958.25))  # -$250 -> 85 %
        await used("85 %", pal.warn)
        await until(
            pilot, lambda: notifier.count("desktop", "Daily realized loss at 85 %") == 1, 5, "the 80 % alert"
        )
        trade(stack, 6003, "NQ", (19958.0, 19958.25), (19968.25, 19968.5))  # +$200 -> 65 %
        await used("65 %", pal.ok)
        trade(stack, 6003, "NQ", (19968.25, 19968.5), (19953.5, 19953.75))  # -$300 -> 95 %
        await used("95 %", pal.crit)
        assert notifier.count("desktop") == 1 and notifier.count("bell") == 1  # not repeated on re-crossing


# ----- 8 and 9: lockout, then an admin unlock -------------------------------------------------------------------------
async def test_loss_past_limit_locks_then_admin_unlock_clears(stack: Stack) -> None:
    notifier = RecordingNotifier()
    app = app_for(stack, 6004, notifier=notifier)
    async with app.run_test(size=(110, 30)) as pilot:
        await live(pilot, app)
        trade(stack, 6004, "RTY", (2450.0, 2450.1), (2447.0, 2447.1))  # -3.1 pt x $50 = -$155
        await until(
            pilot, lambda: "LOCKED — Daily realized loss" in text_of(app, "#banners"), 10, "lockout banner"
        )
        banner = text_of(app, "#banners")
        assert "realized -155.00 < -100.00" in banner and " CT (" in banner  # reason and countdown
        assert "✗ LOCKED until 17:00 CT" in text_of(app, "#header")
        await pilot.press("6")
        active = table(app, "#lock-active")
        await until(pilot, lambda: len(active.row_keys()) == 1, 5, "one active lockout")
        lock_key = active.row_keys()[0]
        assert "Daily realized loss" in active.cell_text(lock_key, "rule")
        await pilot.press("7")
        log = table(app, "#enf-table")
        await until(
            pilot,
            lambda: any(log.cell_text(k, "action") == "close all" for k in log.row_keys()),
            10,
            "flatten in the log",
        )
        assert any("realized -155.00 < -100.00" in log.cell_text(k, "reason") for k in log.row_keys())
        await until(pilot, lambda: notifier.count("bell") >= 1, 5, "bell")
        assert notifier.count("bell") == 1 and notifier.count("desktop", "LOCKED") == 1
        # 9: an administrator unlocks with a reason.
        async with ApiClient(stack.url) as admin:
            token = read_admin_token(stack.root / "data")  # the admin channel: only administrators read it
            auth = await admin.request("auth", {"password": PASSWORD, "adminToken": token, "osUser": "desk"})
            assert auth["ok"], auth
            done = await admin.request(
                "unlock",
                {"accountId": 6004, "ruleId": "RULE-003", "reason": "reviewed with the trader"},
                session=auth["data"]["session"],
            )
            assert done["ok"], done
        await until(pilot, lambda: "LOCKED" not in text_of(app, "#banners"), 10, "banner cleared")
        await until(
            pilot,
            lambda: any("Trading allowed again" in n.message for n in app._notifications),
            5,
            "green toast",
        )
        await pilot.press("6")
        history = table(app, "#lock-history")
        await until(
            pilot,
            lambda: any(
                history.cell_text(k, "ended").startswith("manual unlock")
                and "reviewed with the trader" in history.cell_text(k, "ended")
                for k in history.row_keys()
            ),
            5,
            "history shows the manual unlock and its reason",
        )
        assert notifier.count("bell") == 1  # the unlock rings nothing


# ----- 14: observe-only ---------------------------------------------------------------------------------------------
async def test_observe_only_banner_and_observed_rows_without_broker_orders(stack: Stack) -> None:
    app = app_for(stack, 6005)
    async with app.run_test(size=(100, 30)) as pilot:
        await live(pilot, app)
        await until(
            pilot,
            lambda: "OBSERVE-ONLY — rules are evaluated but NOT enforced" in text_of(app, "#banners"),
            5,
            "banner",
        )
        stack.sim.quote("M2K", 2400.0, 2400.1)
        stack.sim.order(6005, "M2K", "buy", 2)
        await pilot.press("7")
        log = table(app, "#enf-table")
        await until(
            pilot,
            lambda: any(log.cell_text(k, "result") == "observed — not enforced" for k in log.row_keys()),
            10,
            "observed row",
        )
    calls = [
        e
        for e in stack.sim.journal(kinds="rest")
        if str(e.get("path", "")).startswith(("/api/Order/", "/api/Position/"))
        and str(e.get("path"))
        not in ("/api/Order/search", "/api/Order/searchOpen", "/api/Position/searchOpen")
        and isinstance(e.get("body"), dict)
        and e["body"].get("accountId") == 6005
    ]
    assert calls == []
    assert stack.sim.positions(6005)  # still held: nothing was closed


# ----- 15: too small, then resized -----------------------------------------------------------------------------------------
async def test_too_small_then_full_layout_with_the_same_state(stack: Stack) -> None:
    app = app_for(stack, 6001)
    async with app.run_test(size=(70, 20)) as pilot:
        await live(pilot, app)
        await until(pilot, lambda: app.query_one("#too-small").display, 5, "too-small screen")
        assert "Terminal too small: need 80×24, now 70×20. Enlarge the window." in text_of(app, "#too-small")
        assert not app.query_one("#main").display
        await pilot.press("5")
        await pilot.resize_terminal(100, 30)
        await until(
            pilot,
            lambda: app.query_one("#main").display and not app.query_one("#too-small").display,
            5,
            "full layout",
        )
        assert app.account_id == 6001 and app.active_tab == "rules"
        assert "#6001" in text_of(app, "#header")


# ----- 16: NO_COLOR ---------------------------------------------------------------------------------------------------------
async def test_no_color_has_no_colour_and_keeps_the_markers(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    monkeypatch.setenv("NO_COLOR", "1")
    app = app_for(stack, 6001)
    async with app.run_test(size=(100, 30)) as pilot:
        await live(pilot, app)
        await pilot.press("5")
        rules = table(app, "#rules-table")
        await until(pilot, lambda: rules.cell_text("RULE-003", "used").endswith(" OK"), 10, "the OK marker")
        svg = app.export_screenshot()
    colours = set(re.findall(r"#([0-9a-fA-F]{6})\b", svg))
    channels = {c: [int(c[i : i + 2], 16) for i in (0, 2, 4)] for c in colours}
    coloured = {c for c, rgb in channels.items() if max(rgb) - min(rgb) > 8}  # grey has equal channels
    assert coloured <= {"ff5f57", "febc2e", "28c840"}, coloured  # only the SVG frame's window buttons


# ----- 18 (online): read-only ---------------------------------------------------------------------------------------------
async def test_online_session_sends_no_command_and_never_opens_the_config(stack: Stack) -> None:
    global _OPENED

    def audit_rows() -> int:
        conn = sqlite3.connect(f"{stack.db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0])
        finally:
            conn.close()

    audited = audit_rows()
    opened: list[str] = []
    _OPENED = opened
    try:
        app = app_for(stack, 6001)
        async with app.run_test(size=(100, 30)) as pilot:
            await live(pilot, app)
            for key in ("2", "7", "p", "5", "enter", "escape", "6", "p", "r", "8"):
                await pilot.press(key)
            await until(
                pilot,
                lambda: "snapshot" in app.link.sent_ops and "history.enforcement" in app.link.sent_ops,
                5,
                "requests",
            )
            await pilot.press("q")
    finally:
        _OPENED = None
    assert set(app.link.sent_ops) <= PUBLIC_OPS, app.link.sent_ops
    assert audit_rows() == audited  # the daemon audits every admin op, even refused ones: none came
    config = str(stack.config_dir.resolve())
    assert not [p for p in opened if os.path.abspath(p).startswith(config)]
