"""Config blocks of issue 15 (docs/rules-extra.md): RULE-013..015, the action ladder, the settings
lock and a scheduled (``pending``) change.

Separate from ``models.py`` so each file stays one concern; ``models.RulesConfig`` and
``models.RiskConfig`` pull these in. Every new rule is off by default, and a rule block without a
``ladder`` behaves exactly as before the ladder existed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from risk_manager.config.base import DayName, Strict, none_is_empty
from risk_manager.config.fields import Count, Day, Money, NonNegativeMoney, Seconds, fail, fail_at


def _percents(value: list[int], *, where: tuple[str | int, ...] = ()) -> list[int]:
    for index, percent in enumerate(value):
        if not 1 <= percent <= 99:
            raise fail_at((*where, index), f"expected a percentage from 1 to 99, got {percent}")
    return sorted(set(value))


class Ladder(Strict):
    """The action ladder of one money or count rule: ``warn_at`` percents (instead of the global
    ``warn_at_percent``), then reduce-only from ``reduce_only_at`` percent, then the rule's own action
    at 100 %."""

    warn_at: list[int] | None = None
    reduce_only_at: int | None = None

    @field_validator("warn_at")
    @classmethod
    def _warn(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else _percents(value)

    @field_validator("reduce_only_at")
    @classmethod
    def _rung(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 99:
            raise fail(f"expected a percentage from 1 to 99 (100 % is the rule's own action), got {value}")
        return value


class TrailingDrawdownRule(Strict):
    """RULE-013: the firm's trailing maximum loss limit, with a buffer (off by default)."""

    enabled: bool = False
    mode: Literal["eod", "intraday"] = "eod"
    max_drawdown: Money = Decimal("2000")
    buffer: NonNegativeMoney = Decimal("0")
    lock_at_start: bool = True
    starting_balance: Money | None = None
    floor: Money | None = None
    lockout_until: Literal["daily_reset", "indefinite"] = "daily_reset"
    ladder: Ladder | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TrailingDrawdownRule:
        if self.buffer >= self.max_drawdown:
            raise fail_at(
                ("buffer",),
                f"buffer must be smaller than max_drawdown ({self.max_drawdown}), got {self.buffer}",
            )
        start, floor = self.starting_balance, self.floor
        if start is not None and floor is not None and self.lock_at_start and floor > start:
            raise fail_at(
                ("floor",),
                f"floor {floor} is above starting_balance {start}; with lock_at_start the floor never "
                "passes the starting balance",
            )
        return self


class WeeklyLimitsRule(Strict):
    """RULE-014: loss and profit limits per trading week (off by default)."""

    enabled: bool = False
    pnl: Literal["realized", "net"] = "realized"
    loss_limit: Money | None = Decimal("1500")
    profit_target: Money | None = None
    week_start: DayName = "mon"
    ladder: Ladder | None = None

    @model_validator(mode="after")
    def _some_limit(self) -> WeeklyLimitsRule:
        if self.loss_limit is None and self.profit_target is None:
            raise fail_at(("loss_limit",), "expected loss_limit or profit_target (or both); both are null")
        if self.ladder is not None and self.loss_limit is None:
            raise fail_at(("ladder",), "the ladder climbs towards loss_limit, which is null")
        return self


class ConsecutiveLossesRule(Strict):
    """RULE-015: N losing trades in a row start a cooldown or lock until the reset (off by default)."""

    enabled: bool = False
    max_losses: Count = 3
    scratch_amount: NonNegativeMoney = Decimal("0")
    scratches: Literal["reset", "ignore", "count"] = "reset"
    action: Literal["cooldown", "until_reset"] = "cooldown"
    cooldown_seconds: Seconds = 1800
    ladder: Ladder | None = None


class SettingsLock(Strict):
    """``global.settings_lock``: once engaged, a change that loosens a limit waits for the reset."""

    enabled: bool = False
    engage: Literal["at_reset", "first_fill"] = "at_reset"


def _account_keys(value: Any) -> Any:
    """Account ids as mapping keys: ``123:`` in YAML is a number, ``"123":`` in JSON a string."""
    value = none_is_empty(value)
    if isinstance(value, dict):
        return {int(k) if isinstance(k, str) and k.strip().isdigit() else k: v for k, v in value.items()}
    return value


class PendingChange(Strict):
    """``pending``: rule changes scheduled for the trading day ``from`` (merged over ``rules`` and
    over each account's ``rule_overrides``; validated as such by the loader)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_by_name=True)

    from_: Day = Field(alias="from")
    rules: Annotated[dict[str, Any], BeforeValidator(none_is_empty)] = Field(default_factory=dict)
    rule_overrides: Annotated[dict[int, dict[str, Any]], BeforeValidator(_account_keys)] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _something(self) -> PendingChange:
        if not self.rules and not self.rule_overrides:
            raise fail("expected 'rules' or 'rule_overrides' with the changes to schedule")
        return self
