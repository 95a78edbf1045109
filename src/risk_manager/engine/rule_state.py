"""The per-account memory of RULE-013 and RULE-015 as plain JSON, and back (the daemon persists it in
``rule_state``, docs/persistence.md), plus RULE-014's week rebuilt from stored daily P&L.

``export`` is JSON-ready (money as decimal strings). ``restore`` is tolerant: a malformed stored value
is skipped and reported, never raised, so a damaged row cannot stop the daemon; what cannot be
restored starts over as on a first start (the drawdown from the configuration or the next balance).
Both stamp the trading day: a stored RULE-015 streak of an earlier day is dropped, and a stored
drawdown of an earlier day takes its missed end-of-day sample from the next balance seen.

RULE-015's streak is derived from fills, so the daemon saves it with each fill, in the fill's own
transaction, as it stood right after that fill was decided (``streak_memo``, taken on the hot path,
then ``streak_export``): the stored streak always matches the stored trades. A crash can then
neither lose a loss whose fill was committed nor count one twice when the reconcile catches up on a
fill that was not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from risk_manager.engine.money import to_decimal
from risk_manager.engine.state import AccountState, DrawdownState, StreakState
from risk_manager.engine.trading_day import trading_date
from risk_manager.engine.weeks import WEEKDAYS
from risk_manager.engine.weeks import restore as restore_week

DRAWDOWN = "RULE-013"
STREAK = "RULE-015"


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


#: RULE-015's memory at one instant: losses in a row, the last closing order counted, the account's
#: last reset (which trading day the streak belongs to)
StreakMemo = tuple[int, int | None, datetime | None]


def current_day(acct: AccountState, now: datetime) -> date:
    s = acct.settings
    return trading_date(acct.last_reset or now, s.reset_time, s.timezone)


def streak_memo(acct: AccountState) -> StreakMemo:
    """RULE-015's memory now (three reads: cheap enough for the moment a fill is decided)."""
    st = acct.streak
    return st.losses, st.last_order, acct.last_reset


def streak_export(acct: AccountState, memo: StreakMemo, now: datetime) -> dict[str, Any]:
    """RULE-015's stored value (JSON-ready) for ``memo``, stamped with the trading day it belongs to."""
    losses, last_order, last_reset = memo
    s = acct.settings
    day = trading_date(last_reset or now, s.reset_time, s.timezone)
    return {"day": day.isoformat(), "losses": losses, "lastOrder": last_order}


def export(acct: AccountState, now: datetime) -> dict[str, dict[str, Any]]:
    """``{rule id: state}`` for the rules that keep memory across restarts."""
    day = current_day(acct, now).isoformat()
    out: dict[str, dict[str, Any]] = {}
    dd = acct.drawdown
    if dd.start is not None:
        anchor = dd.anchor
        out[DRAWDOWN] = {
            "day": day,
            "start": _money(dd.start),
            "floor": _money(dd.floor),
            "high": _money(dd.high),
            "anchor": None
            if anchor is None
            else [_money(anchor[0]), _money(anchor[1]), _money(anchor[2]), bool(anchor[3])],
            "eodPending": dd.eod_pending,
            "lastEod": None if dd.last_eod is None else [dd.last_eod[0].isoformat(), str(dd.last_eod[1])],
        }
    out[STREAK] = streak_export(acct, streak_memo(acct), now)
    return out


def _drawdown(data: Mapping[str, Any], today: date) -> DrawdownState:
    dd = DrawdownState(start=_dec(data["start"]), floor=_dec(data["floor"]), high=_dec(data["high"]))
    anchor = data.get("anchor")
    if anchor is not None:
        start, floor, max_dd, lock = anchor
        max_value = _dec(max_dd)
        if max_value is None:
            raise ValueError("anchor without max_drawdown")
        dd.anchor = (_dec(start), _dec(floor), max_value, bool(lock))
    last = data.get("lastEod")
    if last is not None:
        dd.last_eod = (date.fromisoformat(last[0]), to_decimal(last[1]))
    # A day that ended after this was saved (stopped over the reset, or before the sample was saved)
    # takes its end-of-day sample from the next balance seen.
    dd.eod_pending = bool(data.get("eodPending")) or date.fromisoformat(data["day"]) < today
    if dd.start is None or dd.floor is None or dd.high is None:
        raise ValueError("start, floor and high are required")
    return dd


def restore(
    acct: AccountState,
    stored: Mapping[str, Any],
    day_pnl: Mapping[date, Decimal],
    now: datetime,
) -> list[str]:
    """Put the stored memory back; returns what could not be read (for the daemon's log)."""
    problems: list[str] = []
    today = current_day(acct, now)
    data = stored.get(DRAWDOWN)
    if isinstance(data, Mapping):
        try:
            acct.drawdown = _drawdown(data, today)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            problems.append(f"{DRAWDOWN} state ignored ({type(exc).__name__}: {exc})")
    data = stored.get(STREAK)
    if isinstance(data, Mapping):
        try:
            if date.fromisoformat(data["day"]) == today:
                order = data.get("lastOrder")
                acct.streak = StreakState(
                    losses=int(data["losses"]), last_order=None if order is None else int(order)
                )
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{STREAK} state ignored ({type(exc).__name__}: {exc})")
    # The week of the trading day containing now (not the stored day's): a day that ended while we
    # were stopped is one of the week's closed days, from its stored row.
    rules: Any = acct.settings.rules
    s = acct.settings
    week_start = WEEKDAYS[rules.weekly_limits.week_start]
    restore_week(acct.week, week_start, trading_date(now, s.reset_time, s.timezone), day_pnl)
    return problems
