"""RULE-013's intraday high-water mark against the real simulator, at the moments a net balance
(balance + unrealized P&L) is not of one moment: each test forces one with a simulator fault and
checks that the high stays what the account really reached (engine/settling.py).

Once seen in ``test_rules_extra_live.py::test_rule_013_breach_distance_and_restart``: the high rose
by exactly the +95 of the winning round trip. Numbers are that test's: RTY 1 lot, $50 a point,
$1.40 fees a side; the winning round trip buys at 2450.1 and marks 2452.0 (+95), so the true high is
50,000 - 1.40 + 95 = 50,093.60; a double-counted one would be 50,187.20.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.daemon.conftest import USER, Running, until
from tests.e2e.harness import Simulator

RULE = {"enabled": True, "mode": "intraday", "starting_balance": 50000, "max_drawdown": 100, "lock_at_start": False}
TRUE_HIGH = Decimal("50093.60")
Start = Callable[..., Any]


@pytest.fixture(autouse=True)
def no_faults_left(sim: Simulator) -> Iterator[None]:
    yield
    sim.control("DELETE", "/faults")  # the simulator is shared by this module's tests


def _high(run: Running, account: int) -> Decimal:
    assert run.daemon.engine is not None
    view = run.daemon.engine.drawdown(account, run.clock.now())
    assert view is not None
    return Decimal(view["highWaterMark"])


def _rty(run: Running, account: int) -> str:
    assert run.daemon.engine is not None
    return next(iter(run.daemon.engine.account(account).positions))


async def _held(run: Running, account: int, balance: str, size: int) -> None:
    engine = run.daemon.engine
    assert engine is not None

    def check() -> bool:
        acct = engine.account(account)
        return acct.balance == Decimal(balance) and sum(p.size for p in acct.positions.values()) == size

    await until(check, 10, f"balance {balance} with {size} contract(s) held")


async def _winning_entry(sim: Simulator, run: Running, account: int, base: Decimal) -> None:
    """Buy 1 RTY at 2450.1 and let the daemon see the 2452.0 mark after the fill: net base + 93.60."""
    engine = run.daemon.engine
    assert engine is not None
    sim.quote("RTY", 2450.0, 2450.1)
    sim.order(account, "RTY", "buy", 1)
    await _held(run, account, str(base - Decimal("1.40")), 1)
    sim.quote("RTY", 2452.0, 2452.1)
    cid = _rty(run, account)

    def marked() -> bool:
        quote = engine.state.quotes.get(cid)
        return quote is not None and quote.price() == Decimal("2452.0")

    await until(marked, 10, "the 2452.0 quote")
    await until(lambda: _high(run, account) == base + Decimal("93.60"), 10, "the true high")


async def test_a_new_position_is_not_priced_with_the_quote_of_the_last_round_trip(
    sim: Simulator, start_daemon: Start
) -> None:
    """The observed failure, made deterministic: the next entry's fill reaches the daemon before its
    quotes (here the market data is paused; under load they were merely late), and the daemon still
    holds 2452.0 from the round trip before: +95 on a balance that already holds that +95."""
    run = await start_daemon({3001: {"trailing_drawdown": RULE}})
    await _winning_entry(sim, run, 3001, Decimal(50000))
    sim.order(3001, "RTY", "sell", 1)
    await _held(run, 3001, "50092.20", 0)
    sim.control("POST", "/faults", {"kind": "pause_market_data", "duration_s": 30})
    sim.quote("RTY", 2450.0, 2450.1)  # not delivered
    sim.order(3001, "RTY", "buy", 1)  # at 2450.1
    await _held(run, 3001, "50090.80", 1)
    assert _high(run, 3001) == TRUE_HIGH
    sim.control("DELETE", "/faults")
    sim.quote("RTY", 2447.0, 2447.1)  # the quotes are back: -155, below the true floor
    engine = run.daemon.engine
    assert engine is not None
    locks = await until(lambda: engine.lockouts(3001), 10, "the RULE-013 lockout")
    assert locks[0].rule == "RULE-013" and locks[0].reason == "net balance 49935.80 <= floor 49993.60"
    await until(lambda: sim.positions(3001) == {}, 10, "flattened")


async def test_the_balance_of_a_closing_fill_before_its_position_event_is_no_high(
    sim: Simulator, start_daemon: Start
) -> None:
    """The closing fill's events reversed by the simulator (the broker orders nothing across event
    types): the account event with the +95 arrives while the position it closed is still held."""
    run = await start_daemon({3002: {"trailing_drawdown": RULE}})
    await _winning_entry(sim, run, 3002, Decimal(50000))
    mark = sim.journal(kinds="event")[-1]["seq"]
    # The sell's five user events (order open, trade, position, order filled, account), reversed.
    sim.control("POST", "/faults", {"kind": "reorder_events", "hub": "user", "count": 5, "userName": USER})
    sim.order(3002, "RTY", "sell", 1)
    engine = run.daemon.engine
    assert engine is not None
    await until(lambda: engine.account(3002).realized == Decimal(95), 10, "the closing trade")
    await _held(run, 3002, "50092.20", 0)
    sent = [e["target"] for e in sim.journal(since=mark, kinds="event") if e.get("accountId") == 3002]
    assert sent.index("GatewayUserAccount") < sent.index("GatewayUserPosition"), sent
    assert _high(run, 3002) == TRUE_HIGH
    # Settled as soon as the last of the three arrived (the test clock never moves): a real high counts.
    sim.quote("RTY", 2450.0, 2450.1)
    sim.order(3002, "RTY", "buy", 1)
    await _held(run, 3002, "50090.80", 1)
    sim.quote("RTY", 2452.1, 2452.2)  # +100
    await until(lambda: _high(run, 3002) == Decimal("50190.80"), 10, "the next real high")


async def test_hub_events_replayed_after_a_reconcile_snapshot_are_no_high(
    sim: Simulator, start_daemon: Start
) -> None:
    """A user-hub drop: the reconcile reads the account after a whole round trip made while it was
    reading, then replays that round trip's hub events, buffered meanwhile, over the newer snapshot:
    the entry re-opens the position beside the balance that already holds its +95."""
    run = await start_daemon({3003: {"trailing_drawdown": RULE}})
    await _winning_entry(sim, run, 3003, Decimal(50000))
    sim.order(3003, "RTY", "sell", 1)
    await _held(run, 3003, "50092.20", 0)
    login = run.daemon.logins.of(3003) if run.daemon.logins is not None else None
    assert login is not None
    gaps = login.user_hub.gaps
    slow = {"kind": "latency", "target": "rest", "path": "/api/Account/search", "ms": 1500, "count": 1}
    sim.control("POST", "/faults", {**slow, "userName": USER})
    sim.control("POST", "/faults", {"kind": "drop_hubs", "hub": "user", "userName": USER})
    await until(lambda: login.user_hub.gaps > gaps and login.user_hub.connected, 10, "the user hub back")
    sim.quote("RTY", 2450.0, 2450.1)  # the round trip, while the account list is being read
    sim.order(3003, "RTY", "buy", 1)
    sim.quote("RTY", 2452.0, 2452.1)
    sim.order(3003, "RTY", "sell", 1)
    await until(lambda: run.daemon.board.get(3003).state.value == "protected", 10, "reconciled")
    # An order placed now: its event comes after every replayed one.
    sim.order(3003, "RTY", "buy", 1, "limit", limitPrice=2400.0)
    engine = run.daemon.engine
    assert engine is not None
    await until(lambda: engine.account(3003).orders or engine.lockouts(3003), 10, "the order after the replay")
    assert engine.lockouts(3003) == []  # a false high of 50,279.40 puts the floor above the balance
    await _held(run, 3003, "50184.40", 0)
    assert _high(run, 3003) == Decimal("50184.40")  # the snapshot, flat: the replay added nothing
    assert not engine.account(3003).settling.replaying
    for order in sim.working_orders(3003):
        sim.control("POST", f"/orders/{order['id']}/cancel")
