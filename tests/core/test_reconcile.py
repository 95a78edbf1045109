"""Start-up and reconnect: the broker's REST snapshot replaces what we knew, then every rule runs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from risk_manager.engine.lockouts import Lockout
from tests.core.conftest import CONTRACTS, T0, config, engine_with_contracts, position

MNQ = CONTRACTS["MNQ"]["id"]
ES = CONTRACTS["ES"]["id"]


def trade(i: int, pnl: float | None, at=T0) -> dict:
    return {
        "id": i,
        "accountId": 123,
        "contractId": MNQ,
        "creationTimestamp": at.isoformat(),
        "price": 21000.0,
        "profitAndLoss": pnl,
        "fees": 0.74,
        "side": 1,
        "size": 1,
        "voided": False,
        "orderId": i,
    }


def test_breach_that_happened_while_down_is_enforced_at_once() -> None:
    engine = engine_with_contracts(config({"daily_realized_loss": {"loss_limit": 500}}))
    actions = engine.reconcile_account(
        123, T0, positions=[position(MNQ, 1, 21000.0)], trades=[trade(1, -300), trade(2, -250)]
    )
    kinds = [a.kind for a in actions]
    assert kinds[:2] == ["close_all", "cancel_all"] and "lockout" in kinds
    assert engine.realized_pnl(123) == Decimal("-550")


def test_snapshot_removes_positions_and_orders_that_went_away() -> None:
    engine = engine_with_contracts(config({"max_contracts": {"limit": 5}}))
    engine.evaluate("GatewayUserPosition", position(MNQ, 3, 21000.0), T0)
    engine.evaluate("GatewayUserPosition", position(ES, 2, 6000.0), T0)
    assert engine.reconcile_account(123, T0 + timedelta(seconds=5), positions=[position(ES, 4, 6000.0)]) == []
    assert list(engine.account(123).positions) == [ES]
    actions = engine.reconcile_account(123, T0 + timedelta(seconds=6), positions=[position(ES, 6, 6000.0)])
    assert [a.kind for a in actions] == ["close_all"]


def test_restored_lockout_gates_reconciled_position() -> None:
    engine = engine_with_contracts(config({"daily_realized_loss": {}}))
    record = Lockout(
        id="L7",
        account_id=123,
        rule="RULE-003",
        scope="account",
        kind="until_reset",
        until=T0 + timedelta(hours=3),
        reason="realized -600.00 < -500.00",
        created=T0 - timedelta(hours=1),
    )
    engine.restore_account(123, last_reset=T0 - timedelta(hours=17), lockouts=[record])  # 17:00 CT yesterday
    actions = engine.reconcile_account(123, T0, positions=[position(MNQ, 1, 21000.0)])
    assert [(a.rule, a.kind, a.contract_id) for a in actions] == [("LOCKOUT", "close_position", MNQ)]


def test_missed_reset_is_caught_up_once_on_start() -> None:
    engine = engine_with_contracts(config({"daily_realized_loss": {}}))
    record = Lockout(
        id="L1",
        account_id=123,
        rule="RULE-003",
        scope="account",
        kind="until_reset",
        until=T0 - timedelta(days=2, hours=1),
        reason="old",
        created=T0 - timedelta(days=3),
    )
    engine.restore_account(123, last_reset=T0 - timedelta(days=3), lockouts=[record])
    first = engine.tick(T0)
    assert [(a.rule, a.kind) for a in first] == [("RESET", "unlock")]
    assert engine.tick(T0 + timedelta(seconds=1)) == []
    assert engine.lockouts(123) == []


def test_loss_cooldown_runs_from_the_fill_time_not_the_restart() -> None:
    engine = engine_with_contracts(config({"cooldown_after_loss": {}}))
    old = trade(1, -250, at=T0 - timedelta(minutes=20))  # 900 s tier: over 5 minutes ago
    recent = trade(2, -150, at=T0 - timedelta(minutes=2))  # 300 s tier: 3 minutes left
    actions = engine.reconcile_account(123, T0, trades=[old, recent])
    locks = [a.lockout for a in actions if a.kind == "lockout"]
    assert len(locks) == 1 and locks[0].until == T0 + timedelta(minutes=3)
