"""What counts as a protective stop for a position (RULE-008 and RULE-012 share this)."""

from __future__ import annotations

from collections.abc import Iterable

from risk_manager.engine.enums import STOP_TYPES, OrderSide, OrderType
from risk_manager.engine.events import OrderUpdate
from risk_manager.engine.state import PositionState

#: customTag prefix of every order this product places ("rm-" + 20 hex chars, spec/gateway.md §2.6), so it
#: recognises its own stops when the broker reports them
STOP_TAG_PREFIX = "rm-"


def exit_side(pos: PositionState) -> int:
    """The order side that reduces the position: sell a long, buy back a short."""
    return OrderSide.ASK if pos.direction > 0 else OrderSide.BID


def is_valid_stop(pos: PositionState, order: OrderUpdate) -> bool:
    """An active stop-type order on the exit side of the same contract, whatever its price.

    The price is not compared with the entry (spec/rules.md RULE-008): the broker accepts a sell stop
    only below the market and a buy stop only above it, so a stop on the exit side always protects,
    including one moved to breakeven or into profit (by the trader or by RULE-012). A trailing stop
    counts without a stop price; any other stop needs one. Active, not merely working: a stop whose
    cancellation is pending (status 7) is going away and a suspended bracket stop (status 8) waits for
    its entry to fill; neither protects anything yet.
    """
    if order.contract_id != pos.contract_id or not order.active:
        return False
    if order.type not in STOP_TYPES or order.side != exit_side(pos):
        return False
    return order.type == OrderType.TRAILING_STOP or order.stop_price is not None


def valid_stops(pos: PositionState, orders: Iterable[OrderUpdate]) -> list[OrderUpdate]:
    return [o for o in orders if is_valid_stop(pos, o)]


def is_protective(pos: PositionState | None, order: OrderUpdate) -> bool:
    """An order that can only take exposure away: exit side, no bigger than the position."""
    if pos is None:
        return False
    return order.side == exit_side(pos) and order.size <= pos.size
