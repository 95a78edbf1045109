"""Turn the validated configuration into the engine's per-account settings (no I/O here)."""

from __future__ import annotations

from typing import Any

from risk_manager.engine.sessions import Window
from risk_manager.engine.state import AccountSettings
from risk_manager.engine.trading_day import zone
from risk_manager.engine.weeks import WEEKDAYS as _WEEKDAYS


def _window(cfg: Any, holidays: frozenset[Any]) -> Window:
    days = [_WEEKDAYS[d] if isinstance(d, str) else int(d) for d in cfg.days]
    return Window.build(cfg.start, cfg.end, cfg.timezone, days, holidays)


def _settings(app_config: Any, account: Any, rules: Any) -> AccountSettings:
    glob = app_config.risk.global_
    session = rules.session_block_outside
    holidays = frozenset(app_config.holidays) if session.respect_holidays else frozenset()
    return AccountSettings(
        account_id=account.id,
        name=account.name,
        observe_only=account.observe_only,
        reset_time=account.reset_time,
        timezone=zone(account.timezone),
        rules=rules,
        include_fees=glob.include_fees,
        max_quote_age_seconds=glob.max_quote_age_seconds,
        warn_at_percent=tuple(sorted(glob.warn_at_percent)),
        holidays=frozenset(app_config.holidays),
        session_window=_window(session.window, holidays) if session.enabled else None,
        symbol_windows=(
            {sym.upper(): _window(w, holidays) for sym, w in session.per_symbol.items()}
            if session.enabled
            else {}
        ),
    )


def account_settings(app_config: Any) -> list[AccountSettings]:
    """Settings for every enabled account of an ``AppConfig`` (risk_manager.config.loader), each with
    the settings scheduled for a later trading day (``pending``) attached."""
    out: list[AccountSettings] = []
    for _login, account in app_config.account_configs():
        if not account.enabled:
            continue
        settings = _settings(app_config, account, app_config.rules_for(account.id))
        pending = app_config.pending_rules_for(account.id)
        if pending is not None:
            settings.scheduled = _settings(app_config, account, pending)
            settings.scheduled_from = app_config.pending_from
        out.append(settings)
    return out
