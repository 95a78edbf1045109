"""Trading weeks for RULE-014 (docs/rules-extra.md §2): which week a trading day belongs to, when
the next one starts, and the week's running realized P&L across daily resets.

A trading day is labelled by the local date on which it ends (``trading_day.trading_date``: the day
that starts Sunday 17:00 Chicago is Monday's). The week of a label is the seven labels from the last
``week_start`` weekday on or before it. The week's lockout ends when the first *trading* day of a
later week starts (Monday to Friday, not in holidays.yaml), so a holiday at the start of the next
week keeps the account locked through it. Everything is wall-clock arithmetic in the account's zone,
so the Sunday 17:00 start of a week is 22:00 or 23:00 UTC depending on DST.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from risk_manager.engine.state import WeekState
from risk_manager.engine.trading_day import local_instant, trading_date

#: weekday names of the configuration as ``date.weekday()`` numbers (Monday = 0)
WEEKDAYS: dict[str, int] = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_DAY = timedelta(days=1)
_SEARCH_DAYS = 400


def week_key(label: date, week_start: int) -> date:
    """The label of the week's first day (its ``week_start`` weekday, Monday = 0)."""
    return label - timedelta(days=(label.weekday() - week_start) % 7)


def is_trading_day(label: date, holidays: Iterable[date]) -> bool:
    return label.weekday() < 5 and label not in holidays


def next_week_start(
    now: datetime, reset_time: time, tz: ZoneInfo, week_start: int, holidays: frozenset[date]
) -> datetime:
    """When the first trading day of the next trading week begins (its reset instant)."""
    key = week_key(trading_date(now, reset_time, tz), week_start)
    day = key + 7 * _DAY
    for _ in range(_SEARCH_DAYS):
        if is_trading_day(day, holidays):
            return local_instant(day - _DAY, reset_time, tz)
        day += _DAY
    raise ValueError("no trading day in the next 400 days (every day is a holiday)")


def roll(week: WeekState, week_start: int, ended: date, started: date, realized: Decimal) -> None:
    """At a daily reset: the ended day's realized P&L joins its week; a new week starts at zero."""
    if week.key is None:
        week.key = week_key(ended, week_start)
        week.closed = Decimal(0)
    if week_key(ended, week_start) == week.key:
        week.closed += realized
    new = week_key(started, week_start)
    if new != week.key:
        week.key = new
        week.closed = Decimal(0)


def align(week: WeekState, week_start: int, label: date) -> None:
    """Make sure ``week`` is the week of ``label`` (first sight, or ``week_start`` reconfigured)."""
    key = week_key(label, week_start)
    if week.key != key:
        week.key = key
        week.closed = Decimal(0)


def restore(week: WeekState, week_start: int, label: date, days: Mapping[date, Decimal]) -> None:
    """Rebuild the week from stored daily realized P&L: the days of ``label``'s week before it."""
    key = week_key(label, week_start)
    week.key = key
    week.closed = sum((v for d, v in days.items() if key <= d < label), Decimal(0))
