"""Runs for weeks (issue 8 §8), with the real daemon against a real simulator process.

* A reconcile read that returns data the engine cannot adopt is logged with the account id, shown
  as NOT PROTECTED (``reconcile_failed``) with the reason, retried with back-off, and the account is
  protected once the broker answers properly; it never stalls as "reconciling", nor claims
  "protected" over a snapshot that was refused.
* Trade ids and order ids seen are pruned at the daily reset, keeping what idempotency needs.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from risk_manager.daemon.notify import ProtectionChanged
from tests.daemon.conftest import USER, until
from tests.daemon.recorder import Recorder
from tests.e2e.harness import ApiClient, Simulator


def malformed_positions(account: int) -> dict[str, Any]:
    """A ``Position/searchOpen`` answer whose position has a size the engine cannot read."""
    now = datetime.now(UTC).isoformat()
    return {
        "success": True,
        "errorCode": 0,
        "errorMessage": None,
        "positions": [
            {
                "id": 1,
                "accountId": account,
                "contractId": "CON.F.US.MNQ.Z25",
                "creationTimestamp": now,
                "type": 1,
                "size": "two",
                "averagePrice": 24500.25,
            }
        ],
    }


async def test_unexpected_broker_data_in_a_reconcile_read_is_not_protected_and_retried(
    sim: Simulator, start_daemon: Any, caplog: pytest.LogCaptureFixture
) -> None:
    account = 3005
    sim.control(
        "POST",
        "/faults",
        {
            "kind": "fail_rest",
            "path": "/api/Position/searchOpen",
            "mode": "body",
            "body": malformed_positions(account),
            "count": 2,
            "userName": USER,
        },
    )
    seen = Recorder()
    caplog.set_level(logging.INFO, logger="risk_manager")
    try:
        run = await start_daemon({account: {}}, sinks=(seen,))
        await _reconcile_fails_then_recovers(run, account, seen, caplog)
    finally:
        sim.control("DELETE", "/faults")  # the simulator is shared by this module's tests


async def _reconcile_fails_then_recovers(
    run: Any, account: int, seen: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    async with ApiClient(run.api_url) as api:
        failed = await until(
            lambda: [m for m in seen.of(ProtectionChanged, account) if m.state == "reconcile_failed"], 10, "reconcile_failed"
        )
        assert failed[0].not_protected  # announced (log, Event Log, alert), unlike a routine reconcile
        assert "unexpected broker data" in failed[0].reason and "size" in failed[0].reason
        status = (await api.request("status"))["data"]
        if status["notProtected"]:  # still failing (the retry is 1 s later): the status says why
            (entry,) = [u for u in status["unprotected"] if u["accountId"] == account]
            assert entry["protection"] in ("reconcile_failed", "reconciling") and entry["reason"]
        logged = [r for r in caplog.records if "unexpected broker data" in r.getMessage()]
        assert logged and all(getattr(r, "acct", None) == account for r in logged)
        # The fault is used up after two reads: the next attempt adopts the real (flat) state.
        await until(
            lambda: any(m.state == "protected" and m.protected_again for m in seen.of(ProtectionChanged, account)),
            15,
            "protected again after the retries",
        )
        states = [m.state for m in seen.of(ProtectionChanged, account)]
        assert states.index("reconcile_failed") < states.index("protected"), states
        snap = (await api.snapshot(account))["accounts"][0]
        assert snap["protection"] == "protected"
        logged = [r for r in caplog.records if "unexpected broker data" in r.getMessage()]
        assert len(logged) >= 2  # both bad reads were logged
    assert await run.stop() == 0


async def test_ids_seen_are_pruned_at_the_daily_reset(sim: Simulator, start_daemon: Any) -> None:
    account = 3006
    run = await start_daemon({account: {}})
    engine = run.daemon.engine
    assert engine is not None
    acct = engine.account(account)
    for _ in range(4):
        sim.order(account, "MES", "buy", 1)
        sim.order(account, "MES", "sell", 1)
    await until(lambda: len(acct.trade_ids) >= 8, 10, "eight fills seen")
    first_trades, first_orders = set(acct.trade_ids), set(acct.order_seen)
    assert len(first_orders) >= 8
    reset = acct.next_reset
    assert reset is not None
    run.clock.set(reset + timedelta(seconds=1))
    await until(lambda: acct.last_reset == reset, 5, "the first daily reset")
    # The ids of the day that just ended are kept (a late duplicate is still recognised) ...
    assert acct.trade_ids == first_trades
    sim.order(account, "MES", "buy", 1)
    sim.order(account, "MES", "sell", 1)
    await until(lambda: len(acct.trade_ids) >= len(first_trades) + 2, 10, "two more fills")
    second = acct.next_reset
    assert second is not None and second > reset
    run.clock.set(second + timedelta(seconds=1))
    await until(lambda: acct.last_reset == second, 5, "the second daily reset")
    # ... and gone one reset later: memory does not grow with the weeks.
    assert not acct.trade_ids & first_trades
    assert not set(acct.order_seen) & first_orders
    assert await run.stop() == 0
