"""The demo's rule set carries issue 15's guardrails (the drawdown floor with its reduce-only rung, the
weekly figure), and the plain demo output names the rung "exits only", not a lock."""

from __future__ import annotations

from pathlib import Path

from risk_manager.config.loader import load_config
from risk_manager.demo.demo_config import write_demo_config
from risk_manager.demo.plain import PlainLines
from risk_manager.sim.demo_scenario import DEMO


def test_demo_config_loads_with_the_floor_its_rung_and_the_week(tmp_path: Path) -> None:
    write_demo_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9/hubs/user", "http://127.0.0.1:9/hubs/market")
    rules = load_config(tmp_path).rules_for(1001)
    drawdown = rules.trailing_drawdown
    assert drawdown.enabled and drawdown.mode == "eod" and drawdown.lock_at_start
    assert drawdown.ladder is not None and drawdown.ladder.reduce_only_at == 50
    # The rung (floor 49,000 + 50 % of the 1,000 room = net 49,500) lies between the daily loss before
    # the last slide (about -375 realized) and the daily loss limit (400) plus the last slide's -250.
    assert rules.weekly_limits.enabled and rules.daily_realized_loss.loss_limit == 400
    # The last slide is slow enough to show the rung before the lock, and the story still ends by ~5 min.
    slide = next(s for s in DEMO["steps"] if s.get("at") == 228 and "move" in s)
    assert slide["move"]["over"] == "25s"
    assert max(s["at"] for s in DEMO["steps"]) <= 300


def test_plain_lines_call_the_rung_exits_only() -> None:
    lines = PlainLines()
    rung = {
        "type": "lockout_set",
        "accountId": 1001,
        "ts": "2026-11-30T17:30:00.000Z",
        "data": {
            "lockoutId": "L7",
            "ruleId": "RULE-013",
            "kind": "reduce_only",
            "until": "2026-11-30T23:00:00Z",
            "reason": "trailing drawdown used 551.20 of 1000.00 reached the reduce-only rung at 50%: exits only",
        },
    }
    text = lines.line(rung)
    assert text is not None
    assert " RULE-013  exits only " in text and "set until 17:00:00 CT" in text
    assert lines.line(rung) is None  # the same record once
