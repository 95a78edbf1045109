"""The day's P&L extremes when fills arrive in a batch (a reconcile after a restart or a hub gap).

Live, every fill updates ``daily_pnl`` and its extremes only widen. Fills caught up by a reconcile
are committed together, so the figures they passed through are rebuilt here from the final realized
P&L backwards: the stored low of the day is the low the account really touched.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from risk_manager.engine.events import TradeUpdate
from risk_manager.engine.state import AccountState


def extremes(acct: AccountState, trades: list[TradeUpdate]) -> tuple[Decimal, Decimal]:
    """The lowest and highest realized P&L of the day while ``trades`` (the last ones booked) came in."""
    fees = acct.settings.include_fees

    def part(t: TradeUpdate) -> Decimal:
        if t.voided:
            return Decimal(0)
        value = t.pnl if t.pnl is not None else Decimal(0)
        return value - t.fees if fees else value

    counted = [t for t in trades if acct.trades.get(t.trade_id) is t]
    running = acct.realized - sum((part(t) for t in counted), Decimal(0))
    low = high = running
    for t in sorted(counted, key=lambda t: (t.created or datetime.min.replace(tzinfo=UTC), t.trade_id)):
        running += part(t)
        low, high = min(low, running), max(high, running)
    return low, high
