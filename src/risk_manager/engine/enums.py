"""Broker enum values (ProjectX integers), used by the engine and everything around it.

Order statuses 7 (PendingCancellation) and 8 (Suspended) are what the live gateway sends beyond the
spec's 0-6 (both published clients that model every status list them, see docs/engine.md). They are
"working" (not final: a pending cancellation can still fill, a suspended bracket child becomes live
when its entry fills) but not "active": only an Open or Pending order is on the market and staying
there, so only those protect a position (RULE-008, RULE-012).
"""

from __future__ import annotations

from enum import IntEnum


class OrderType(IntEnum):
    UNKNOWN = 0
    LIMIT = 1
    MARKET = 2
    STOP_LIMIT = 3
    STOP = 4
    TRAILING_STOP = 5
    JOIN_BID = 6
    JOIN_ASK = 7


class OrderSide(IntEnum):
    BID = 0  # buy
    ASK = 1  # sell


class OrderStatus(IntEnum):
    NONE = 0
    OPEN = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5
    PENDING = 6
    PENDING_CANCELLATION = 7  # a cancel was requested; the broker has not confirmed it yet
    SUSPENDED = 8  # e.g. a bracket child waiting for its entry to fill


class PositionType(IntEnum):
    UNDEFINED = 0
    LONG = 1
    SHORT = 2


#: not final: the order may still act on the market (or become live), so it is still "working"
WORKING_STATUSES = frozenset(
    {OrderStatus.OPEN, OrderStatus.PENDING, OrderStatus.PENDING_CANCELLATION, OrderStatus.SUSPENDED}
)
#: working and staying on the market: the only statuses in which a stop protects a position
ACTIVE_STATUSES = frozenset({OrderStatus.OPEN, OrderStatus.PENDING})
FINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
)
STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP})
