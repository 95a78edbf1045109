"""The daemon's dashboard feed over the real engine, with the engine's own clock argument: rule status
pushes (one per change) and the daily reset push, which the end-to-end case can only reach with the
daemon's injected clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from risk_manager.daemon.clock import ManualClock
from risk_manager.daemon.feed import DashboardFeed
from risk_manager.daemon.notify import DashboardUpdate, Message, Notifier
from risk_manager.daemon.pipeline import InternalEvent
from risk_manager.engine import events as E
from tests.engine.conftest import T0, config, engine_with_contracts, trade


class Recorder:
    """A notifier sink keeping the dashboard updates the feed published."""

    name = "recorder"

    def __init__(self) -> None:
        self.pushed: list[tuple[str, dict[str, Any], int | None]] = []

    def deliver(self, message: Message) -> None:
        if isinstance(message, DashboardUpdate):
            self.pushed.append((message.type, dict(message.data), message.account_id))

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [d for t, d, _ in self.pushed if t == type_]


def test_rule_status_changes_are_pushed_once_and_the_daily_reset_is_announced() -> None:
    engine = engine_with_contracts(
        config({"daily_realized_loss": {"loss_limit": 500, "lockout_until": "daily_reset"}})
    )
    clock = ManualClock(T0)
    api = Recorder()
    notifier = Notifier()
    notifier.subscribe(api)
    feed = DashboardFeed(engine, notifier, clock)
    engine.tick(T0)
    baseline = {r["ruleId"]: r for r in feed.rules(123)}  # what a snapshot carries
    feed.on_event(InternalEvent(E.TICK))
    assert api.of("rule_status") == []  # nothing changed since the snapshot
    assert baseline["RULE-003"]["pctUsed"] == 0.0 and baseline["RULE-003"]["limitText"] == "loss 500.00"
    assert baseline["RULE-001"]["state"] == "inactive" and baseline["RULE-001"]["value"] is None

    payload = trade(1, -600.0, T0 + timedelta(seconds=5))
    clock.set(T0 + timedelta(seconds=5))
    engine.evaluate(E.TRADE, payload, clock.now())
    feed.on_event(InternalEvent(E.TRADE, payload))
    status = api.of("rule_status")
    assert [s["ruleId"] for s in status] == ["RULE-003"]  # only the rule that changed
    assert (
        status[0]["state"] == "locked" and status[0]["pctUsed"] == 120.0 and status[0]["value"] == "-600.00"
    )
    feed.on_event(InternalEvent(E.TICK))  # nothing changed: nothing pushed again
    assert len(api.of("rule_status")) == 1

    clock.set(T0 + timedelta(hours=7, seconds=1))  # 17:00:01 CT: the daily reset
    engine.tick(clock.now())
    feed.on_event(InternalEvent(E.TICK))
    (reset,) = api.of("daily_reset")
    assert reset["previousDay"] == "2026-11-17" and reset["tradingDay"] == "2026-11-18"
    assert reset["previousPnl"] == {"realized": "-600.00", "tradeCount": 1}
    assert reset["lockoutsCleared"] == ["L1"] and reset["nextResetAt"] == "2026-11-18T23:00:00Z"
    after = api.of("rule_status")[-1]
    assert after["ruleId"] == "RULE-003" and after["state"] == "ok" and after["pctUsed"] == 0.0
