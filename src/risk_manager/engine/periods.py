"""What the daily reset does beyond rules.md §2 (docs/rules-extra.md): every rule closes its period
(``Rule.on_reset``: RULE-013's end-of-day sample, RULE-014's week, RULE-015's streak) and settings
scheduled for the new trading day (risk_config.yaml ``pending``, the settings lock) come into force.

Kept out of ``core.py`` so the core only calls two functions at the reset.
"""

from __future__ import annotations

from datetime import datetime

from risk_manager.engine.actions import Action, ActionKind
from risk_manager.engine.context import RuleContext
from risk_manager.engine.isolation import run_rules
from risk_manager.engine.rulebook import RULES
from risk_manager.engine.state import AccountSettings, AccountState, EngineState
from risk_manager.engine.trading_day import trading_date

RESET = "RESET"  # the rule id of actions taken by the daily reset (as core.RESET)


def due_settings(settings: AccountSettings, now: datetime) -> AccountSettings:
    """The settings in force at ``now``: the scheduled ones once their trading day has begun."""
    scheduled, start = settings.scheduled, settings.scheduled_from
    if scheduled is None or start is None:
        return settings
    return scheduled if trading_date(now, settings.reset_time, settings.timezone) >= start else settings


def adopt_due(
    state: EngineState, acct: AccountState, now: datetime, *, day_of: datetime | None = None
) -> list[Action]:
    """Switch to scheduled settings that are due (on the trading day containing ``day_of``, default
    ``now``); each rule reacts to its new configuration as on a reload."""
    current = acct.settings
    new = due_settings(current, day_of or now)
    if new is current:
        return []
    acct.settings = new
    acct.bands.clear()
    ctx = RuleContext(state, acct, now)
    reason = (
        f"scheduled settings in force from trading day {current.scheduled_from} "
        "(risk_config.yaml pending; loosening waited for the reset)"
    )
    out = [ctx.act(RESET, ActionKind.WARN, reason)]
    for rule in RULES:
        out += rule.on_reload(ctx)
    return out


def close_day(
    state: EngineState, acct: AccountState, now: datetime, ended: datetime, started: datetime
) -> list[Action]:
    """The reset at ``started`` ends the day that began at ``ended``: rules close their period, then
    the settings scheduled for the new day take over."""
    ctx = RuleContext(state, acct, now)
    # Each rule on its own (isolation.py): one failing never keeps the others' periods open.
    out = run_rules(ctx, RULES, "on_reset", ended, started, disabled_too=True)
    return out + adopt_due(state, acct, now, day_of=started)
