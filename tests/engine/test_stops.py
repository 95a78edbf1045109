"""What protects a position (RULE-008, shared with RULE-012), and breakeven that is not lost.

- A working stop on the exit side is valid whatever its price (spec/rules.md RULE-008, revised):
  below, at or above the entry for a long; a trailing stop without a price; not a stop on the same
  side, not a limit, not one without a stop price, not a finished one.
- RULE-012's breakeven move reached within a second of placing the stop (the one-move-per-second
  limit) is made on a later quote instead of being forgotten (found by the end-to-end test: a fast
  market reaching the trigger right after the entry left the stop at the original loss forever).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from risk_manager.engine.events import parse_order
from risk_manager.engine.state import PositionState
from risk_manager.engine.stops import is_valid_stop
from tests.engine.conftest import MNQ, T0, config, engine_with_contracts, order, pos, quote

S = timedelta(seconds=1)
MS = timedelta(milliseconds=1)


def _position(direction: int) -> PositionState:
    return PositionState(MNQ, 1, direction, Decimal("21000.00"), T0)


@pytest.mark.parametrize(
    ("direction", "side", "otype", "stop", "status", "valid"),
    [
        (1, 1, 4, 20990.0, 1, True),  # long, sell stop below the entry
        (1, 1, 4, 21000.0, 1, True),  # at breakeven
        (1, 1, 4, 21010.0, 6, True),  # in profit (pending counts as working)
        (1, 1, 3, 21010.0, 1, True),  # stop-limit in profit
        (1, 1, 5, None, 1, True),  # trailing stop without a price
        (-1, 0, 4, 20990.0, 1, True),  # short, buy stop in profit (below the entry)
        (-1, 0, 4, 21010.0, 1, True),  # short, buy stop at a loss
        (1, 0, 4, 20990.0, 1, False),  # same side as the long: adds to it
        (-1, 1, 4, 21010.0, 1, False),  # same side as the short (rules.md 008-c)
        (1, 1, 1, 21010.0, 1, False),  # a take-profit limit is not a stop
        (1, 1, 4, None, 1, False),  # a stop without a stop price
        (1, 1, 4, 20990.0, 3, False),  # cancelled
    ],
)
def test_a_stop_on_the_exit_side_is_valid_whatever_its_price(
    direction: int, side: int, otype: int, stop: float | None, status: int, valid: bool
) -> None:
    upd = parse_order(order(7, MNQ, side=side, otype=otype, stop=stop, status=status))
    assert is_valid_stop(_position(direction), upd) is valid


def test_breakeven_reached_within_a_second_of_the_stop_is_moved_on_a_later_quote() -> None:
    cfg = config(
        {
            "trade_management": {
                "auto_stop_loss": {"enabled": True, "stop_loss_ticks": 10},
                "breakeven": {"enabled": True, "trigger_ticks": 4, "offset_ticks": 0},
            }
        }
    )
    engine = engine_with_contracts(cfg)
    [place] = engine.evaluate("GatewayUserPosition", pos(MNQ, 1, 21000.25, T0), T0)
    assert place.stop_price == Decimal("20997.75")
    ours = dict(order(50, MNQ, side=1, stop=20997.75, at=T0 + 10 * MS), customTag="rm-" + "1" * 20)
    assert engine.evaluate("GatewayUserOrder", ours, T0 + 10 * MS) == []
    # 5 ticks in profit 0.7 s after the stop was placed: the move waits (one per second)...
    assert engine.evaluate("GatewayQuote", quote(MNQ, 21001.5, T0), T0 + 700 * MS) == []
    # ... and is made on the next quote after the second is over.
    out = engine.evaluate("GatewayQuote", quote(MNQ, 21001.5, T0), T0 + 1200 * MS)
    assert [(a.rule, str(a.kind), a.order_id, a.stop_price) for a in out] == [
        ("RULE-012", "modify_stop", 50, Decimal("21000.25"))
    ]
    moved = dict(ours, stopPrice=21000.25, updateTimestamp="2026-11-17T16:00:01.300Z")
    engine.evaluate("GatewayUserOrder", moved, T0 + 1300 * MS)
    assert engine.evaluate("GatewayQuote", quote(MNQ, 21001.75, T0), T0 + 3 * S) == []  # done once


def test_a_stop_placed_for_a_size_that_changed_meanwhile_is_resized_when_reported() -> None:
    """Found by the production test: a fill of 3 MNQ got a 3-lot stop from RULE-012 while RULE-002
    reduced the position to 2; the stop must shrink to 2 once the broker reports it (a 3-lot stop on
    a 2-lot long would open a short when it fills)."""
    engine = engine_with_contracts(config({"trade_management": {"auto_stop_loss": {"enabled": True}}}))
    [place] = engine.evaluate("GatewayUserPosition", pos(MNQ, 3, 21000.25, T0), T0)
    assert place.size == 3
    assert engine.evaluate("GatewayUserPosition", pos(MNQ, 2, 21000.25, T0 + MS), T0 + MS) == []
    ours = dict(order(50, MNQ, side=1, size=3, stop=20997.75, at=T0 + 5 * MS), customTag="rm-" + "1" * 20)
    out = engine.evaluate("GatewayUserOrder", ours, T0 + 5 * MS)
    assert [(a.rule, str(a.kind), a.order_id, a.size, a.stop_price) for a in out] == [
        ("RULE-012", "modify_stop", 50, 2, Decimal("20997.75"))
    ]
    resized = dict(ours, size=2, updateTimestamp="2026-11-17T16:00:00.100Z")
    assert engine.evaluate("GatewayUserOrder", resized, T0 + 100 * MS) == []  # nothing more to do
