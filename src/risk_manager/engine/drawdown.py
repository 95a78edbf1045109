"""RULE-013 arithmetic (docs/rules-extra.md §1): the floor that trails the firm's high-water mark,
and the distance to it that the dashboards show.

Net balance = the broker's account balance + the total unrealized P&L of the open positions. The
high-water mark is the highest end-of-day net balance (mode ``eod``) or the highest net balance seen
at any time (mode ``intraday``); the floor is ``high - max_drawdown``, capped at the starting balance
with ``lock_at_start``, and it never moves down: only an administrator naming other numbers in the
configuration re-anchors it. Pure functions over ``DrawdownState``; ``drawdown_view`` is what the
daemon's views call (no I/O, no clock of its own).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from risk_manager.engine.context import RuleContext
from risk_manager.engine.money import fmt_money
from risk_manager.engine.state import DrawdownState


def net_balance(ctx: RuleContext) -> Decimal | None:
    """Balance + unrealized; None while the broker has not told us the balance."""
    balance = ctx.account.balance
    if balance is None:
        return None
    return balance + ctx.total_unrealized()


def anchor_of(cfg: Any) -> tuple[Decimal | None, Decimal | None, Decimal, bool]:
    return (cfg.starting_balance, cfg.floor, cfg.max_drawdown, bool(cfg.lock_at_start))


def _cap(candidate: Decimal, dd: DrawdownState, cfg: Any) -> Decimal:
    if cfg.lock_at_start and dd.start is not None:
        return min(candidate, dd.start)
    return candidate


def adopt(dd: DrawdownState, cfg: Any, balance: Decimal | None) -> bool:
    """Start the floor (first balance or the firm's numbers) or re-anchor it when the configured
    numbers changed; False while nothing is known yet."""
    anchor = anchor_of(cfg)
    if dd.start is not None and dd.anchor == anchor:
        return True
    start = cfg.starting_balance if cfg.starting_balance is not None else dd.start
    if start is None:
        start = balance
    if start is None:
        return False
    first = dd.start is None
    dd.start = start
    dd.high = start if first or dd.high is None else max(dd.high, start)
    if cfg.floor is not None:
        dd.floor = cfg.floor  # the firm's number; the high it implies is what trails from here
        dd.high = cfg.floor + cfg.max_drawdown
    else:
        dd.floor = _cap(dd.high - cfg.max_drawdown, dd, cfg)
    dd.anchor = anchor
    return True


def raise_high(dd: DrawdownState, cfg: Any, peak: Decimal) -> bool:
    """A new high-water mark candidate; the floor follows it up, never down. True when the floor moved."""
    if dd.high is None or dd.floor is None:
        return False
    if peak > dd.high:
        dd.high = peak
    candidate = _cap(dd.high - cfg.max_drawdown, dd, cfg)
    if candidate > dd.floor:
        dd.floor = candidate
        return True
    return False


def breach_at(dd: DrawdownState, cfg: Any) -> Decimal | None:
    """The net balance at or below which RULE-013 breaches (floor + buffer)."""
    return None if dd.floor is None else dd.floor + cfg.buffer


def room_and_limit(dd: DrawdownState, cfg: Any, net: Decimal) -> tuple[Decimal, Decimal] | None:
    """(room to the breach, the room at the high-water mark): the ladder's ``limit - used`` and ``limit``."""
    line = breach_at(dd, cfg)
    if line is None:
        return None
    return net - line, cfg.max_drawdown - cfg.buffer


def describe(dd: DrawdownState, cfg: Any, net: Decimal) -> str:
    line = breach_at(dd, cfg)
    assert dd.floor is not None and line is not None
    buffer = f" + buffer {fmt_money(cfg.buffer)} = {fmt_money(line)}" if cfg.buffer else ""
    return f"net balance {fmt_money(net)} <= floor {fmt_money(dd.floor)}{buffer}"


def drawdown_view(ctx: RuleContext) -> dict[str, Any] | None:
    """RULE-013 as the dashboards show it (money as decimal strings); None when the rule is off or
    no balance has been seen yet. ``distance`` is how far the net balance is above the breach line
    (floor + buffer); at or below 0 the rule has breached."""
    cfg = ctx.rules.trailing_drawdown
    dd = ctx.account.drawdown
    if not cfg.enabled or dd.floor is None or dd.start is None:
        return None
    net = net_balance(ctx)
    line = breach_at(dd, cfg)
    assert line is not None
    return {
        "mode": cfg.mode,
        "startingBalance": fmt_money(dd.start),
        "highWaterMark": None if dd.high is None else fmt_money(dd.high),
        "maxDrawdown": fmt_money(cfg.max_drawdown),
        "floor": fmt_money(dd.floor),
        "buffer": fmt_money(cfg.buffer),
        "breachAt": fmt_money(line),
        "netBalance": None if net is None else fmt_money(net),
        "distance": None if net is None else fmt_money(net - line),
        "lockedAtStart": bool(cfg.lock_at_start and dd.floor >= dd.start),
        "lastEndOfDay": None
        if dd.last_eod is None
        else {"tradingDay": dd.last_eod[0].isoformat(), "netBalance": fmt_money(dd.last_eod[1])},
    }
