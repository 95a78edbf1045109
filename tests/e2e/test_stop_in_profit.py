"""RULE-008 and the product's own RULE-012 stops on one account (reliability issue §9), end to end.

Before the fix a stop counted for RULE-008 only while priced below the entry (a long's sell stop):
the product's own breakeven move (to the entry) or trailing move (into profit) made RULE-008 close
the protected, profitable position one grace period after the stop moved. Now a working stop on the
exit side protects whatever its price. The account: grace 2 s, RULE-012 auto stop-loss, breakeven
and trailing; a simulator and a daemon process.

"Still open" is checked over a window several grace periods long (polling the simulator the whole
time); the positive control at the end, the same account with its stop cancelled, is closed within
the grace period, so the window proves RULE-008 was watching.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from .conftest import Stack
from .harness import wait_until

USER = "stops"
ACCOUNT = 6101
GRACE_S = 2
RULES = {
    ACCOUNT: {
        "no_stop_loss_grace": {"enabled": True, "grace_period_seconds": GRACE_S},
        "trade_management": {
            "enabled": True,
            "auto_stop_loss": {"enabled": True, "stop_loss_ticks": 10},
            "breakeven": {"enabled": True, "trigger_ticks": 4, "offset_ticks": 0},
            "trailing": {"enabled": True, "activation_ticks": 12, "distance_ticks": 4},
        },
    }
}
HOLD_S = GRACE_S + 3  # RULE-008 would have closed by then (ticks every second)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("stop-in-profit")
    s = Stack(root, {USER: ("stops-key", [ACCOUNT])}, RULES)
    try:
        s.start_daemon()
        yield s
    finally:
        s.close()


def holds(check: Callable[[], Any], seconds: float, what: str, interval: float = 0.1) -> None:
    """``check`` stays truthy for the whole window (polled), else the assertion says when it broke."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        assert check(), f"{what} broke after {time.monotonic() - started:.1f}s"
        time.sleep(interval)


def stops(stack: Stack) -> list[dict[str, Any]]:
    return [o for o in stack.sim.working_orders(ACCOUNT) if o["type"] == 4 and o["side"] == 1]


def stop_at(stack: Stack, price: str) -> dict[str, Any] | None:
    found = [o for o in stops(stack) if Decimal(str(o["stopPrice"])) == Decimal(price)]
    return found[0] if found else None


def quotes_watched(stack: Stack, contract: str) -> bool:
    """The daemon subscribed to the contract's quotes (a quote sent earlier would be missed)."""
    return any(
        f"SubscribeContractQuotes:{contract}" in c["subscriptions"]
        for c in stack.sim.state()["connections"]
        if c["hub"] == "market"
    )


def closes(stack: Stack) -> list[dict[str, Any]]:
    return stack.sim.mutating_calls(ACCOUNT, "/api/Position/closeContract")


def test_breakeven_and_trailing_stops_keep_a_profitable_position_open(stack: Stack) -> None:
    sim = stack.sim
    # A live feed repeats quotes; RULE-012 moves a stop at most once a second, so a move held back
    # right after the stop was placed happens on a later quote.
    sim.control("POST", "/settings", {"quote_heartbeat_s": 0.5})
    sim.quote("MNQ", 21000.00, 21000.25, 21000.00)
    sim.order(ACCOUNT, "MNQ", "buy", 1)  # filled at the ask: 21000.25
    wait_until(lambda: list(sim.positions(ACCOUNT).values()) == [1], 10, "long 1 MNQ")
    [position] = [p for p in sim.state(ACCOUNT)["positions"] if p["accountId"] == ACCOUNT]
    assert Decimal(str(position["averagePrice"])) == Decimal("21000.25")
    wait_until(lambda: quotes_watched(stack, position["contractId"]), 10, "the daemon watching MNQ quotes")
    ours = wait_until(lambda: stop_at(stack, "20997.75"), 10, "RULE-012 auto stop-loss 10 ticks below")
    assert ours["customTag"].startswith("rm-")

    # 5 ticks in profit: breakeven moves the product's stop to the entry price.
    sim.quote("MNQ", 21001.50, 21001.75, 21001.50)
    wait_until(lambda: stop_at(stack, "21000.25"), 10, "the stop moved to breakeven (21000.25)")
    holds(
        lambda: sim.positions(ACCOUNT) != {} and stop_at(stack, "21000.25"),
        HOLD_S,
        "position protected at breakeven",
    )

    # 16 ticks in profit: trailing keeps the stop 4 ticks behind the best price, in profit.
    sim.quote("MNQ", 21004.25, 21004.50, 21004.25)
    wait_until(lambda: stop_at(stack, "21003.25"), 10, "the trailing stop moved into profit (21003.25)")
    holds(
        lambda: sim.positions(ACCOUNT) != {} and stop_at(stack, "21003.25"),
        HOLD_S,
        "position protected in profit",
    )
    assert closes(stack) == []
    assert [o["id"] for o in stops(stack)] == [ours["id"]]  # one stop, moved; never a second one

    # Control: without any stop, RULE-008 closes the same position within its grace period. (No
    # more quotes: on the next one RULE-012's trailing would place a new stop.)
    sim.control("POST", "/settings", {"quote_heartbeat_s": 0})
    sim.control("POST", f"/orders/{ours['id']}/cancel", {})
    wait_until(lambda: sim.positions(ACCOUNT) == {}, GRACE_S + 8, "RULE-008 closed the unprotected position")
    assert len(closes(stack)) == 1
