"""The action ladder (docs/rules-extra.md §4): warn -> reduce-only -> the rule's own action.

A money or count rule with a ``ladder`` block hands its figure here before it judges the breach
itself. The warn rungs replace the global ``warn_at_percent`` for that rule; the reduce-only rung is
a ``reduce_only`` lockout of the rule that holds until the end of the rule's period (the trading day,
or RULE-014's week): a trader who could step in and out of reduce-only with every tick would game it.
When the rung is first reached, working entry orders are cancelled at once (the gate takes care of
everything that comes later). At 100 % the rule's own action applies and the rung adds nothing: the
engine applies the strongest active rung.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from risk_manager.engine.actions import Action, ActionKind
from risk_manager.engine.context import RuleContext
from risk_manager.engine.lockouts import LockoutKind, LockoutScope
from risk_manager.engine.money import fmt_money
from risk_manager.engine.stops import is_protective


def warn_percents(ladder: Any) -> list[int] | None:
    """The rule's own warning levels, or None for the global ``warn_at_percent``."""
    if ladder is None or ladder.warn_at is None:
        return None
    return list(ladder.warn_at)


def pending_levels(ctx: RuleContext, rule: str, key: str, ladder: Any) -> list[int]:
    """Percents at which this rule would still act before its breach (for quiet bands)."""
    levels = ctx.warnings_pending(rule, key, warn_percents(ladder))
    if ladder is not None and ladder.reduce_only_at is not None and not rung_set(ctx, rule):
        levels.append(ladder.reduce_only_at)
    return levels


def rung_set(ctx: RuleContext, rule: str) -> bool:
    return ctx.account.lockouts.get(rule, LockoutScope.ACCOUNT, rung=True) is not None


def _fmt(value: Decimal, money: bool) -> str:
    return fmt_money(value) if money else str(value)


def climb(
    ctx: RuleContext,
    rule: str,
    key: str,
    used: Decimal,
    limit: Decimal,
    what: str,
    *,
    ladder: Any,
    breached: bool,
    until: datetime | None,
    money: bool = True,
) -> list[Action]:
    """The warn and reduce-only rungs for ``used`` of ``limit``; the breach is the caller's."""
    warnings = ctx.warn_levels(rule, key, used, limit, what, money=money, percents=warn_percents(ladder))
    if breached:
        return []  # the rule's own action says more (an inclusive breach at exactly 100 % included)
    if ladder is None or ladder.reduce_only_at is None or limit <= 0:
        return warnings
    percent = ladder.reduce_only_at
    if used * 100 < limit * percent or rung_set(ctx, rule):
        return warnings
    reason = (
        f"{what} {_fmt(used, money)} of {_fmt(limit, money)} reached the reduce-only rung at {percent}%: "
        "exits only"
    )
    locked = ctx.lock(rule, LockoutKind.REDUCE_ONLY, until, reason)
    if not locked:
        return warnings
    return [*warnings, *locked, *cancel_entries(ctx, rule, reason)]


def cancel_entries(ctx: RuleContext, rule: str, reason: str) -> list[Action]:
    """``cancel_order`` for every working order that could add exposure (protective ones stay)."""
    acct = ctx.account
    return [
        ctx.act(rule, ActionKind.CANCEL_ORDER, reason, order_id=o.order_id, contract_id=o.contract_id)
        for o in acct.orders.values()
        if o.cancellable and not is_protective(acct.positions.get(o.contract_id), o)
    ]
