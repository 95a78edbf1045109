"""Catching up on fills the engine did not see live: after a restart or a hub gap, the reconcile
hands over the broker's list of today's trades, and the ones not seen yet are judged here.

Judged as if they had arrived live, one at a time in the order they happened: each fill is booked,
then the trade rules read the running figures of that moment (realized P&L, trade counts, frequency
windows), not the final total. So a daily loss that went past the limit at one fill and came back
above it before the daemon could see again is locked, with the reason the live daemon would have
given; a hard lockout set at one fill keeps the rules quiet for the fills after it, as live.

The booking and the rules are passed in (``core`` owns both), which keeps this module free of any
import back into ``core``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from risk_manager.engine.actions import Action
from risk_manager.engine.events import TradeUpdate
from risk_manager.engine.state import AccountState

Book = Callable[[TradeUpdate], bool]  # books one fill; True when it counts (new, today's, not voided)
Judge = Callable[[TradeUpdate], list[Action]]  # the trade rules over the state just after that fill


def replay(
    acct: AccountState, trades: Iterable[TradeUpdate], now: datetime, book: Book, judge: Judge
) -> tuple[list[TradeUpdate], list[Action]]:
    """Book the broker's fills in the order they happened; judge each new one at its moment.

    Returns the fills that counted (the daemon stores exactly those) and the actions decided."""
    counted: list[TradeUpdate] = []
    out: list[Action] = []
    for trade in sorted(trades, key=lambda t: (t.created or now, t.trade_id)):
        if not book(trade):
            continue  # already known, voided, or of an earlier trading day
        counted.append(trade)
        if acct.lockouts.has_hard():
            continue  # as live: P&L keeps accumulating, the rules wait for the lockout to end
        out += judge(trade)
    return counted, out
