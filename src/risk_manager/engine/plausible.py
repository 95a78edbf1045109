"""The range of numbers a real futures account can show; anything outside is a broken payload.

One absurd number must never reach the rules: a fill with ``profitAndLoss: -1e30`` would become
the day's realized P&L, and every later loss on that account would be judged against it. The
parsers (``events.py``, the quote path in ``core.py``) reject values outside these bounds as
``MalformedEvent``, so the event is logged with its account id and skipped, and the state stays as
it was. The bounds are far beyond any real account (docs/engine.md, "Plausibility bounds", gives the
reasoning): they catch garbage, never a trader's real numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

#: Money: a fill's P&L, its fees, an account balance. One trillion dollars: more than any futures
#: account holds (the whole US FCM customer-funds pool is a few hundred billion).
MONEY_MAX = Decimal(10) ** 12
#: Prices (fills, averages, stops, limits, quotes). A billion: the highest futures prices are in the
#: hundreds of thousands (Bitcoin, Ibovespa points). Negative prices are real (WTI, April 2020).
PRICE_MAX = Decimal(10) ** 9
PRICE_MAX_FLOAT = float(PRICE_MAX)
#: Contracts in one position, order or fill. Ten million: more than the open interest of any single
#: futures contract month.
SIZE_MAX = 10**7
#: Contract metadata: the smallest and largest tick size and tick value. The smallest real tick is
#: around 5e-7 (JPY futures); point values reach 12.5 million (JPY: tick 5e-7 = $6.25).
TICK_SIZE_MIN = Decimal("1e-9")
TICK_MAX = Decimal(10) ** 6
#: Ids are 64-bit integers at the broker and in SQLite; anything outside cannot be stored.
ID_MIN = -(2**63)
ID_MAX = 2**63 - 1
#: Identifiers and names (contract ids are ~20 characters, account names ~30).
TEXT_MAX = 256
#: A numeric string longer than this is not a number a broker sends (and converting it costs time).
NUMBER_TEXT_MAX = 64
#: Broker timestamps outside these years are unreadable (the clock is used instead, as when absent):
#: date arithmetic near datetime's limits would overflow inside a rule.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def show(value: object) -> str:
    """A value for an error message: its repr, cut short (a payload may carry megabytes)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
