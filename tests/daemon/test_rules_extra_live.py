"""Issue 15 end to end: RULE-013/014/015, the ladder's reduce-only rung and the settings lock through
a real simulator and the real daemon in this event loop (``ManualClock``), including restarts on the
same data directory (what the rules remember must survive them).

The simulator stamps fills with the real time, so every test trades "now" and only then moves the
injected clock (a reset, the end of a week) - trades dated before the engine's trading day would
rightly not count.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from risk_manager.daemon import pipeline as pipeline_module
from risk_manager.engine.trading_day import trading_date
from risk_manager.engine.weeks import WEEKDAYS, next_week_start
from risk_manager.security.admin_token import read_admin_token
from tests.daemon.conftest import Running, until
from tests.e2e.harness import ApiClient, Simulator

PASSWORD = "correct horse battery staple"
Start = Callable[..., Any]


@pytest.fixture
def boot(start_daemon: Start) -> Start:
    """Start a daemon on ``root`` (the same root again = the same config and database: a restart)."""

    async def start(
        root: Path,
        accounts: dict[int, dict[str, Any]],
        *,
        at: datetime | None = None,
        global_: dict[str, Any] | None = None,
        admin: bool = False,
    ) -> Running:
        if admin:  # the admin password, as `risk-manager service set-password` leaves it
            (root / "config").mkdir(parents=True, exist_ok=True)
            hashed = root / "config" / "admin_password.hash"
            hashed.write_text(
                PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD) + "\n"
            )
            hashed.chmod(0o600)
        run: Running = await start_daemon(accounts, start_at=at, root=root, global_=global_)
        return run

    return start


def _round_trip(sim: Simulator, account: int, *, win: bool = False) -> None:
    """RTY 1 lot: -3.1 points = -$155 (or +1.9 points = +$95); $1.40 fees per side."""
    sim.quote("RTY", 2450.0, 2450.1)
    sim.order(account, "RTY", "buy", 1)  # at 2450.1
    if win:
        sim.quote("RTY", 2452.0, 2452.1)
    else:
        sim.quote("RTY", 2447.0, 2447.1)
    sim.order(account, "RTY", "sell", 1)


def _of(account: int, type_: str) -> Any:
    return lambda m: m.get("type") == type_ and m.get("accountId") == account


def _rows(run: Running, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(run.daemon.options.data_dir / "risk.db")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


async def test_rule_013_breach_distance_and_restart(sim: Simulator, boot: Start, tmp_path: Path) -> None:
    rule = {
        "enabled": True,
        "mode": "intraday",
        "starting_balance": 50000,
        "max_drawdown": 100,
        "lock_at_start": False,
    }
    accounts = {3010: {"trailing_drawdown": rule}}
    run = await boot(tmp_path / "a", accounts)
    engine = run.daemon.engine
    assert engine is not None
    async with ApiClient(run.api_url) as api:
        _round_trip(sim, 3010, win=True)  # +95 - 2.80: a new high, the floor follows it up
        await until(lambda: engine.account(3010).balance == Decimal("50092.20"), 10, "the win in the balance")
        view = engine.drawdown(3010, run.clock.now())
        assert view is not None
        # The highest net balance seen: 50,093.60 (the 2452.0 mark on the position, the entry fee in
        # the balance), or 50,092.20 when that quote reached us before the position (two hubs, no
        # order between them): only a quote after its fill prices a position for the high, and no
        # high is taken between a fill and its balance (engine/settling.py).
        high, floor = Decimal(view["highWaterMark"]), Decimal(view["floor"])
        assert high in (Decimal("50092.20"), Decimal("50093.60")) and floor == high - 100
        # Intraday the open loss counts: the -3.10 point quote alone takes the net below the floor.
        _round_trip(sim, 3010)
        locked = await api.wait_for(_of(3010, "lockout_set"), 10, "RULE-013 lockout")
        assert locked["data"]["ruleId"] == "RULE-013" and locked["data"]["lockoutKind"] == "until_reset"
        assert locked["data"]["reason"].startswith("net balance 4993")
        assert locked["data"]["reason"].endswith(f" <= floor {view['floor']}")
        await until(lambda: sim.positions(3010) == {}, 10, "flattened")
        await until(
            lambda: engine.account(3010).balance == Decimal("49934.40"), 10, "the loss in the balance"
        )
        after = engine.drawdown(3010, run.clock.now())
        assert after is not None and after["floor"] == view["floor"]  # never down
        assert Decimal(after["distance"]) == Decimal("49934.40") - floor
    assert await run.stop() == 0
    state = _rows(run, "SELECT state FROM rule_state WHERE account_id = 3010 AND rule_id = 'RULE-013'")
    assert Decimal(json.loads(state[0][0])["floor"]) == floor
    again = await boot(tmp_path / "a", accounts, at=run.clock.now() + timedelta(seconds=5))
    engine = again.daemon.engine
    assert engine is not None
    view = engine.drawdown(3010, again.clock.now())
    assert view is not None and (Decimal(view["floor"]), view["startingBalance"]) == (floor, "50000.00")
    assert [(r.rule, str(r.kind)) for r in engine.lockouts(3010)] == [("RULE-013", "until_reset")]


async def test_rule_015_streak_survives_a_restart(
    sim: Simulator, boot: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop comes right after the second loss was decided. A fill is decided on arrival, but its
    trade row is queued by the pipeline's deferred bookkeeping (after a lull): held back here, as a
    loaded machine may, so the stop always comes first. The clean stop must still commit every fill
    with the streak, and the restart must neither lose the streak nor count a fill twice (a third
    loss, a false cooldown)."""
    monkeypatch.setattr(pipeline_module, "LATER_QUIET_S", 60.0)
    monkeypatch.setattr(pipeline_module, "LATER_MAX_DELAY_S", 60.0)
    accounts = {3011: {"consecutive_losses": {"enabled": True, "max_losses": 3, "cooldown_seconds": 600}}}
    run = await boot(tmp_path / "b", accounts)
    engine = run.daemon.engine
    assert engine is not None
    _round_trip(sim, 3011)
    _round_trip(sim, 3011)
    await until(lambda: engine.account(3011).streak.losses == 2, 10, "two losses in a row")
    assert engine.lockouts(3011) == []
    assert await run.stop() == 0
    stored = _rows(run, "SELECT pnl FROM trades WHERE account_id = 3011 ORDER BY executed_at, trade_id")
    assert [pnl for (pnl,) in stored] == [None, "-155", None, "-155"]
    state = _rows(run, "SELECT state FROM rule_state WHERE account_id = 3011 AND rule_id = 'RULE-015'")
    assert json.loads(state[0][0])["losses"] == 2  # committed with the fills it counts
    monkeypatch.undo()  # the bookkeeping on time again (the dashboards' pushes ride on it)
    again = await boot(tmp_path / "b", accounts, at=run.clock.now() + timedelta(seconds=5))
    engine = again.daemon.engine
    assert engine is not None
    assert engine.account(3011).streak.losses == 2
    assert engine.lockouts(3011) == [] and engine.account(3011).realized == Decimal(-310)
    async with ApiClient(again.api_url) as api:
        _round_trip(sim, 3011)
        locked = await api.wait_for(_of(3011, "lockout_set"), 10, "RULE-015 cooldown")
        assert locked["data"]["ruleId"] == "RULE-015" and locked["data"]["kind"] == "cooldown"
        assert "3 losing trades in a row >= 3" in locked["data"]["reason"]


async def test_rule_014_locks_until_the_next_week_and_the_week_survives_a_restart(
    sim: Simulator, boot: Start, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    label = trading_date(now, datetime.strptime("17:00", "%H:%M").time(), _chicago())
    week_start = [d for d, n in WEEKDAYS.items() if n == label.weekday()][0]  # this week began today
    accounts = {3012: {"weekly_limits": {"enabled": True, "loss_limit": 250, "week_start": week_start}}}
    run = await boot(tmp_path / "c", accounts, at=now)
    engine = run.daemon.engine
    assert engine is not None
    _round_trip(sim, 3012)  # -155 this week
    await until(lambda: engine.account(3012).realized == Decimal(-155), 10, "the first loss")
    assert await run.stop() == 0
    # A day later (a reset missed while stopped): the week's P&L comes back from daily_pnl.
    tomorrow = run.clock.now() + timedelta(days=1)
    again = await boot(tmp_path / "c", accounts, at=tomorrow)
    engine = again.daemon.engine
    assert engine is not None
    await until(lambda: engine.account(3012).week.closed == Decimal(-155), 10, "the week restored")
    assert engine.account(3012).realized == 0
    assert await again.stop() == 0
    # Back on the first day's clock: a second loss breaches the week (-310 < -250).
    third = await boot(tmp_path / "c2", accounts, at=now)
    engine = third.daemon.engine
    assert engine is not None
    async with ApiClient(third.api_url) as api:
        _round_trip(sim, 3012)
        _round_trip(sim, 3012)
        locked = await api.wait_for(_of(3012, "lockout_set"), 10, "RULE-014 lockout")
        until_ = next_week_start(third.clock.now(), _reset(), _chicago(), WEEKDAYS[week_start], frozenset())
        assert locked["data"]["lockoutKind"] == "until_week_end"
        assert locked["data"]["until"].startswith(until_.strftime("%Y-%m-%dT%H:%M"))
        await until(lambda: sim.positions(3012) == {}, 10, "flat")
        third.clock.set(until_ + timedelta(seconds=1))
        cleared = await api.wait_for(_of(3012, "lockout_cleared"), 5, "the week's end")
        assert cleared["data"]["clearedBy"] == "expiry"


async def test_the_reduce_only_rung_cancels_entries_and_flattens_new_exposure(
    sim: Simulator, boot: Start, tmp_path: Path
) -> None:
    rule = {"enabled": True, "loss_limit": 200, "ladder": {"warn_at": [40], "reduce_only_at": 60}}
    run = await boot(tmp_path / "d", {3014: {"daily_realized_loss": rule}})
    async with ApiClient(run.api_url) as api:
        sim.quote("RTY", 2450.0, 2450.1)
        sim.order(3014, "RTY", "buy", 1, "limit", limitPrice=2400.0)  # an entry order, working
        await until(lambda: len(sim.working_orders(3014)) == 1, 10, "the entry order working")
        _round_trip(sim, 3014)  # -155 of 200: 77 %
        rung = await api.wait_for(_of(3014, "lockout_set"), 10, "the reduce-only rung")
        assert (rung["data"]["ruleId"], rung["data"]["kind"], rung["data"]["lockoutKind"]) == (
            "RULE-003",
            "reduce_only",
            "reduce_only",
        )
        await until(lambda: sim.working_orders(3014) == [], 10, "the entry order cancelled")
        sim.order(3014, "RTY", "buy", 1)  # new exposure while reduce-only
        await until(lambda: sim.positions(3014) == {}, 10, "the new position flattened")
        account = (await api.snapshot(3014))["accounts"][0]
        assert [(lock["ruleId"], lock["kind"]) for lock in account["lockouts"]] == [
            ("RULE-003", "reduce_only")
        ]


async def test_settings_lock_refuses_loosening_and_applies_a_schedule_at_the_reset(
    sim: Simulator, boot: Start, tmp_path: Path
) -> None:
    root = tmp_path / "e"
    accounts = {3015: {"daily_realized_loss": {"enabled": True, "loss_limit": 500}}}
    run = await boot(root, accounts, global_={"settings_lock": {"enabled": True}}, admin=True)
    engine = run.daemon.engine
    assert engine is not None
    risk_file = root / "config" / "accounts.yaml"
    original = risk_file.read_text(encoding="utf-8")
    async with ApiClient(run.api_url) as api:
        token = read_admin_token(run.daemon.options.data_dir)  # the admin channel: administrators only
        auth = await api.request("auth", {"password": PASSWORD, "adminToken": token, "osUser": "pc\\trader"})
        session = auth["data"]["session"]
        risk_file.write_text(original.replace('"loss_limit": 500', '"loss_limit": 900'), encoding="utf-8")
        refused = await api.request("reload_config", session=session)
        error = refused["error"]
        assert error["code"] == "config_invalid" and error["message"].startswith("settings lock: 1 change")
        [item] = error["errors"]
        assert item["file"] == "accounts.yaml" and item["line"] is not None
        assert item["path"].endswith("rule_overrides.daily_realized_loss.loss_limit")
        assert item["message"].startswith("loosening is locked until ")
        assert engine.account(3015).settings.rules.daily_realized_loss.loss_limit == 500  # the old one stays
        # Tightening is allowed at once.
        risk_file.write_text(original.replace('"loss_limit": 500', '"loss_limit": 400'), encoding="utf-8")
        assert (await api.request("reload_config", session=session))["ok"]
        assert engine.account(3015).settings.rules.daily_realized_loss.loss_limit == 400
        # Loosening scheduled for the next trading day: accepted now, in force after the reset.
        tomorrow = trading_date(run.clock.now(), _reset(), _chicago()) + timedelta(days=1)
        risk = json.loads((root / "config" / "risk_config.yaml").read_text(encoding="utf-8"))
        risk["pending"] = {
            "from": tomorrow.isoformat(),
            "rule_overrides": {"3015": {"daily_realized_loss": {"loss_limit": 900}}},
        }
        (root / "config" / "risk_config.yaml").write_text(json.dumps(risk), encoding="utf-8")
        reply = await api.request("reload_config", session=session)
        assert reply["ok"] and reply["data"]["scheduledFrom"] == tomorrow.isoformat(), reply
        assert engine.account(3015).settings.rules.daily_realized_loss.loss_limit == 400
        next_reset = engine.account(3015).next_reset
        assert next_reset is not None
        run.clock.set(next_reset + timedelta(seconds=1))
        await until(
            lambda: engine.account(3015).settings.rules.daily_realized_loss.loss_limit == 900,
            5,
            "the schedule",
        )
    audits = _rows(run, "SELECT action, outcome, after FROM audit_log ORDER BY id")
    actions = [(a, o) for a, o, _ in audits]
    assert ("settings_lock_refused", "config_invalid") in actions and (
        "reload_rejected",
        "config_invalid",
    ) in actions
    detail = next(after for a, _, after in audits if a == "settings_lock_refused")
    assert "loosening is locked until" in detail and "loss_limit 500 -> 900" in detail


def _chicago() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/Chicago")


def _reset() -> Any:
    return datetime.strptime("17:00", "%H:%M").time()
