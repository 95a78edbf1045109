"""RULE-013's intraday high-water mark is only taken from a net balance that really existed: a balance
and positions of the same moment, each position priced by a quote that reached us after its last fill.

Seen once in ``tests/daemon/test_rules_extra_live.py::test_rule_013_breach_distance_and_restart``:
the high rose by exactly the +95 of the winning round trip. The numbers here are that test's (RTY
1 lot, $50 a point, $1.40 fees a side, the simulator's event order Trade -> Position -> Order ->
Account): a new position priced with the quote of the previous round trip (its quotes come on
another hub and may be late), an account event with the closing fill's balance before that fill's
position event (the broker orders nothing across event types, spec/gateway.md §4.4), and a
reconcile's REST snapshot followed by the older hub events buffered while it was read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from itertools import permutations
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk_manager.engine import Engine
from risk_manager.engine.settling import settled
from tests.engine.conftest import RTY, T0, config, engine_with_contracts, pos, quote, trade

S = timedelta(seconds=1)
MS = timedelta(milliseconds=1)
POSITION, TRADE, QUOTE, ACCOUNT = "GatewayUserPosition", "GatewayUserTrade", "GatewayQuote", "GatewayUserAccount"
RULE = {"mode": "intraday", "starting_balance": 50000, "max_drawdown": 100, "lock_at_start": False}


def balance(value: str) -> dict[str, Any]:
    return {"id": 123, "name": "A", "balance": float(value), "canTrade": True, "isVisible": True}


def rty_long(size: int, at: datetime) -> dict[str, Any]:
    return pos(RTY, size, 2450.1, at)


def fill(i: int, pnl: float | None) -> dict[str, Any]:
    return trade(i, pnl, T0, cid=RTY, fees=1.40)


class Account:
    """One account with RULE-013 intraday; events a millisecond apart (the clock never reaches 5 s)."""

    def __init__(self, **rule: Any) -> None:
        self.engine: Engine = engine_with_contracts(config({"trailing_drawdown": {**RULE, **rule}}))
        self.now = T0
        self.actions: list[Any] = []

    def feed(self, event: str, data: dict[str, Any]) -> None:
        self.now += MS
        self.actions += self.engine.evaluate(event, data, self.now)

    def high(self) -> Decimal:
        view = self.engine.drawdown(123, self.now)
        assert view is not None
        return Decimal(view["highWaterMark"])

    def floor(self) -> Decimal:
        view = self.engine.drawdown(123, self.now)
        assert view is not None
        return Decimal(view["floor"])

    def winning_round_trip(self) -> None:
        """Round trip 1 as the simulator sends it: buy at 2450.1, quote 2452.0, sell at 2452.0."""
        self.feed(ACCOUNT, balance("50000"))
        self.feed(QUOTE, quote(RTY, 2450.0))
        self.feed(TRADE, fill(1, None))
        self.feed(POSITION, rty_long(1, T0))
        self.feed(ACCOUNT, balance("49998.60"))
        self.feed(QUOTE, quote(RTY, 2452.0))  # net 49,998.60 + 95 = 50,093.60: the true high
        assert self.high() == Decimal("50093.60")


def test_a_new_position_is_not_priced_with_a_quote_older_than_its_fill() -> None:
    """The observed failure: the next entry is priced with the last quote of the previous round trip
    (2452.0) before the new quotes arrive: +95 on top of a balance that already holds the +95."""
    a = Account()
    a.winning_round_trip()
    a.feed(TRADE, fill(2, 95.0))
    a.feed(POSITION, rty_long(0, T0))
    a.feed(ACCOUNT, balance("50092.20"))
    assert a.high() == Decimal("50093.60")
    # Round trip 2, its quotes late (a separate hub): the entry at 2450.1 meets the 2452.0 quote.
    a.feed(TRADE, fill(3, None))
    a.feed(POSITION, rty_long(1, T0 + S))
    a.feed(ACCOUNT, balance("50090.80"))
    assert a.high() == Decimal("50093.60"), "a quote from before the fill is no price for the new position"
    a.feed(QUOTE, quote(RTY, 2447.0))  # -155: the breach the live test expects, at the true floor
    lock = [x for x in a.actions if x.kind == "lockout"]
    assert len(lock) == 1 and lock[0].reason == "net balance 49935.80 <= floor 49993.60"
    # A quote after the fill prices it: from then on highs count again.
    b = Account()
    b.winning_round_trip()
    b.feed(TRADE, fill(3, None))
    b.feed(POSITION, pos(RTY, 2, 2451.05, T0))  # grown: the added contract was bought at 2450.1
    b.feed(ACCOUNT, balance("49997.20"))
    assert b.high() == Decimal("50093.60")
    b.feed(QUOTE, quote(RTY, 2453.0))  # 2 x 1.95 points = +195
    assert b.high() == Decimal("49997.20") + Decimal("195.00")


CLOSE = {"T": (TRADE, fill(2, 95.0)), "P": (POSITION, rty_long(0, T0)), "B": (ACCOUNT, balance("50092.20"))}


@pytest.mark.parametrize("order", ["".join(p) for p in permutations("TPB")])
def test_the_events_of_a_closing_fill_in_any_order_never_make_a_high(order: str) -> None:
    """Trade, position and account event of the closing fill in every order: at no moment is the
    +95 counted twice (balance with the close + the position it closed), and once all three are in,
    the account is settled at once (no waiting for a timer: the next real high counts)."""
    a = Account()
    a.winning_round_trip()
    for key in order:
        a.feed(*CLOSE[key])
        assert a.high() == Decimal("50093.60"), f"after {key} of {order}"
    a.feed(TRADE, fill(3, None))
    a.feed(POSITION, rty_long(1, T0 + S))
    a.feed(ACCOUNT, balance("50090.80"))
    a.feed(QUOTE, quote(RTY, 2452.1))  # +100: net 50,190.80, a real new high
    assert a.high() == Decimal("50190.80")


@pytest.mark.parametrize("order", ["".join(p) for p in permutations("TPB")])
def test_the_events_of_an_opening_fill_in_any_order_settle(order: str) -> None:
    a = Account()
    a.feed(ACCOUNT, balance("50000"))
    a.feed(QUOTE, quote(RTY, 2450.0))
    events = {"T": (TRADE, fill(1, None)), "P": (POSITION, rty_long(1, T0)), "B": (ACCOUNT, balance("49998.60"))}
    for key in order:
        a.feed(*events[key])
    a.feed(QUOTE, quote(RTY, 2452.1))
    assert a.high() == Decimal("50098.60")


def test_a_balance_change_while_holding_waits_for_the_fill_it_belongs_to_then_at_most_5_seconds() -> None:
    a = Account()
    a.winning_round_trip()
    a.feed(ACCOUNT, balance("50092.20"))  # the close's balance; its trade and position not in yet
    a.feed(QUOTE, quote(RTY, 2452.5))
    assert a.high() == Decimal("50093.60")
    # Nothing else comes (a lost event, or money that is no fill): after 5 s the net counts again.
    a.now += 5 * S
    a.feed(QUOTE, quote(RTY, 2452.6))
    assert a.high() == Decimal("50092.20") + Decimal("125.00")


def test_the_hub_events_buffered_during_a_reconcile_are_older_than_its_snapshot() -> None:
    """A reconcile reads the account after the round trip (flat, 50,092.20); the hub events buffered
    meanwhile follow it: the entry's position event re-opens the position on top of the newer
    balance until the rest of the round trip is replayed."""
    a = Account()
    a.winning_round_trip()
    t1, t2 = fill(1, None), fill(2, 95.0)
    a.now += MS
    a.actions += a.engine.reconcile_account(
        123, a.now, account=balance("50092.20"), positions=[], orders=[], trades=[t1, t2], replay_follows=True
    )
    assert a.high() == Decimal("50093.60")
    a.feed(TRADE, t1)
    a.feed(POSITION, rty_long(1, T0))
    a.feed(QUOTE, quote(RTY, 2452.0))  # a fresh quote during the replay
    assert a.high() == Decimal("50093.60"), "old events replayed over a newer snapshot are no high"
    a.feed(ACCOUNT, balance("49998.60"))
    a.feed(TRADE, t2)
    a.feed(POSITION, rty_long(0, T0))
    a.feed(ACCOUNT, balance("50092.20"))
    assert a.high() == Decimal("50093.60")
    a.engine.replay_done(123)
    a.feed(ACCOUNT, balance("50192.20"))  # flat, settled: a real high counts at once
    assert a.high() == Decimal("50192.20")


def test_a_reconcile_without_buffered_events_is_settled_at_once() -> None:
    a = Account()
    a.winning_round_trip()
    a.now += MS
    a.engine.reconcile_account(123, a.now, account=balance("50200.00"), positions=[], orders=[], trades=[])
    assert a.high() == Decimal("50200.00")


# ----- any order: a property -------------------------------------------------------------------------
FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEE = Decimal("1.40")
steps = st.lists(
    st.one_of(
        st.tuples(st.just("quote"), st.integers(-40, 40)),  # ticks from 2450.0
        st.tuples(st.just("fill"), st.sampled_from([1, -1])),  # buy or sell 1 at the last price
    ),
    min_size=1,
    max_size=25,
)


@FAST
@given(steps=steps, data=st.data())
def test_no_order_of_a_fill_s_events_and_no_late_quote_makes_a_high_the_account_never_had(
    steps: list[tuple[str, int]], data: st.DataObject
) -> None:
    """The broker's true history: quotes, and 1-lot fills at the last price (positions up to 2 long
    or short). The engine sees each fill's trade, position and account events in any order, and a
    quote may come late, after the fill that followed it. Its high never passes the highest net
    balance the account really had. (The floor is far away: this is about highs, not breaches.)"""
    bal, size, avg, price = Decimal(50000), 0, Decimal(0), Decimal("2450.0")
    best = bal
    seen: list[tuple[str, dict[str, Any]]] = [(ACCOUNT, balance(str(bal))), (QUOTE, quote(RTY, float(price)))]
    for n, (kind, value) in enumerate(steps, start=1):
        if kind == "quote":
            price = Decimal("2450.0") + Decimal(value) / 10
            seen.append((QUOTE, quote(RTY, float(price))))
        else:
            if abs(size + value) > 2:
                continue
            pnl: Decimal | None = None
            if size == 0 or (size > 0) == (value > 0):  # opening or adding
                avg = (avg * abs(size) + price) / (abs(size) + 1)
            else:
                pnl = (price - avg) * 50 * (1 if size > 0 else -1)
            size += value
            avg = avg if size else Decimal(0)
            bal += (pnl or 0) - FEE
            parts = {
                "T": (TRADE, trade(n, None if pnl is None else float(pnl), T0, cid=RTY, fees=1.40)),
                "P": (POSITION, pos(RTY, abs(size), float(avg), T0, short=size < 0)),
                "B": (ACCOUNT, balance(str(bal))),
            }
            late = seen.pop() if seen[-1][0] == QUOTE and data.draw(st.booleans()) else None
            seen += [parts[k] for k in data.draw(st.permutations("TPB"))]
            if late is not None:
                seen.append(late)
        best = max(best, bal + size * (price - avg) * 50)
    a = Account(max_drawdown=10000)
    for event, payload in seen:
        a.feed(event, payload)
        assert a.high() <= best, (event, payload, seen)
    # Every fill's events are in: the next quote finds the account settled, no timer needed.
    a.feed(QUOTE, quote(RTY, float(price)))
    assert settled(a.engine.state, a.engine.account(123), a.now)
    assert a.high() >= bal + size * (price - avg) * 50
