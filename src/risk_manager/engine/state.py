"""Engine state: what the engine knows about every account, contract and quote.

Plain mutable records, so the daemon can persist and restore them and the hot path (quotes) costs
no copying. ``evaluate``/``tick`` mutate the state they are given and return it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from risk_manager.engine.events import ContractInfo, OrderUpdate, TradeUpdate
from risk_manager.engine.lockouts import LockoutBook
from risk_manager.engine.money import to_decimal
from risk_manager.engine.sessions import Window

_NO_BAND = (float("inf"), float("-inf"))  # an empty band: every quote is evaluated


@dataclass(slots=True)
class QuoteState:
    """Latest quote of a contract; prices kept as received and converted to Decimal when used."""

    last: float | int | str | None = None
    bid: float | int | str | None = None
    ask: float | int | str | None = None
    timestamp: str | None = None
    received: datetime | None = None
    _price: Decimal | None = None
    #: arrival order among all quotes (``EngineState.quote_seq``): newer than a position's last fill?
    seq: int = 0

    def raw_price(self) -> float | None:
        """Fast float view of the price for the quiet-band check (never used for decisions)."""
        if self.last is not None:
            return float(self.last)
        if self.bid is not None and self.ask is not None:
            return (float(self.bid) + float(self.ask)) / 2
        return None

    def price(self) -> Decimal | None:
        """The decision price: last trade, or the bid/ask mid when no last price is known."""
        if self._price is None:
            if self.last is not None:
                self._price = to_decimal(self.last)
            elif self.bid is not None and self.ask is not None:
                self._price = (to_decimal(self.bid) + to_decimal(self.ask)) / 2
        return self._price


@dataclass(slots=True)
class ManagedStop:
    """A stop this product placed (RULE-012); ``order_id`` is known once the broker reports it."""

    stop_price: Decimal
    size: int
    order_id: int | None = None
    modified_at: datetime | None = None


@dataclass(slots=True)
class PositionState:
    contract_id: str
    size: int  # absolute contracts
    direction: int  # +1 long, -1 short
    average_price: Decimal
    opened_at: datetime
    position_id: int | None = None
    # RULE-008: when the grace period ends without a valid stop (None: a valid stop exists).
    stop_deadline: datetime | None = None
    stop_fired: bool = False
    # RULE-005 breakeven mode.
    armed: bool = False
    # RULE-012 trade management.
    managed_stop: ManagedStop | None = None
    stop_requested: bool = False
    breakeven_done: bool = False
    best_price: Decimal | None = None
    trailing_active: bool = False
    no_quote_warned: bool = False
    # The last fill (size or side changed): the quotes received until then are older than it, and
    # only a later one prices the position for RULE-013's high-water mark (engine/settling.py).
    fill_quote_seq: int = 0
    filled_at: datetime | None = None

    @property
    def signed(self) -> int:
        return self.size * self.direction


@dataclass(slots=True)
class DrawdownState:
    """RULE-013's memory of the firm's trailing maximum loss limit (persisted, docs/rules-extra.md).

    ``anchor`` is the configured (starting_balance, floor, max_drawdown, lock_at_start) the numbers
    were derived from: when the configuration names other numbers, the floor is re-anchored to them.
    """

    start: Decimal | None = None
    floor: Decimal | None = None
    high: Decimal | None = None  # the high-water mark the floor trails (end of day or intraday)
    anchor: tuple[Decimal | None, Decimal | None, Decimal, bool] | None = None
    #: a trading day ended without a usable balance (e.g. while stopped): sample the next one
    eod_pending: bool = False
    #: the latest end-of-day sample: (trading day, net balance)
    last_eod: tuple[date, Decimal] | None = None


@dataclass(slots=True)
class FillLead:
    """One contract's fill events that arrived without their partner (engine/settling.py)."""

    lead: int  # > 0: trades whose position event is still to come; < 0: position events before their trade
    asked: bool  # the leading position events already expect the fill's balance change
    until: datetime


@dataclass(slots=True)
class Settling:
    """Whether the account's balance and positions are of one moment (engine/settling.py): the
    broker orders nothing across event types, so a fill's trade, position and balance events may
    arrive in any order. Transient: a reconcile starts it afresh."""

    #: a fill whose balance change has not arrived (until then at most)
    balance_due: datetime | None = None
    #: a balance change that no fill seen explains yet (until then at most)
    balance_ahead: datetime | None = None
    leads: dict[str, FillLead] = field(default_factory=dict)
    #: hub events buffered while a reconcile read the broker are being replayed over its snapshot
    replaying: bool = False


@dataclass(slots=True)
class WeekState:
    """RULE-014's trading week: its first trading day and the realized P&L of its days already over."""

    key: date | None = None
    closed: Decimal = Decimal(0)


@dataclass(slots=True)
class StreakState:
    """RULE-015: losing trades in a row, and the order of the last closing fill counted."""

    losses: int = 0
    last_order: int | None = None


@dataclass(slots=True)
class AccountSettings:
    """Everything the engine needs to know about one configured account."""

    account_id: int
    name: str
    observe_only: bool
    reset_time: time
    timezone: ZoneInfo
    rules: object  # risk_manager.config.models.RulesConfig (kept untyped: the engine reads attributes)
    include_fees: bool = False
    max_quote_age_seconds: int = 10
    warn_at_percent: tuple[int, ...] = (80, 90)
    holidays: frozenset[date] = frozenset()
    session_window: Window | None = None
    symbol_windows: dict[str, Window] = field(default_factory=dict)
    #: settings scheduled for the trading day ``scheduled_from`` (risk_config.yaml ``pending``)
    scheduled: AccountSettings | None = None
    scheduled_from: date | None = None


@dataclass(slots=True)
class AccountState:
    settings: AccountSettings
    positions: dict[str, PositionState] = field(default_factory=dict)
    orders: dict[int, OrderUpdate] = field(default_factory=dict)  # working orders only
    # order id -> (newest updateTimestamp seen, whether that status was final)
    order_seen: dict[int, tuple[datetime | None, bool]] = field(default_factory=dict)
    trades: dict[int, TradeUpdate] = field(default_factory=dict)  # trades counted today
    trade_ids: set[int] = field(default_factory=set)  # every trade id ever seen (idempotency)
    realized: Decimal = Decimal(0)
    recent_trades: deque[datetime] = field(default_factory=deque)  # for minute/hour windows
    session_trades: int = 0
    can_trade: bool | None = None
    name: str | None = None
    balance: Decimal | None = None
    lockouts: LockoutBook = field(default_factory=LockoutBook)
    last_reset: datetime | None = None
    next_reset: datetime | None = None
    warned: set[tuple[str, str, int]] = field(default_factory=set)
    window_inside: dict[str | None, bool] = field(default_factory=dict)
    # Quiet bands per held contract: a quote strictly inside (lo, hi) cannot change any decision.
    bands: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Rule failures (isolation.py): how many since start, and when each rule's was last logged.
    rule_errors: int = 0
    rule_error_logged: dict[str, datetime] = field(default_factory=dict)
    drawdown: DrawdownState = field(default_factory=DrawdownState)
    settling: Settling = field(default_factory=Settling)
    week: WeekState = field(default_factory=WeekState)
    streak: StreakState = field(default_factory=StreakState)
    # The enabled rules of a rule list, per list, for the settings they were read from
    # (isolation.enabled_rules): the settings are immutable, so they are read once, not per event.
    enabled: dict[int, tuple[Any, tuple[Any, ...]]] = field(default_factory=dict)

    @property
    def account_id(self) -> int:
        return self.settings.account_id


@dataclass(slots=True)
class EngineState:
    accounts: dict[int, AccountState] = field(default_factory=dict)
    contracts: dict[str, ContractInfo] = field(default_factory=dict)
    quotes: dict[str, QuoteState] = field(default_factory=dict)
    # contract -> accounts holding a position in it (for quote fan-out)
    holders: dict[str, set[int]] = field(default_factory=dict)
    # contract -> the intersection of its holders' quiet bands
    contract_bands: dict[str, tuple[float, float]] = field(default_factory=dict)
    now: datetime | None = None
    lockout_seq: int = 0
    #: quotes applied so far (each quote's ``seq``): orders quotes against fills without a clock
    quote_seq: int = 0
    #: the quote fast path (quiet bands); off only to measure or verify it against full evaluation
    quiet_bands: bool = True
    #: rule failures on every account since start (each rule runs isolated: isolation.py)
    rule_errors: int = 0


NO_BAND = _NO_BAND
