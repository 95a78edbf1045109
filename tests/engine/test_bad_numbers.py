"""One bad number never switches a rule off (reliability issue §6), at the engine's level.

- Implausible broker values (NaN, infinities, wrong types, beyond any futures account) are rejected
  whole as ``MalformedEvent`` naming the account, before they touch state; real-world extremes
  (negative crude, Bitcoin, JPY ticks, big sizes) still pass.
- Each rule runs isolated: a rule that raises is counted, logged with the account, warned about
  once a day, and every other rule still decides on the same event.
- Money and price formatting never raise; a snapshot is built even around a value that cannot be.

The end-to-end proof through the simulator and a daemon process is ``tests/e2e/test_bad_numbers.py``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk_manager.daemon.api import views
from risk_manager.engine import Engine, MalformedEvent
from risk_manager.engine.money import fmt_cents, fmt_money, fmt_price
from risk_manager.engine.rulebook import RULES_BY_ID
from tests.engine.conftest import (
    CONTRACTS,
    ES,
    MNQ,
    T0,
    config,
    engine_with_contracts,
    order,
    pos,
    quote,
    trade,
)

S = timedelta(seconds=1)
LOSS_500 = {"daily_realized_loss": {"loss_limit": 500}}


def kinds(actions: list[Any]) -> list[tuple[str, str]]:
    return [(a.rule, str(a.kind)) for a in actions]


# ----- implausible values are rejected where payloads are parsed ------------------------------------
def test_absurd_fill_is_rejected_with_its_account_and_the_next_real_loss_still_breaches() -> None:
    engine = engine_with_contracts(config(LOSS_500))
    with pytest.raises(MalformedEvent) as caught:
        engine.evaluate("GatewayUserTrade", trade(1, -1e30), T0)
    assert caught.value.account_id == 123
    message = str(caught.value)
    assert message.startswith("account 123: ") and "profitAndLoss" in message and "-1e+30" in message
    assert engine.realized_pnl(123) == 0  # nothing of the bad fill was applied
    assert engine.account(123).trades == {}
    out = engine.evaluate("GatewayUserTrade", trade(2, -600.0, T0 + S), T0 + S)
    assert kinds(out) == [
        ("RULE-003", "close_all"),
        ("RULE-003", "cancel_all"),
        ("RULE-003", "lockout"),
    ]
    assert "realized -600.00 < -500.00" in out[0].reason


MNQ_POS = {"accountId": 123, "contractId": MNQ, "type": 1, "size": 1, "averagePrice": 21000.0, "id": 9}
MNQ_ORDER = order(5, MNQ, side=1, stop=20990.0)
MNQ_TRADE = trade(3, -50.0)
ACCOUNT = {"id": 123, "name": "A", "balance": 50000.0, "canTrade": True}


@pytest.mark.parametrize(
    ("event", "base", "field", "value"),
    [
        ("GatewayUserTrade", MNQ_TRADE, "profitAndLoss", float("nan")),
        ("GatewayUserTrade", MNQ_TRADE, "profitAndLoss", float("-inf")),
        ("GatewayUserTrade", MNQ_TRADE, "profitAndLoss", "-1e13"),
        ("GatewayUserTrade", MNQ_TRADE, "profitAndLoss", [1]),
        ("GatewayUserTrade", MNQ_TRADE, "fees", 1e15),
        ("GatewayUserTrade", MNQ_TRADE, "price", 1e300),
        ("GatewayUserTrade", MNQ_TRADE, "size", 10**12),
        ("GatewayUserTrade", MNQ_TRADE, "size", -1),
        ("GatewayUserTrade", MNQ_TRADE, "voided", "yes"),
        ("GatewayUserTrade", MNQ_TRADE, "id", 2**70),
        ("GatewayUserTrade", MNQ_TRADE, "profitAndLoss", "1" * 5000),
        ("GatewayUserPosition", MNQ_POS, "size", 10**9),
        ("GatewayUserPosition", MNQ_POS, "averagePrice", -1e12),
        ("GatewayUserPosition", MNQ_POS, "averagePrice", "Infinity"),
        ("GatewayUserPosition", MNQ_POS, "contractId", "X" * 10_000),
        ("GatewayUserPosition", MNQ_POS, "size", float("inf")),
        ("GatewayUserOrder", MNQ_ORDER, "stopPrice", float("nan")),
        ("GatewayUserOrder", MNQ_ORDER, "limitPrice", 5e9),
        ("GatewayUserOrder", MNQ_ORDER, "size", 10**8),
        ("GatewayUserAccount", ACCOUNT, "balance", 1e13),
        ("GatewayUserAccount", ACCOUNT, "name", {"a": 1}),
        ("GatewayUserAccount", ACCOUNT, "canTrade", 1),
    ],
)
def test_implausible_values_are_malformed_and_change_nothing(
    event: str, base: dict, field: str, value: Any
) -> None:
    engine = engine_with_contracts(config({**LOSS_500, "no_stop_loss_grace": {"grace_period_seconds": 30}}))
    before = (engine.realized_pnl(123), dict(engine.position_sizes(123)), dict(engine.account(123).orders))
    with pytest.raises(MalformedEvent) as caught:
        engine.evaluate(event, {**base, field: value}, T0)
    assert caught.value.account_id == 123, str(caught.value)
    assert field in str(caught.value)
    assert len(str(caught.value)) < 300  # a megabyte payload never ends up in a log line
    after = (engine.realized_pnl(123), dict(engine.position_sizes(123)), dict(engine.account(123).orders))
    assert after == before


@pytest.mark.parametrize(
    ("field", "value"),
    [("tickSize", 0), ("tickSize", 1e-12), ("tickValue", 1e9), ("tickSize", float("nan")), ("tickValue", -5)],
)
def test_absurd_contract_details_are_rejected(field: str, value: Any) -> None:
    engine = Engine.from_config(config(LOSS_500))
    with pytest.raises(MalformedEvent, match=field):
        engine.evaluate("Contract", {**CONTRACTS["MNQ"], field: value}, T0)
    assert not engine.knows_contract(MNQ)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e10, -1e10, "NaN", "1e400", True, [21000]])
def test_absurd_quotes_are_rejected(value: Any) -> None:
    engine = engine_with_contracts(config({"daily_unrealized_loss": {"loss_limit": 100}}))
    engine.evaluate("GatewayUserPosition", pos(MNQ, 1, 21000.0, T0), T0)
    engine.evaluate("GatewayQuote", quote(MNQ, 21000.0), T0)
    with pytest.raises(MalformedEvent, match="quote for"):
        engine.evaluate("GatewayQuote", quote(MNQ, value), T0 + S)  # type: ignore[arg-type]
    assert engine.state.quotes[MNQ].price() == Decimal("21000.0")
    # The next real quote is judged as usual: -$200 on 1 MNQ breaches the $100 limit.
    out = engine.evaluate("GatewayQuote", quote(MNQ, 20900.0, T0 + 2 * S), T0 + 2 * S)
    assert ("RULE-004", "close_position") in kinds(out)


def test_real_world_extremes_are_accepted() -> None:
    """The bounds must never reject a real account: negative crude (April 2020), Bitcoin-size
    prices, a JPY-size tick, tens of thousands of contracts, a billion-dollar balance."""
    engine = Engine.from_config(config({}))
    engine.evaluate(
        "Contract", {"id": "CON.F.US.JY.H26", "name": "JYH6", "tickSize": 5e-7, "tickValue": 6.25}, T0
    )
    engine.evaluate(
        "Contract", {"id": "CON.F.US.CLE.K20", "name": "CLK0", "tickSize": 0.01, "tickValue": 10}, T0
    )
    engine.evaluate(
        "GatewayUserPosition", {**MNQ_POS, "contractId": "CON.F.US.CLE.K20", "averagePrice": -37.63}, T0
    )
    engine.evaluate("GatewayQuote", {"contractId": "CON.F.US.CLE.K20", "lastPrice": -40.32}, T0)
    engine.evaluate(
        "GatewayUserPosition", {**MNQ_POS, "contractId": "CON.F.US.BTC.F26", "averagePrice": 250000.0}, T0
    )
    engine.evaluate("GatewayUserPosition", {**MNQ_POS, "size": 50_000}, T0)
    engine.evaluate("GatewayUserTrade", {**MNQ_TRADE, "profitAndLoss": -2_500_000.25, "fees": 12_000.0}, T0)
    engine.evaluate("GatewayUserAccount", {**ACCOUNT, "balance": 1_500_000_000.0}, T0)
    assert engine.position_sizes(123) == {"CON.F.US.CLE.K20": 1, "CON.F.US.BTC.F26": 1, MNQ: 50_000}
    assert engine.realized_pnl(123) == Decimal("-2500000.25")
    assert engine.unrealized_pnl(123) == Decimal("-2690.00")  # (-40.32 + 37.63) / 0.01 * $10


def test_absurd_timestamps_are_treated_as_missing() -> None:
    """A year-9999 fill time would overflow a rule's date arithmetic: it is read as "now"."""
    cfg = config({"cooldown_after_loss": {"tiers": [{"loss_amount": 100, "cooldown_seconds": 300}]}})
    engine = engine_with_contracts(cfg)
    out = engine.evaluate(
        "GatewayUserTrade", {**trade(1, -150.0), "creationTimestamp": "9999-12-31T23:59:59Z"}, T0
    )
    assert kinds(out) == [("RULE-007", "lockout")]
    assert out[0].lockout is not None and out[0].lockout.until == T0 + 300 * S


# ----- rule isolation ---------------------------------------------------------------------------------
def _boom(*args: Any) -> list[Any]:
    raise ArithmeticError("a rule's own defect")


def test_a_rule_that_raises_is_counted_logged_and_the_others_still_decide(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """RULE-007 breaks on trades (a test seam: the method is replaced); RULE-003 on the same trade
    still flattens and locks, RULE-007's failure is counted, logged with the account, warned once."""
    cfg = config(
        {**LOSS_500, "cooldown_after_loss": {"tiers": [{"loss_amount": 100, "cooldown_seconds": 300}]}}
    )
    engine = engine_with_contracts(cfg)
    monkeypatch.setattr(RULES_BY_ID["RULE-007"], "on_trade", _boom)
    with caplog.at_level(logging.ERROR, logger="risk_manager.engine"):
        out = engine.evaluate("GatewayUserTrade", trade(1, -600.0), T0)
    assert kinds(out) == [
        ("RULE-003", "close_all"),
        ("RULE-003", "cancel_all"),
        ("RULE-003", "lockout"),
        ("RULE-007", "warn"),
    ]
    assert "RULE-007 could not decide (ArithmeticError in on_trade)" in out[-1].reason
    assert engine.rule_errors() == 1 and engine.account(123).rule_errors == 1
    [record] = [r for r in caplog.records if r.name == "risk_manager.engine"]
    assert "account 123: RULE-007 failed in on_trade" in record.getMessage()
    assert record.exc_info is not None  # the traceback is in the log
    # Failing again: counted every time, warned once a day, logged at most once a minute.
    [lock] = engine.lockouts(123)
    assert engine.admin_unlock(123, lock.id, T0 + S, "test") is not None  # rules run again on trades
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="risk_manager.engine"):
        out = engine.evaluate("GatewayUserTrade", trade(2, -10.0, T0 + S), T0 + S)
    assert ("RULE-007", "warn") not in kinds(out)
    assert engine.rule_errors() == 2
    assert [r for r in caplog.records if r.name == "risk_manager.engine"] == []


def test_a_price_rule_that_raises_leaves_the_others_deciding_on_quotes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = config(
        {
            "daily_unrealized_loss": {"loss_limit": 100, "scope": "per_position"},
            "trade_management": {"trailing": {"enabled": True, "activation_ticks": 4, "distance_ticks": 4}},
        }
    )
    engine = engine_with_contracts(cfg)
    monkeypatch.setattr(RULES_BY_ID["RULE-012"], "on_quote", _boom)
    monkeypatch.setattr(RULES_BY_ID["RULE-012"], "quiet_band", _boom)
    engine.evaluate("GatewayUserPosition", pos(ES, 1, 6000.0, T0), T0)
    engine.evaluate("GatewayQuote", quote(ES, 6000.0), T0)
    out = engine.evaluate("GatewayQuote", quote(ES, 5997.75, T0 + S), T0 + S)  # -$112.50
    assert ("RULE-004", "close_position") in kinds(out)
    assert engine.rule_errors() >= 2


def test_a_rule_whose_deadline_raises_makes_the_replay_grid_tick_every_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = engine_with_contracts(config({"no_stop_loss_grace": {"grace_period_seconds": 30}}))
    engine.evaluate("GatewayUserPosition", pos(MNQ, 1, 21000.0, T0), T0)
    assert engine.next_deadline() == T0 + 30 * S
    monkeypatch.setattr(RULES_BY_ID["RULE-008"], "next_deadline", _boom)
    assert engine.next_deadline() == T0 + S


# ----- formatting never raises; snapshots survive one bad value -------------------------------------
@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True),
        st.builds(
            lambda m, e: Decimal(f"{m}E{e}"), st.integers(-(10**40), 10**40), st.integers(-999_999, 999_999)
        ),
    ),
    st.sampled_from([None, Decimal("0.25"), Decimal("1"), Decimal("5E-7"), Decimal("1E-40")]),
)
def test_money_and_price_formatting_never_raise(value: Decimal, tick: Decimal | None) -> None:
    for text in (fmt_money(value), fmt_cents(value), fmt_price(value, tick)):
        assert isinstance(text, str) and 0 < len(text) < 200


def test_money_formatting_of_everyday_values_is_unchanged() -> None:
    assert fmt_money(Decimal("-525.5")) == "-525.50"
    assert fmt_money(Decimal("0.005")) == "0.005"
    assert fmt_cents(Decimal("-0.005")) == "-0.00" and fmt_cents(Decimal("0.015")) == "0.02"
    assert fmt_price(Decimal("20997.5"), Decimal("0.25")) == "20997.50"
    assert fmt_money(Decimal("-1e30")) == "-1000000000000000000000000000000.00"  # raised before
    assert fmt_money(Decimal("-1e40")) == "-1.000000E+40"


def _view(engine: Engine) -> dict[str, Any]:
    acct = engine.account(123)
    return views.account_view(engine, acct, T0, login="main", protection="protected", connection={})


def test_a_snapshot_is_built_around_values_no_parser_would_let_in(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = engine_with_contracts(config({}))
    engine.evaluate("GatewayUserPosition", pos(MNQ, 2, 21000.0, T0), T0)
    engine.evaluate("GatewayUserPosition", pos(ES, 1, 6000.0, T0), T0)
    engine.evaluate("GatewayUserTrade", trade(1, -50.0), T0)
    acct = engine.account(123)
    acct.realized = Decimal("-1e30")  # restored from an old database, say: the view must still build
    acct.balance = Decimal("NaN")
    view = _view(engine)
    assert view["pnl"]["realized"] == "-1000000000000000000000000000000.00"
    assert view["balance"] == "NaN"
    # One position whose view cannot be built: it is sent reduced, the rest of the snapshot in full.
    real = views.position_view

    def fragile(engine: Engine, acct: Any, pos: Any, now: Any) -> dict[str, Any]:
        if pos.contract_id == ES:
            raise ArithmeticError("cannot show this one")
        return real(engine, acct, pos, now)

    monkeypatch.setattr(views, "position_view", fragile)
    view = _view(engine)
    by_contract = {p["contractId"]: p for p in view["positions"]}
    assert by_contract[ES] == {
        "contractId": ES,
        "symbol": ES,
        "type": 1,
        "size": 1,
        "averagePrice": None,
        "unrealized": None,
        "openedAt": None,
    }
    assert by_contract[MNQ]["averagePrice"] == "21000.00"
    assert view["trades"] == [] and view["pnl"]["tradeCount"] == 1  # trades are paged via history
    assert view["ruleErrors"] == 0
