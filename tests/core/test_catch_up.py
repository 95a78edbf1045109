"""Fills the engine did not see live are judged at their own moment (issue 8, section 3): a daily loss
that went past the limit and came back before the daemon could see it is locked, as live."""

from __future__ import annotations

from datetime import timedelta

from risk_manager.engine import Engine
from tests.core.conftest import T0, config, engine_with_contracts
from tests.core.test_reconcile import trade

LIMIT = {"daily_realized_loss": {"loss_limit": 500}}
# -300, then -250 (realized -550: past the limit), then +400 (back to -150)
DAY = [
    trade(1, -300, T0),
    trade(2, -250, T0 + timedelta(minutes=1)),
    trade(3, 400, T0 + timedelta(minutes=2)),
]


def _lockouts(engine: Engine) -> list[tuple[str, str, str]]:
    return [(lk.rule, str(lk.kind), lk.reason) for lk in engine.lockouts(123)]


def test_a_breach_that_recovered_while_unseen_is_locked_with_the_live_reason() -> None:
    live = engine_with_contracts(config(LIMIT))
    for i, t in enumerate(DAY):
        live.evaluate("GatewayUserTrade", t, T0 + timedelta(minutes=i, seconds=1))
    caught_up = engine_with_contracts(config(LIMIT))
    actions = caught_up.reconcile_account(123, T0 + timedelta(minutes=5), trades=list(reversed(DAY)))
    assert _lockouts(caught_up) == _lockouts(live) != []
    assert [lk[0] for lk in _lockouts(caught_up)] == ["RULE-003"]
    kinds = [a.kind for a in actions]
    assert "close_all" in kinds and "lockout" in kinds
    assert caught_up.realized_pnl(123) == live.realized_pnl(123)


def test_fills_after_a_hard_lockout_are_booked_but_not_judged_again() -> None:
    engine = engine_with_contracts(config(LIMIT))
    actions = engine.reconcile_account(
        123, T0 + timedelta(minutes=5), trades=[*DAY, trade(4, -900, T0 + timedelta(minutes=3))]
    )
    locks = [a for a in actions if a.kind == "lockout"]
    assert len(locks) == 1 and "-550" in locks[0].reason  # the first crossing, not the last figure
    assert str(engine.realized_pnl(123)).startswith("-1050")


def test_known_fills_are_not_judged_again() -> None:
    engine = engine_with_contracts(config(LIMIT))
    engine.reconcile_account(123, T0 + timedelta(minutes=5), trades=DAY[:1])
    assert engine.reconcile_account(123, T0 + timedelta(minutes=6), trades=DAY[:1]) == []
