"""Daemon-level behaviour driven by the injected clock, and the one-push-per-change promise.

A real simulator process, the real daemon in this event loop, the test's clock (issue 7, item 4):
the daily reset happens when the test moves the wall clock past it, not hours later.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import timedelta
from typing import Any

from risk_manager.engine.trading_day import trading_date
from tests.daemon.conftest import until
from tests.e2e.harness import ApiClient, Simulator

LOSS_RULE = {"daily_realized_loss": {"enabled": True, "loss_limit": 100, "lockout_until": "daily_reset"}}


def _losing_round_trip(sim: Simulator, account: int, symbol: str) -> None:
    sim.quote(symbol, 2450.0, 2450.1)
    sim.order(account, symbol, "buy", 1)  # at 2450.1
    sim.quote(symbol, 2447.0, 2447.1)
    sim.order(account, symbol, "sell", 1)  # at 2447.0: -3.1 points x $50 = -$155 < -$100


def _of(account: int, type_: str) -> Any:
    return lambda m: m.get("type") == type_ and m.get("accountId") == account


async def test_daily_reset_runs_when_the_injected_clock_passes_it(sim: Simulator, start_daemon: Any) -> None:
    run = await start_daemon({3001: LOSS_RULE})
    engine = run.daemon.engine
    async with ApiClient(run.api_url) as api:
        _losing_round_trip(sim, 3001, "RTY")
        locked = await api.wait_for(_of(3001, "lockout_set"), 10, "RULE-003 lockout")
        assert locked["data"]["ruleId"] == "RULE-003" and locked["data"]["clearsOn"] == "reset"
        first_day = trading_date(run.clock.now(), engine.account(3001).settings.reset_time, engine.account(3001).settings.timezone)
        next_reset = engine.account(3001).next_reset
        assert next_reset is not None and next_reset > run.clock.now()

        run.clock.set(next_reset + timedelta(seconds=1))  # hours pass in an instant

        cleared = await api.wait_for(_of(3001, "lockout_cleared"), 5, "lockout cleared by the reset")
        assert cleared["data"]["clearedBy"] == "daily_reset"
        assert cleared["data"]["lockoutId"] == locked["data"]["lockoutId"]
        account = (await api.snapshot(3001))["accounts"][0]
        assert account["lockouts"] == []
        assert account["pnl"]["realized"] == "0.00" and account["pnl"]["tradeCount"] == 0
        assert account["tradingDay"] == (first_day + timedelta(days=1)).isoformat() or account["tradingDay"] > first_day.isoformat()
    assert await run.stop() == 0
    db = sqlite3.connect(run.daemon.options.data_dir / "risk.db")
    try:
        row = db.execute("SELECT active, cleared_by FROM lockouts WHERE rule_id = 'RULE-003'").fetchone()
    finally:
        db.close()
    assert row == (0, "daily_reset")


async def test_each_state_change_is_pushed_once(sim: Simulator, start_daemon: Any) -> None:
    frequency = {"trade_frequency_limit": {"enabled": True, "per_minute": {"limit": 1, "cooldown_seconds": 60}}}
    contracts = {"max_contracts": {"enabled": True, "limit": 1, "count_type": "net", "enforcement": "close_all"}}
    run = await start_daemon({3002: frequency, 3003: contracts})
    async with ApiClient(run.api_url) as api:
        for _ in range(3):  # each fill beyond the first re-sets the cooldown
            sim.order(3002, "M2K", "buy", 1)
            sim.order(3002, "M2K", "sell", 1)
        sim.order(3003, "MGC", "buy", 3)
        await until(lambda: sim.positions(3003) == {}, 10, "3003 flattened")
        await api.wait_for(lambda m: _of(3003, "enforcement")(m) and m["data"]["state"] == "done", 10, "done")
        await api.wait_for(_of(3002, "lockout_set"), 10, "cooldown")
        # Quiet moment: let every deferred push arrive before counting.
        await api.request("status")
        pushes = [m for m in api.messages if m.get("type") in ("enforcement", "lockout_set")]
    states = Counter(
        (m["data"].get("key"), m["data"]["state"], m["data"]["attempts"]) for m in pushes if m["type"] == "enforcement"
    )
    assert states and all(n == 1 for n in states.values()), states
    assert any(state == "done" for (_, state, _) in states)
    locks = Counter((m["data"]["lockoutId"], m["data"]["until"]) for m in pushes if m["type"] == "lockout_set")
    assert locks and all(n == 1 for n in locks.values()), locks
    assert await run.stop() == 0
