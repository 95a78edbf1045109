"""Rule sets for the end-to-end tests: everything off globally, one rule switched on per account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from risk_manager.config.models import RULE_KEYS


def all_disabled() -> dict[str, Any]:
    return {name: {"enabled": False} for name in RULE_KEYS}


def outside_window(now: datetime | None = None) -> dict[str, Any]:
    """A trading window that starts 3 h from now: the present is outside it."""
    now = now or datetime.now(UTC)
    start, end = now + timedelta(hours=3), now + timedelta(hours=4)
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    return {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"), "timezone": "UTC", "days": days}


# account id -> (rule block overrides)
PER_ACCOUNT: dict[int, dict[str, Any]] = {
    2001: {"max_contracts": {"enabled": True, "limit": 2, "count_type": "net", "enforcement": "close_all"}},
    2002: {
        "max_contracts_per_instrument": {
            "enabled": True,
            "limits": {"MNQ": 1},
            "enforcement": "reduce_to_limit",
            "unknown_symbol_action": "allow_unlimited",
        }
    },
    2003: {"daily_realized_loss": {"enabled": True, "loss_limit": 100, "lockout_until": "daily_reset"}},
    2004: {"daily_unrealized_loss": {"enabled": True, "loss_limit": 100, "scope": "per_position"}},
    2005: {
        "max_unrealized_profit": {
            "enabled": True,
            "mode": "profit_target",
            "profit_target": 100,
            "scope": "per_position",
        }
    },
    2006: {"trade_frequency_limit": {"enabled": True, "per_minute": {"limit": 2, "cooldown_seconds": 60}}},
    2007: {"cooldown_after_loss": {"enabled": True, "tiers": [{"loss_amount": 10, "cooldown_seconds": 120}]}},
    2008: {"no_stop_loss_grace": {"enabled": True, "grace_period_seconds": 2}},
    2009: {"session_block_outside": {"enabled": True, "window": outside_window(), "respect_holidays": False}},
    2010: {"auth_loss_guard": {"enabled": True, "auto_unlock_on_restore": True}},
    2011: {"symbol_blocks": {"enabled": True, "blocked_symbols": ["CL"], "close_existing": True}},
    2012: {
        "trade_management": {
            "enabled": True,
            "auto_stop_loss": {"enabled": True, "stop_loss_ticks": 10},
            "breakeven": {"enabled": False},
            "trailing": {"enabled": False},
        }
    },
}


def accounts_for(ids: list[int], overrides: dict[int, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    out = []
    for acct in ids:
        entry: dict[str, Any] = {
            "id": acct,
            "name": f"E2E-{acct}",
            "reset_time": "17:00",
            "timezone": "America/Chicago",
        }
        if overrides and acct in overrides:
            entry["rule_overrides"] = overrides[acct]
        out.append(entry)
    return out


def users_file(users: dict[str, tuple[str, list[int]]]) -> dict[str, Any]:
    """Simulator users file: {userName: (apiKey, [account ids])}."""
    return {
        "users": [
            {
                "userName": name,
                "apiKey": key,
                "accounts": [
                    {"id": a, "name": f"E2E-{a}", "balance": 50000, "canTrade": True, "simulated": True}
                    for a in ids
                ],
            }
            for name, (key, ids) in users.items()
        ]
    }
