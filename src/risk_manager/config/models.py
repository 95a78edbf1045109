"""The configuration schema (spec/rules.md §5): one pydantic model per block, shared by daemon, console and engine.

Every model is strict (``"5"`` is not a number, ``yes`` is not a boolean), rejects unknown keys and is
frozen, so one validated config can be shared between accounts and threads without copies.
"""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from ipaddress import ip_address
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from risk_manager.config.base import (
    WEEKDAY_NUMBERS,
    WEEKDAYS,
    DayName,
    Strict,
    none_is_empty,
    none_is_no_items,
)
from risk_manager.config.fields import (
    Count,
    Day,
    Money,
    NonEmptyStr,
    PositiveFloat,
    Seconds,
    Symbol,
    Ticks,
    TimeZoneName,
    WallTime,
    check_url,
    describe,
    fail,
    fail_at,
    zone,
)
from risk_manager.config.notify_urls import AlertSubject, check_apprise_url, check_webhook_url, mask_url
from risk_manager.config.rules_extra import (
    ConsecutiveLossesRule,
    Ladder,
    PendingChange,
    SettingsLock,
    TrailingDrawdownRule,
    WeeklyLimitsRule,
)

TOPSTEPX_URLS = (
    "https://api.topstepx.com",
    "https://rtc.topstepx.com/hubs/user",
    "https://rtc.topstepx.com/hubs/market",
)

SUPPORTED_VERSION = 1

def _check_version(value: int) -> int:
    if value != SUPPORTED_VERSION:
        raise fail(f"unsupported version {value} (this program reads version {SUPPORTED_VERSION})")
    return value


Version = Annotated[int, AfterValidator(_check_version)]


# --------------------------------------------------------------------------- risk_config.yaml


class GlobalSettings(Strict):
    include_fees: bool = False
    max_quote_age_seconds: Seconds = 10
    warn_at_percent: list[int] = Field(default_factory=lambda: [80, 90])
    settings_lock: SettingsLock = SettingsLock()

    @field_validator("warn_at_percent")
    @classmethod
    def _percent_range(cls, value: list[int]) -> list[int]:
        for index, percent in enumerate(value):
            if not 1 <= percent <= 100:
                raise fail_at((index,), f"expected a percentage from 1 to 100, got {percent}")
        return sorted(set(value))


class MaxContractsRule(Strict):
    """RULE-001."""

    enabled: bool = True
    limit: Count = 5
    count_type: Literal["net", "gross"] = "net"
    enforcement: Literal["close_all", "reduce_to_limit"] = "close_all"


class MaxContractsPerInstrumentRule(Strict):
    """RULE-002."""

    enabled: bool = True
    limits: dict[Symbol, Count] = Field(default_factory=lambda: {"MNQ": 2, "NQ": 1, "ES": 1, "MES": 3})
    enforcement: Literal["reduce_to_limit", "close_all"] = "reduce_to_limit"
    unknown_symbol_action: str = "allow_with_limit:1"

    @field_validator("unknown_symbol_action")
    @classmethod
    def _action(cls, value: str) -> str:
        text = value.strip()
        if text in ("block", "allow_unlimited"):
            return text
        head, sep, tail = text.partition(":")
        if head == "allow_with_limit" and sep and tail.strip().isdigit() and int(tail) >= 1:
            return f"allow_with_limit:{int(tail)}"
        raise fail(
            f"expected block, allow_unlimited or allow_with_limit:N (N at least 1), got {describe(value)}"
        )

    @property
    def unknown_symbol_limit(self) -> int | None:
        """Limit for unlisted symbols: 0 = block any position, None = unlimited."""
        if self.unknown_symbol_action == "block":
            return 0
        if self.unknown_symbol_action == "allow_unlimited":
            return None
        return int(self.unknown_symbol_action.partition(":")[2])


class DailyRealizedLossRule(Strict):
    """RULE-003."""

    enabled: bool = True
    loss_limit: Money = Decimal("500")
    lockout_until: Literal["daily_reset", "permanent"] = "daily_reset"
    ladder: Ladder | None = None


class DailyUnrealizedLossRule(Strict):
    """RULE-004."""

    enabled: bool = True
    loss_limit: Money = Decimal("300")
    scope: Literal["per_position", "total"] = "per_position"
    ladder: Ladder | None = None

    @model_validator(mode="after")
    def _ladder_needs_total(self) -> DailyUnrealizedLossRule:
        if self.ladder is not None and self.scope != "total":
            raise fail_at(("ladder",), "a ladder needs scope: total (the account's figure, not one position's)")
        return self


class MaxUnrealizedProfitRule(Strict):
    """RULE-005."""

    enabled: bool = True
    mode: Literal["profit_target", "breakeven"] = "profit_target"
    profit_target: Money = Decimal("1000")
    scope: Literal["per_position", "total"] = "per_position"


class FrequencyWindow(Strict):
    limit: Count
    cooldown_seconds: Seconds


class SessionFrequency(Strict):
    limit: Count


class TradeFrequencyRule(Strict):
    """RULE-006. A window set to null is not checked."""

    enabled: bool = True
    per_minute: FrequencyWindow | None = FrequencyWindow(limit=3, cooldown_seconds=60)
    per_hour: FrequencyWindow | None = FrequencyWindow(limit=30, cooldown_seconds=1800)
    per_session: SessionFrequency | None = SessionFrequency(limit=50)
    ladder: Ladder | None = None

    @model_validator(mode="after")
    def _ladder_needs_session(self) -> TradeFrequencyRule:
        if self.ladder is not None and self.per_session is None:
            raise fail_at(("ladder",), "the ladder climbs towards per_session.limit, which is null")
        return self


class LossTier(Strict):
    loss_amount: Money
    cooldown_seconds: Seconds


def _default_tiers() -> list[LossTier]:
    return [
        LossTier(loss_amount=Decimal("100"), cooldown_seconds=300),
        LossTier(loss_amount=Decimal("200"), cooldown_seconds=900),
        LossTier(loss_amount=Decimal("300"), cooldown_seconds=1800),
    ]


class CooldownAfterLossRule(Strict):
    """RULE-007."""

    enabled: bool = True
    tiers: list[LossTier] = Field(default_factory=_default_tiers)


class NoStopLossGraceRule(Strict):
    """RULE-008."""

    enabled: bool = True
    grace_period_seconds: Seconds = 30


class SessionWindow(Strict):
    """A trading window; ``end`` before ``start`` means it runs overnight into the next day."""

    start: WallTime
    end: WallTime
    timezone: TimeZoneName = "America/Chicago"
    days: list[DayName] = Field(default_factory=lambda: list(WEEKDAYS))

    @field_validator("days")
    @classmethod
    def _some_day(cls, value: list[DayName]) -> list[DayName]:
        if not value:
            raise fail("expected at least one day (mon, tue, wed, thu, fri, sat, sun)")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> SessionWindow:
        if self.start == self.end:
            raise fail_at(
                ("end",), f"end must differ from start ({self.start:%H:%M}); the window would be empty"
            )
        return self

    def weekdays(self) -> frozenset[int]:
        """Allowed days as ``date.weekday()`` numbers (Monday = 0)."""
        return frozenset(WEEKDAY_NUMBERS[d] for d in self.days)

    def zone(self) -> ZoneInfo:
        return zone(self.timezone)


class SessionBlockRule(Strict):
    """RULE-009."""

    enabled: bool = True
    window: SessionWindow = SessionWindow(start=time(8, 30), end=time(15, 0))
    per_symbol: Annotated[dict[Symbol, SessionWindow], BeforeValidator(none_is_empty)] = Field(
        default_factory=dict
    )
    respect_holidays: bool = True
    close_at_session_end: bool = True


class AuthLossGuardRule(Strict):
    """RULE-010."""

    enabled: bool = True
    auto_unlock_on_restore: bool = True


class SymbolBlocksRule(Strict):
    """RULE-011."""

    enabled: bool = True
    blocked_symbols: Annotated[list[Symbol], BeforeValidator(none_is_no_items)] = Field(
        default_factory=lambda: ["RTY", "BTC"]
    )
    close_existing: bool = True


class AutoStopLoss(Strict):
    enabled: bool = True
    stop_loss_ticks: Ticks = 10


class BreakevenStop(Strict):
    enabled: bool = False
    trigger_ticks: Ticks = 10
    offset_ticks: int = Field(default=0, ge=0)


class TrailingStop(Strict):
    enabled: bool = False
    activation_ticks: Ticks = 20
    distance_ticks: Ticks = 10


class TradeManagementRule(Strict):
    """RULE-012 (off by default)."""

    enabled: bool = False
    auto_stop_loss: AutoStopLoss = AutoStopLoss()
    breakeven: BreakevenStop = BreakevenStop()
    trailing: TrailingStop = TrailingStop()


class RulesConfig(Strict):
    """The rule blocks (the twelve of rules.md and the three of docs/rules-extra.md); any block may be
    omitted (defaults apply)."""

    max_contracts: MaxContractsRule = MaxContractsRule()
    max_contracts_per_instrument: MaxContractsPerInstrumentRule = MaxContractsPerInstrumentRule()
    daily_realized_loss: DailyRealizedLossRule = DailyRealizedLossRule()
    daily_unrealized_loss: DailyUnrealizedLossRule = DailyUnrealizedLossRule()
    max_unrealized_profit: MaxUnrealizedProfitRule = MaxUnrealizedProfitRule()
    trade_frequency_limit: TradeFrequencyRule = TradeFrequencyRule()
    cooldown_after_loss: CooldownAfterLossRule = CooldownAfterLossRule()
    no_stop_loss_grace: NoStopLossGraceRule = NoStopLossGraceRule()
    session_block_outside: SessionBlockRule = SessionBlockRule()
    auth_loss_guard: AuthLossGuardRule = AuthLossGuardRule()
    symbol_blocks: SymbolBlocksRule = SymbolBlocksRule()
    trade_management: TradeManagementRule = TradeManagementRule()
    trailing_drawdown: TrailingDrawdownRule = TrailingDrawdownRule()
    weekly_limits: WeeklyLimitsRule = WeeklyLimitsRule()
    consecutive_losses: ConsecutiveLossesRule = ConsecutiveLossesRule()


RULE_KEYS: tuple[str, ...] = tuple(RulesConfig.model_fields)
"""The rule block names in RULE-001..RULE-015 order."""


RULE_IDS: dict[str, str] = {
    name: f"RULE-{number:03d}" for number, name in enumerate(RulesConfig.model_fields, start=1)
}
"""Config key -> rule id (``max_contracts`` -> ``RULE-001``), in the order of spec/rules.md §4 and
docs/rules-extra.md."""


class RiskConfig(Strict):
    """``risk_config.yaml``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_by_name=True)

    version: Version = SUPPORTED_VERSION
    global_: GlobalSettings = Field(default=GlobalSettings(), alias="global")
    rules: RulesConfig = RulesConfig()
    #: rule changes scheduled for a later trading day (the settings lock, docs/rules-extra.md §5)
    pending: PendingChange | None = None


# --------------------------------------------------------------------------- accounts.yaml


class GatewaySettings(Strict):
    """Broker endpoints: TopstepX's, or three explicit URLs (another ProjectX firm, the simulator)."""

    environment: Literal["topstepx", "custom"] = "topstepx"
    api_url: str | None = None
    user_hub_url: str | None = None
    market_hub_url: str | None = None

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = check_url(value, ("http", "https"))
        if url.lower().endswith("/api"):
            raise fail(f"api_url must not end with /api (request paths start with /api/), got {value!r}")
        return url

    @field_validator("user_hub_url", "market_hub_url")
    @classmethod
    def _hub_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)

    @model_validator(mode="after")
    def _urls_match_environment(self) -> GatewaySettings:
        names = ("api_url", "user_hub_url", "market_hub_url")
        for name in names:
            value = getattr(self, name)
            if self.environment == "custom" and value is None:
                raise fail_at(
                    (name,), f"missing required key '{name}' (environment: custom needs all three URLs)"
                )
            if self.environment == "topstepx" and value is not None:
                raise fail_at(
                    (name,), f"{name} is only used with environment: custom (topstepx uses its own URLs)"
                )
        return self

    def urls(self) -> tuple[str, str, str]:
        """``(api_url, user_hub_url, market_hub_url)`` in effect."""
        if self.environment == "topstepx":
            return TOPSTEPX_URLS
        assert self.api_url and self.user_hub_url and self.market_hub_url  # checked at validation
        return (self.api_url, self.user_hub_url, self.market_hub_url)


class AccountConfig(Strict):
    id: int = Field(ge=1)
    name: NonEmptyStr
    enabled: bool = True
    observe_only: bool = False
    reset_time: WallTime = time(17, 0)
    timezone: TimeZoneName = "America/Chicago"
    rule_overrides: Annotated[dict[str, Any], BeforeValidator(none_is_empty)] = Field(default_factory=dict)

    def zone(self) -> ZoneInfo:
        return zone(self.timezone)


class Login(Strict):
    name: NonEmptyStr
    user_name: NonEmptyStr
    accounts: list[AccountConfig]


class AccountsFile(Strict):
    """``accounts.yaml``."""

    version: Version = SUPPORTED_VERSION
    gateway: GatewaySettings = GatewaySettings()
    logins: list[Login]

    @field_validator("logins")
    @classmethod
    def _unique(cls, logins: list[Login]) -> list[Login]:
        login_names: dict[str, int] = {}
        user_names: dict[str, int] = {}
        account_ids: dict[int, tuple[int, int]] = {}
        for li, login in enumerate(logins):
            if login.name in login_names:
                raise fail_at(
                    (li, "name"),
                    f"duplicate login name {login.name!r} (also logins[{login_names[login.name]}])",
                )
            login_names[login.name] = li
            key = login.user_name.casefold()
            if key in user_names:
                raise fail_at(
                    (li, "user_name"),
                    f"duplicate user_name {login.user_name!r} (also logins[{user_names[key]}]); "
                    "list all accounts of one user under one login",
                )
            user_names[key] = li
            for ai, account in enumerate(login.accounts):
                if account.id in account_ids:
                    pl, pa = account_ids[account.id]
                    raise fail_at(
                        (li, "accounts", ai, "id"),
                        f"duplicate account id {account.id} (also logins[{pl}].accounts[{pa}])",
                    )
                account_ids[account.id] = (li, ai)
        return logins


# --------------------------------------------------------------------------- holidays.yaml


class Holiday(Strict):
    date: Day
    name: str = ""

    @model_validator(mode="before")
    @classmethod
    def _bare_date(cls, value: Any) -> Any:
        # ``- 2027-01-01`` is accepted as well as ``- {date: 2027-01-01, name: ...}``.
        return value if isinstance(value, dict) else {"date": value}


class HolidaysFile(Strict):
    """``holidays.yaml``: days on which no session opens (RULE-009 with respect_holidays)."""

    version: Version = SUPPORTED_VERSION
    holidays: Annotated[list[Holiday], BeforeValidator(none_is_no_items)] = Field(default_factory=list)

    def dates(self) -> frozenset[date]:
        return frozenset(h.date for h in self.holidays)


# --------------------------------------------------------------------------- daemon.yaml


class LocalApiSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)

    @field_validator("host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        host = value.strip()
        try:
            loopback = host == "localhost" or ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise fail(f"expected a loopback address (127.0.0.1, ::1 or localhost), got {value!r}")
        return host


class LoggingSettings(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


def _url_item(value: Any) -> Any:
    # ``- ntfy://topic`` is accepted as well as ``- {url: ntfy://topic, subjects: [...]}``.
    return {"url": value} if isinstance(value, str) else value


def _url_list(value: Any) -> Any:
    # ``apprise: ntfy://topic`` (one URL, no list) is accepted, and never echoed back in an error.
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


class AppriseTarget(Strict):
    """One Apprise URL (its own sink) and, optionally, the alert subjects it receives."""

    url: Annotated[str, AfterValidator(check_apprise_url)]
    subjects: list[AlertSubject] | None = None  # None: every subject

    @model_validator(mode="before")
    @classmethod
    def _bare_url(cls, value: Any) -> Any:
        if not isinstance(value, (str, dict)):
            raise fail(f"expected an Apprise URL or a mapping with url and subjects, got {describe(value)}")
        return _url_item(value)

    def __repr__(self) -> str:
        return f"AppriseTarget(url={mask_url(self.url)!r}, subjects={self.subjects!r})"

    __str__ = __repr__


class NotificationSettings(Strict):
    """Where alerts go (spec/daemon.md §7.4): this program's JSON webhook and any Apprise URLs."""

    webhook_url: str | None = None
    apprise: Annotated[list[AppriseTarget], BeforeValidator(_url_list)] = Field(default_factory=list)

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_webhook_url(value)

    @field_validator("apprise")
    @classmethod
    def _distinct(cls, value: list[AppriseTarget]) -> list[AppriseTarget]:
        first: dict[str, int] = {}
        for index, target in enumerate(value):
            if target.url in first:
                raise fail_at(
                    (index, "url"), f"the same URL is already listed as notifications.apprise[{first[target.url]}]"
                )
            first[target.url] = index
        return value

    def __repr__(self) -> str:
        webhook = None if self.webhook_url is None else mask_url(self.webhook_url)
        return f"NotificationSettings(webhook_url={webhook!r}, apprise={self.apprise!r})"

    __str__ = __repr__


class BrokerSettings(Strict):
    connect_timeout_seconds: PositiveFloat = 5.0
    request_timeout_seconds: PositiveFloat = 10.0


class DaemonSettings(Strict):
    """``daemon.yaml`` (optional; every key has a default). Only ``notifications`` reloads live."""

    version: Version = SUPPORTED_VERSION
    api: LocalApiSettings = LocalApiSettings()
    logging: LoggingSettings = LoggingSettings()
    notifications: NotificationSettings = NotificationSettings()
    broker: BrokerSettings = BrokerSettings()


# --------------------------------------------------------------------------- secrets.yaml


class SecretsFile(Strict):
    """``secrets.yaml``: API key per login ``user_name``. Its values never appear in messages."""

    version: Version = SUPPORTED_VERSION
    api_keys: Annotated[dict[NonEmptyStr, NonEmptyStr], BeforeValidator(none_is_empty)] = Field(
        default_factory=dict
    )

    def __repr__(self) -> str:
        return f"SecretsFile(api_keys=<{len(self.api_keys)} hidden>)"

    __str__ = __repr__
