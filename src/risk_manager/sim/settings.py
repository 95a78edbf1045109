"""Simulator settings (spec/gateway.md §6.9): behaviours of the live broker that are unverified are selectable.

Kept as a validated dict so that ``GET /sim/settings`` and scenario ``settings:`` blocks share one shape.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from risk_manager.sim.wire import to_decimal

DEFAULT_FEES = {
    "ES": Decimal("1.40"),
    "MES": Decimal("0.37"),
    "NQ": Decimal("1.40"),
    "MNQ": Decimal("0.37"),
    "RTY": Decimal("1.40"),
    "M2K": Decimal("0.37"),
    "YM": Decimal("1.40"),
    "MYM": Decimal("0.37"),
    "CL": Decimal("1.52"),
    "MCL": Decimal("0.52"),
    "GC": Decimal("1.62"),
    "MGC": Decimal("0.62"),
}

_CHOICES: dict[str, tuple[str, ...]] = {
    "user_event_format": ("wrapped", "bare"),
    "market_event_format": ("array", "object"),
    "hub_token_check": ("connect", "continuous"),
    "rate_limit_scope": ("user", "token"),
    "crossed_stop": ("reject", "fill"),
    "can_trade_false_blocks": ("opening", "all", "none"),
    "close_when_flat": ("error", "ok"),
    "trail_price": ("anchor", "distance"),
    "error_messages": ("null", "text"),
}
_BOOLS = (
    "quote_on_subscribe",
    "user_snapshot_on_subscribe",
    "order_pending_event",
    "events_before_response",
    "rate_limit_enabled",
    "order_pending_cancel_event",
    "bare_list_responses",
)
_NUMBERS = (
    "ping_interval_s",
    "client_timeout_s",
    "handshake_timeout_s",
    "quote_heartbeat_s",
    "token_ttl_s",
    "pending_cancel_ms",
)
_PER_ROOT = ("fees_per_side", "commissions_per_side")
_INTS = ("journal_max_entries",)
_LIMITS = ("rate_limit_default", "rate_limit_bars")


def defaults() -> dict[str, Any]:
    return {
        "user_event_format": "wrapped",
        "market_event_format": "array",
        "quote_on_subscribe": True,
        "user_snapshot_on_subscribe": False,
        "order_pending_event": False,
        "events_before_response": True,
        "ping_interval_s": 15,
        "client_timeout_s": 60,
        "handshake_timeout_s": 15,
        "quote_heartbeat_s": 0,
        "token_ttl_s": 86400,
        "hub_token_check": "connect",
        "rate_limit_enabled": True,
        "rate_limit_default": [200, 60],
        "rate_limit_bars": [50, 30],
        "rate_limit_scope": "user",
        "fees_per_side": dict(DEFAULT_FEES),
        # broker commission per contract per side; a root without one sends "commissions": null
        "commissions_per_side": {},
        "order_pending_cancel_event": True,
        "pending_cancel_ms": 0,
        "trail_price": "anchor",
        "error_messages": "null",
        "bare_list_responses": False,
        "crossed_stop": "reject",
        "can_trade_false_blocks": "opening",
        "close_when_flat": "error",
        "journal_max_entries": 1_000_000,
    }


class SettingsError(ValueError):
    """``key`` names the offending setting so callers can point at it (file line, 400 body)."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


def _check(key: str, value: Any, current: dict[str, Any]) -> Any:
    if key in _CHOICES:
        if value not in _CHOICES[key]:
            raise SettingsError(key, f"expected one of {', '.join(_CHOICES[key])}, got {value!r}")
        return value
    if key in _BOOLS:
        if not isinstance(value, bool):
            raise SettingsError(key, f"expected true or false, got {value!r}")
        return value
    if key in _NUMBERS:
        number = to_decimal(value)
        if number is None or number < 0:
            raise SettingsError(key, f"expected a number >= 0, got {value!r}")
        return int(number) if number == number.to_integral_value() else float(number)
    if key in _INTS:
        number = to_decimal(value)
        if number is None or number < 1 or number != number.to_integral_value():
            raise SettingsError(key, f"expected an integer >= 1, got {value!r}")
        return int(number)
    if key in _LIMITS:
        ok = isinstance(value, list) and len(value) == 2
        pair = [to_decimal(v) for v in value] if ok else []
        if not ok or any(p is None or p < 1 or p != p.to_integral_value() for p in pair):
            raise SettingsError(
                key, f"expected [requests, window_seconds] (two integers >= 1), got {value!r}"
            )
        return [int(p) for p in pair if p is not None]
    if key in _PER_ROOT:
        if not isinstance(value, dict):
            raise SettingsError(key, "expected a mapping {ROOT: amount per contract per side}")
        fees = dict(current[key])
        for root, fee in value.items():
            amount = to_decimal(fee)
            if not isinstance(root, str) or amount is None or amount < 0:
                raise SettingsError(f"{key}.{root}", f"expected a fee >= 0, got {fee!r}")
            fees[root.upper()] = amount
        return fees
    raise SettingsError(key, "unknown setting")


class Settings:
    """Current settings plus the start-up values ``/sim/reset`` returns to."""

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self.values = defaults()
        if initial:
            self.update(initial)
        self._startup = copy.deepcopy(self.values)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def update(self, partial: dict[str, Any]) -> dict[str, Any]:
        """Validate every key first, then apply all of them (an invalid key changes nothing)."""
        if not isinstance(partial, dict):
            raise SettingsError("settings", "expected an object")
        staged = dict(self.values)
        for key, value in partial.items():
            staged[key] = _check(str(key), value, staged)
        self.values = staged
        return self.values

    def set_startup(self) -> None:
        self._startup = copy.deepcopy(self.values)

    def reset(self) -> None:
        self.values = copy.deepcopy(self._startup)

    def fee(self, root: str) -> Decimal:
        return Decimal(self.values["fees_per_side"].get(root, Decimal("0")))

    def commission(self, root: str) -> Decimal | None:
        """Broker commission per contract per side, or None when the root has none configured."""
        rate = self.values["commissions_per_side"].get(root)
        return None if rate is None else Decimal(rate)
