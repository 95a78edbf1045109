"""What a real daemon never sends, through a scripted server on a real socket: another protocol
version, malformed frames (case 17), and the same push repeated (issue 12 item 8: one row, one toast,
one bell)."""

from __future__ import annotations

from typing import Any

from risk_manager.trader.app import TraderApp
from risk_manager.trader.notifier import RecordingNotifier
from risk_manager.trader.widgets.table import KeyedTable

from .conftest import text_of, until
from .fake_daemon import NOW, FakeDaemon, iso, snapshot


def app_for(fake: FakeDaemon, **kwargs: Any) -> TraderApp:
    kwargs.setdefault("notifier", RecordingNotifier())
    return TraderApp(fake.url, account=12345, clock=lambda: NOW, **kwargs)


async def test_unsupported_protocol_is_shown_and_the_app_keeps_running() -> None:
    async with FakeDaemon() as fake:
        fake.first = fake.message("snapshot", dict(snapshot(), protocol=2), v=2)
        app = app_for(fake)
        async with app.run_test(size=(100, 30)) as pilot:
            expected = "Daemon speaks protocol 2; this dashboard supports 1. Update the risk manager."
            await until(pilot, lambda: expected in text_of(app, "#banners"), 10, "protocol banner")
            assert app.link.state != "live" and app.is_running
            await pilot.press("8")  # still answers keys
            await until(pilot, lambda: app.active_tab == "connection", 3, "tab switch")


async def test_malformed_messages_are_counted_and_ignored() -> None:
    async with FakeDaemon() as fake:
        fake.snapshot_data = snapshot()
        app = app_for(fake)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.link.state == "live" and app.view is not None, 10, "live")
            before = dict(app.view.pnl)
            fake.raw("this is not JSON")
            fake.raw('{"type": "account"}')  # no v, no seq
            fake.raw("[1, 2, 3]")
            fake.raw('{"v":1,"type":"account","seq":99,"accountId":"12345","data":{"realized":"-1"}}')
            fake.push("account", {"realized": "-320.00", "net": "-420.00"}, 12345)
            await until(
                pilot, lambda: app.view.pnl.get("realized") == "-320.00", 10, "the valid push applied"
            )
            assert app.link.malformed_total == 4
            assert before["realized"] == "-312.50"
            await pilot.press("8")
            await until(
                pilot,
                lambda: "4 malformed" in text_of(app, "#conn-dashboard"),
                5,
                "counted on the Connection tab",
            )
            assert app.is_running and app.link.state == "live"


async def test_repeated_pushes_make_one_row_one_toast_one_bell() -> None:
    async with FakeDaemon() as fake:
        fake.snapshot_data = snapshot()
        notifier = RecordingNotifier()
        app = app_for(fake, notifier=notifier)
        async with app.run_test(size=(110, 30)) as pilot:
            await until(pilot, lambda: app.link.state == "live" and app.view is not None, 10, "live")
            record = {
                "id": 320,
                "ruleId": "RULE-003",
                "action": "close_all",
                "target": None,
                "state": "done",
                "attempts": 1,
                "reason": "realized -512.40 < -500.00",
            }
            lock = {
                "lockoutId": "L9",
                "ruleId": "RULE-003",
                "scope": "account",
                "symbol": None,
                "kind": "hard",
                "createdAt": iso(NOW),
                "until": "2025-11-24T23:00:00Z",
                "clearsOn": "reset",
                "reason": "realized -512.40 < -500.00",
                "observed": False,
            }
            fill = {
                "tradeId": 20000099,
                "contractId": "CON.F.US.MNQ.Z25",
                "side": 1,
                "size": 2,
                "price": "21000.00",
                "pnl": "-68.50",
                "fees": "0.74",
                "executedAt": iso(NOW),
            }
            for _ in range(3):
                fake.push("enforcement", record, 12345)
                fake.push("lockout_set", lock, 12345)
                fake.push("trade", fill, 12345)
            fake.push("account", {"realized": "-512.40"}, 12345)  # a marker: everything before it is applied
            await until(pilot, lambda: app.view.pnl.get("realized") == "-512.40", 10, "all pushes applied")
            toasts = [n.message for n in app._notifications]
            assert sum("RULE-003 close all" in m for m in toasts) == 1
            assert sum("realized -512.40" in m and "RULE-003:" in m for m in toasts) == 1  # the lockout toast
            assert notifier.count("bell") == 1 and notifier.count("desktop") == 1
            await pilot.press("7")
            log = app.query_one("#enf-table", KeyedTable)
            await until(pilot, lambda: len(log.row_keys()) == 3, 5, "the log")
            assert log.row_keys().count("320") == 1
            await pilot.press("6")
            active = app.query_one("#lock-active", KeyedTable)
            # the snapshot's reduce-only rung (L4) and the pushed lock, once
            await until(pilot, lambda: sorted(active.row_keys()) == ["L4", "L9"], 5, "one row per lockout")
            await pilot.press("2")
            trades = app.query_one("#pnl-trades", KeyedTable)
            await until(pilot, lambda: "20000099" in trades.row_keys(), 5, "the trade")
            assert trades.row_keys().count("20000099") == 1 and len(app.view.trades) == 8


async def test_no_bell_and_no_notify_keep_the_toast_and_mute_silences_the_rest() -> None:
    async with FakeDaemon() as fake:
        fake.snapshot_data = snapshot()
        notifier = RecordingNotifier()
        app = app_for(fake, notifier=notifier, no_bell=True)
        async with app.run_test(size=(110, 30)) as pilot:
            await until(pilot, lambda: app.link.state == "live" and app.view is not None, 10, "live")
            lock = {
                "lockoutId": "L7",
                "ruleId": "RULE-006",
                "scope": "account",
                "symbol": None,
                "kind": "cooldown",
                "createdAt": iso(NOW),
                "until": "2025-11-24T20:27:05Z",
                "clearsOn": "time",
                "reason": "11 trades in the last minute > limit 10",
                "observed": False,
            }
            fake.push("lockout_set", lock, 12345)
            await until(pilot, lambda: "COOLDOWN" in text_of(app, "#banners"), 10, "cooldown banner")
            assert "COOLDOWN 5m 0s" in text_of(app, "#header")  # the countdown from the frozen clock
            assert any("11 trades in the last minute" in n.message for n in app._notifications)  # toast kept
            assert notifier.count("bell") == 0 and notifier.count("desktop") == 1  # --no-bell only
            await pilot.press("m")
            await until(pilot, lambda: app.muted and "[muted]" in text_of(app, "#statusbar"), 5, "muted")
            fake.push(
                "lockout_set", dict(lock, lockoutId="L8", ruleId="RULE-007", reason="trade loss"), 12345
            )
            await until(pilot, lambda: "L8" in app.view.lockouts, 5, "second lockout applied")
            await until(
                pilot, lambda: any("trade loss" in n.message for n in app._notifications), 5, "its toast"
            )
            assert notifier.count("desktop") == 1  # muted: no new desktop notification


async def test_the_collector_is_settled_once_after_the_first_snapshot_only_when_asked() -> None:
    """``risk-manager trader`` settles the collector (risk_manager/collector.py) once the first
    snapshot is on screen; an app hosted by another program (this test) leaves the host's alone."""
    import gc

    threshold = gc.get_threshold()
    try:
        async with FakeDaemon() as fake:
            fake.snapshot_data = snapshot()
            plain = app_for(fake)
            async with plain.run_test(size=(100, 30)) as pilot:
                await until(pilot, lambda: plain.link.state == "live" and plain.view is not None, 10, "live")
                await pilot.pause()
                assert gc.get_freeze_count() == 0 and gc.get_threshold() == threshold
            settled = app_for(fake, settle_gc=True)
            async with settled.run_test(size=(100, 30)) as pilot:
                await until(pilot, lambda: gc.get_freeze_count() > 0, 10, "collector settled")
                assert gc.get_threshold()[0] > threshold[0]
                frozen = gc.get_freeze_count()
                fake.push("snapshot", snapshot())  # a later snapshot (a reconnect) does not settle again
                await pilot.pause(0.2)
                assert gc.get_freeze_count() <= frozen  # frozen objects may die; none were added
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
