"""Every rule runs on its own: one rule that raises never switches the others off.

Before this, an exception anywhere in one rule dropped the whole evaluation of the event: no
close, no lockout from any rule, for as long as the bad state lasted. Now each call into a rule is
guarded: the failure is counted (per account and in total, shown by the daemon), logged with its
traceback (at most once a minute per account and rule, so a rule failing on every quote cannot
flood the log), and the trader is warned once per trading day that the rule could not decide. The
other rules' actions for the event stand.

The engine is otherwise free of I/O; the log line is the one exception, because a rule failure is
a defect someone must see even when no action comes out of the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TypeVar

from risk_manager.engine.actions import Action, ActionKind
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules.base import Rule

log = logging.getLogger("risk_manager.engine")

#: How often a rule failing again and again is logged (the count goes on regardless).
LOG_EVERY = timedelta(minutes=1)
_WARN_KEY = "rule-error"

T = TypeVar("T")


def _count_and_log(ctx: RuleContext, rule_id: str, where: str, exc: BaseException) -> None:
    acct = ctx.account
    acct.rule_errors += 1
    ctx.state.rule_errors += 1
    last = acct.rule_error_logged.get(rule_id)
    if last is not None and last <= ctx.now < last + LOG_EVERY:
        return
    acct.rule_error_logged[rule_id] = ctx.now
    log.error(
        "account %s: %s failed in %s (%s: %s); the other rules still decided (%d rule errors so far)",
        acct.account_id,
        rule_id,
        where,
        type(exc).__name__,
        exc,
        acct.rule_errors,
        exc_info=exc,
    )


def rule_failed(ctx: RuleContext, rule_id: str, where: str, exc: BaseException) -> list[Action]:
    """Count and log one failure of ``rule_id``; the first one of the trading day also warns."""
    _count_and_log(ctx, rule_id, where, exc)
    key = (rule_id, _WARN_KEY, 0)
    if key in ctx.account.warned:
        return []
    ctx.account.warned.add(key)
    reason = f"{rule_id} could not decide ({type(exc).__name__} in {where}); the other rules still apply"
    return [ctx.act(rule_id, ActionKind.WARN, reason)]


def enabled_rules(ctx: RuleContext, rules: Sequence[Rule]) -> Sequence[Rule]:
    """The rules of ``rules`` that the account's settings switch on, read once per settings
    object (they are immutable; a reload or a scheduled change brings a new one). A rule whose
    switch cannot be read is kept: calling it reports the failure like any other."""
    cfg = ctx.rules
    cache = ctx.account.enabled
    hit = cache.get(id(rules))
    if hit is not None and hit[0] is cfg:
        return hit[1]
    chosen: list[Rule] = []
    for rule in rules:
        try:
            on = rule.enabled(ctx)
        except Exception:
            on = True
        if on:
            chosen.append(rule)
    found = tuple(chosen)
    cache[id(rules)] = (cfg, found)
    return found


def run_rules(
    ctx: RuleContext,
    rules: Sequence[Rule],
    method: str,
    *args: object,
    locked_only: bool = False,
    disabled_too: bool = False,
) -> list[Action]:
    """``rule.<method>(ctx, *args)`` for every enabled rule (only those that run while hard-locked,
    when ``locked_only``; disabled ones too, when ``disabled_too``: a reload may switch a rule off),
    each on its own: a failure gives ``rule_failed``'s warning instead."""
    out: list[Action] = []
    for rule in rules if disabled_too else enabled_rules(ctx, rules):
        if locked_only and not rule.runs_while_locked:
            continue
        try:
            out += getattr(rule, method)(ctx, *args)
        except Exception as exc:
            out += rule_failed(ctx, rule.rule_id, method, exc)
    return out


def guarded(ctx: RuleContext, rule: Rule, where: str, call: Callable[[], T], fallback: T) -> T:
    """A rule hook that returns a value (quiet band, next deadline): ``fallback`` on failure.

    Counted and logged like any rule failure; no warning from here (there is no action to return):
    the trader hears of it when the rule fails while deciding.
    """
    try:
        return call()
    except Exception as exc:
        _count_and_log(ctx, rule.rule_id, where, exc)
        return fallback
