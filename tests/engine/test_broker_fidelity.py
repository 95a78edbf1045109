"""What the live gateway sends beyond the spec's minimum (issue 9), as the engine must read it.

* Trades carry ``commissions`` beside ``fees``: net P&L subtracts both, each exactly once.
* Order status 7 (PendingCancellation) is still working until the broker confirms the cancel, and
  status 8 (Suspended, a bracket child waiting for its entry) is working but protects nothing.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from risk_manager.engine.events import parse_trade
from tests.engine.conftest import MNQ, RTY, T0, Session, config, enforcement, order, pos, trade

S = timedelta(seconds=1)
POSITION, ORDER, TRADE = "GatewayUserPosition", "GatewayUserOrder", "GatewayUserTrade"
NET = {"include_fees": True}


def charged(i: int, pnl: float | None, *, fees: Any = 0.37, commissions: Any = None, **kw: Any) -> dict:
    t = trade(i, pnl, **kw)
    if fees is None:
        del t["fees"]
    else:
        t["fees"] = fees
    if commissions is not ...:
        t["commissions"] = commissions
    return t


# ----- fees and commissions --------------------------------------------------------------------------
def test_commissions_are_a_separate_charge_and_count_once() -> None:
    assert parse_trade(charged(1, -10.0, fees=0.37, commissions=0.5)).charges == Decimal("0.87")
    assert parse_trade(charged(2, -10.0, fees=0.37, commissions=None)).charges == Decimal("0.37")
    # fees absent, commissions present (one published client reads commissions as fees then):
    # the money is counted once, not zero times and not twice
    assert parse_trade(charged(3, -10.0, fees=None, commissions=0.5)).charges == Decimal("0.5")
    assert parse_trade(charged(4, -10.0, fees=None, commissions=...)).charges == Decimal(0)


def test_daily_loss_limit_sees_commissions_in_net_pnl() -> None:
    s = Session(config({"daily_realized_loss": {"loss_limit": 100}}, global_=NET))
    # -99.00 gross, -99.37 after fees: inside the limit; the 0.70 commission makes it -100.07
    out = s.feed(T0, TRADE, charged(1, -99.0, fees=0.37, commissions=0.70))
    assert [a["action"] for a in enforcement(out)] == ["close_all", "cancel_all", "lockout"]
    assert s.engine.state.accounts[123].realized == Decimal("-100.07")


def test_each_charge_is_counted_once_across_duplicates_and_voids() -> None:
    s = Session(config({"daily_realized_loss": {"loss_limit": 1000}}, global_=NET))
    first = charged(1, None, fees=0.37, commissions=0.25, side=0)  # opening fill: charges only
    s.feed(T0, TRADE, first)
    s.feed(T0 + S, TRADE, first)  # the same fill again (reconnect, duplicate event)
    closing = charged(2, 20.0, fees=0.37, commissions=0.25, at=T0 + 2 * S)
    s.feed(T0 + 2 * S, TRADE, closing)
    acct = s.engine.state.accounts[123]
    assert acct.realized == Decimal("18.76")  # 20 - 2 x (0.37 + 0.25)
    s.feed(T0 + 3 * S, TRADE, {**closing, "voided": True})  # busted: P&L and both charges go back
    assert acct.realized == Decimal("-0.62")


def test_gross_pnl_ignores_every_charge() -> None:
    s = Session(config({"daily_realized_loss": {"loss_limit": 100}}))
    assert enforcement(s.feed(T0, TRADE, charged(1, -99.0, fees=0.37, commissions=5.0))) == []
    assert s.engine.state.accounts[123].realized == Decimal("-99")


def test_cooldown_tiers_judge_the_loss_net_of_commissions() -> None:
    tiers = {"tiers": [{"loss_amount": 100, "cooldown_seconds": 60}]}
    s = Session(config({"cooldown_after_loss": tiers}, global_=NET))
    out = s.feed(T0, TRADE, charged(1, -99.5, fees=0.0, commissions=0.5))
    assert [a["action"] for a in enforcement(out)] == ["lockout"]


# ----- order status 8: suspended bracket children -----------------------------------------------------
def test_a_suspended_bracket_stop_does_not_protect_a_position() -> None:
    s = Session(config({"no_stop_loss_grace": {"grace_period_seconds": 30}}))
    s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0))
    # the entry filled only partly: its stop child is still suspended
    assert enforcement(s.feed(T0 + S, ORDER, order(7, MNQ, side=1, stop=20990.0, status=8, at=T0 + S))) == []
    assert 7 in s.engine.state.accounts[123].orders  # working: it may still become live
    out = s.tick(T0 + 31 * S)
    assert [(a["rule"], a["action"]) for a in enforcement(out)] == [("RULE-008", "close_position")]


def test_a_suspended_stop_that_goes_live_protects() -> None:
    s = Session(config({"no_stop_loss_grace": {"grace_period_seconds": 30}}))
    s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0))
    s.feed(T0 + S, ORDER, order(7, MNQ, side=1, stop=20990.0, status=8, at=T0 + S))
    s.feed(T0 + 2 * S, ORDER, order(7, MNQ, side=1, stop=20990.0, status=1, at=T0 + 2 * S))
    assert enforcement(s.tick(T0 + 120 * S)) == []


def test_a_suspended_order_in_a_blocked_symbol_is_cancelled() -> None:
    s = Session(config({"symbol_blocks": {"blocked_symbols": ["RTY"], "close_existing": True}}))
    out = s.feed(T0, ORDER, order(9, RTY, side=1, stop=2400.0, status=8))
    assert [(a["rule"], a["action"], a.get("orderId")) for a in enforcement(out)] == [
        ("RULE-011", "cancel_order", 9)
    ]


# ----- order status 7: pending cancellation -----------------------------------------------------------
def test_a_pending_cancellation_is_still_working_until_confirmed() -> None:
    s = Session(config({"no_stop_loss_grace": {"grace_period_seconds": 30}}))
    s.feed(T0, ORDER, order(7, MNQ, side=1, stop=20990.0, status=7))
    assert 7 in s.engine.state.accounts[123].orders  # not cancelled before the broker says so
    s.feed(T0 + S, ORDER, order(7, MNQ, side=1, stop=20990.0, status=3, at=T0 + S))
    assert 7 not in s.engine.state.accounts[123].orders


def test_a_stop_being_cancelled_restarts_the_grace_period_at_the_request() -> None:
    s = Session(config({"no_stop_loss_grace": {"grace_period_seconds": 30}}))
    s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0))
    s.feed(T0 + S, ORDER, order(7, MNQ, side=1, stop=20990.0, at=T0 + S))
    assert enforcement(s.tick(T0 + 60 * S)) == []  # protected
    s.feed(T0 + 61 * S, ORDER, order(7, MNQ, side=1, stop=20990.0, status=7, at=T0 + 61 * S))
    assert enforcement(s.tick(T0 + 90 * S)) == []
    out = s.tick(T0 + 92 * S)  # 30 s after the cancel was requested, not after it was confirmed
    assert [(a["rule"], a["action"]) for a in enforcement(out)] == [("RULE-008", "close_position")]


def test_a_cancel_that_the_broker_refuses_leaves_the_stop_protecting() -> None:
    s = Session(config({"no_stop_loss_grace": {"grace_period_seconds": 30}}))
    s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0))
    s.feed(T0 + S, ORDER, order(7, MNQ, side=1, stop=20990.0, at=T0 + S))
    s.feed(T0 + 2 * S, ORDER, order(7, MNQ, side=1, stop=20990.0, status=7, at=T0 + 2 * S))
    s.feed(T0 + 3 * S, ORDER, order(7, MNQ, side=1, stop=20990.0, status=1, at=T0 + 3 * S))
    assert enforcement(s.tick(T0 + 120 * S)) == []


def test_no_second_cancel_for_an_order_whose_cancellation_is_pending() -> None:
    s = Session(config({"daily_realized_loss": {"loss_limit": 500}}))
    s.feed(T0, TRADE, trade(1, -600.0))  # locked until the reset
    pending = order(8, MNQ, side=0, otype=1, limit=20990.0, status=7, at=T0 + S)
    assert enforcement(s.feed(T0 + S, ORDER, pending)) == []
    working = order(9, MNQ, side=0, otype=1, limit=20990.0, at=T0 + 2 * S)
    assert [a["action"] for a in enforcement(s.feed(T0 + 2 * S, ORDER, working))] == ["cancel_order"]
