"""A short, secret-free description of a validated configuration (``config check``, ``doctor``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from risk_manager.config.base import WEEKDAY_NUMBERS
from risk_manager.config.loader import AppConfig
from risk_manager.config.models import RULE_IDS, RulesConfig, SessionWindow
from risk_manager.config.notify_urls import mask_url


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _days(days: list[str]) -> str:
    numbers = sorted(WEEKDAY_NUMBERS[d] for d in set(days))
    names = list(WEEKDAY_NUMBERS)
    if len(numbers) > 2 and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{names[numbers[0]]}-{names[numbers[-1]]}"
    return ",".join(names[n] for n in numbers)


def _window(w: SessionWindow) -> str:
    return f"{w.start:%H:%M}-{w.end:%H:%M} {w.timezone} {_days(list(w.days))}"


def rule_summaries(rules: RulesConfig) -> list[dict[str, str]]:
    """``[{"key", "rule", "summary"}]`` for every enabled rule, in rule order."""
    out: list[dict[str, str]] = []

    def add(key: str, text: str) -> None:
        out.append({"key": key, "rule": RULE_IDS[key], "summary": text})

    r = rules
    if r.max_contracts.enabled:
        add(
            "max_contracts",
            f"limit {r.max_contracts.limit} {r.max_contracts.count_type}, {r.max_contracts.enforcement}",
        )
    if r.max_contracts_per_instrument.enabled:
        c = r.max_contracts_per_instrument
        limits = ", ".join(f"{s} {n}" for s, n in c.limits.items()) or "none listed"
        add("max_contracts_per_instrument", f"{limits}; others {c.unknown_symbol_action}; {c.enforcement}")
    if r.daily_realized_loss.enabled:
        c3 = r.daily_realized_loss
        add("daily_realized_loss", f"loss limit {_money(c3.loss_limit)}, lockout until {c3.lockout_until}")
    if r.daily_unrealized_loss.enabled:
        c4 = r.daily_unrealized_loss
        add("daily_unrealized_loss", f"loss limit {_money(c4.loss_limit)} {c4.scope}")
    if r.max_unrealized_profit.enabled:
        c5 = r.max_unrealized_profit
        text = "breakeven" if c5.mode == "breakeven" else f"target {_money(c5.profit_target)} {c5.scope}"
        add("max_unrealized_profit", text)
    if r.trade_frequency_limit.enabled:
        c6 = r.trade_frequency_limit
        parts = []
        if c6.per_minute:
            parts.append(f"{c6.per_minute.limit}/minute (cooldown {c6.per_minute.cooldown_seconds}s)")
        if c6.per_hour:
            parts.append(f"{c6.per_hour.limit}/hour (cooldown {c6.per_hour.cooldown_seconds}s)")
        if c6.per_session:
            parts.append(f"{c6.per_session.limit}/session")
        add("trade_frequency_limit", ", ".join(parts) or "no window set")
    if r.cooldown_after_loss.enabled:
        tiers = ", ".join(
            f"-{_money(t.loss_amount)} -> {t.cooldown_seconds}s" for t in r.cooldown_after_loss.tiers
        )
        add("cooldown_after_loss", tiers or "no tiers")
    if r.no_stop_loss_grace.enabled:
        add("no_stop_loss_grace", f"stop required within {r.no_stop_loss_grace.grace_period_seconds}s")
    if r.session_block_outside.enabled:
        c9 = r.session_block_outside
        text = _window(c9.window)
        if c9.per_symbol:
            text += "; " + ", ".join(f"{s} {_window(w)}" for s, w in c9.per_symbol.items())
        add("session_block_outside", text)
    if r.auth_loss_guard.enabled:
        auto = "auto unlock on restore" if r.auth_loss_guard.auto_unlock_on_restore else "admin unlock"
        add("auth_loss_guard", auto)
    if r.symbol_blocks.enabled:
        add("symbol_blocks", ", ".join(r.symbol_blocks.blocked_symbols) or "none listed")
    if r.trade_management.enabled:
        t = r.trade_management
        parts = []
        if t.auto_stop_loss.enabled:
            parts.append(f"auto stop {t.auto_stop_loss.stop_loss_ticks} ticks")
        if t.breakeven.enabled:
            parts.append(f"breakeven at +{t.breakeven.trigger_ticks} ticks")
        if t.trailing.enabled:
            parts.append(f"trailing {t.trailing.distance_ticks} ticks after +{t.trailing.activation_ticks}")
        add("trade_management", ", ".join(parts) or "nothing enabled")
    if r.trailing_drawdown.enabled:
        d = r.trailing_drawdown
        text = f"max drawdown {_money(d.max_drawdown)} ({d.mode}), buffer {_money(d.buffer)}"
        if d.lock_at_start:
            text += ", floor stops at the starting balance"
        add("trailing_drawdown", f"{text}; lockout {d.lockout_until}")
    if r.weekly_limits.enabled:
        w = r.weekly_limits
        parts = [
            f"loss {_money(w.loss_limit)}" if w.loss_limit else "",
            f"target {_money(w.profit_target)}" if w.profit_target else "",
        ]
        add("weekly_limits", f"weekly {w.pnl} {', '.join(p for p in parts if p)}; week starts {w.week_start}")
    if r.consecutive_losses.enabled:
        c15 = r.consecutive_losses
        then = f"cooldown {c15.cooldown_seconds}s" if c15.action == "cooldown" else "lock until the reset"
        add("consecutive_losses", f"{c15.max_losses} losing trades in a row -> {then}")
    for item in out:
        ladder = getattr(getattr(r, item["key"]), "ladder", None)
        if ladder is not None:
            warn = "/".join(str(p) for p in ladder.warn_at) + "%" if ladder.warn_at else "global levels"
            rung = f", reduce-only at {ladder.reduce_only_at}%" if ladder.reduce_only_at else ""
            item["summary"] += f"; ladder: warn {warn}{rung}"
    return out


def _notifications(config: AppConfig) -> dict[str, Any]:
    """Where alerts go, URLs masked (they hold tokens and passwords)."""
    n = config.daemon.notifications
    return {
        "webhook": None if n.webhook_url is None else mask_url(n.webhook_url),
        "apprise": [
            {"url": mask_url(t.url), "subjects": list(t.subjects) if t.subjects is not None else "all"}
            for t in n.apprise
        ],
    }


def summarize(config: AppConfig) -> dict[str, Any]:
    """JSON-ready description. API keys appear only as ``set`` / ``missing``."""
    gateway = config.accounts.gateway
    api_url, user_hub, market_hub = gateway.urls()
    missing = {login.user_name for login in config.missing_api_keys()}
    accounts = []
    for login, account in config.account_configs():
        accounts.append(
            {
                "id": account.id,
                "name": account.name,
                "login": login.name,
                "enabled": account.enabled,
                "observe_only": account.observe_only,
                "reset_time": f"{account.reset_time:%H:%M}",
                "timezone": account.timezone,
                "overrides": sorted(account.rule_overrides),
                "rules": rule_summaries(config.rules_for(account.id)),
            }
        )
    return {
        "ok": True,
        "config_dir": str(config.config_dir) if config.config_dir else None,
        "gateway": {
            "environment": gateway.environment,
            "api_url": api_url,
            "user_hub_url": user_hub,
            "market_hub_url": market_hub,
        },
        "logins": [
            {
                "name": login.name,
                "user_name": login.user_name,
                "api_key": "set" if config.secrets.get(login.user_name) else "missing",
                "accounts": [a.id for a in login.accounts],
            }
            for login in config.accounts.logins
        ],
        "accounts": accounts,
        "holidays": {
            "count": len(config.holidays),
            "dates": [d.isoformat() for d in sorted(config.holidays)],
        },
        "daemon": {
            "api": f"{config.daemon.api.host}:{config.daemon.api.port}",
            "log_level": config.daemon.logging.level,
            "webhook": config.daemon.notifications.webhook_url is not None,
        },
        "notifications": _notifications(config),
        "missing_api_keys": sorted(missing),
        "warnings": [w.to_dict() for w in config.warnings],
    }
