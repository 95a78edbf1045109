"""RULE-007: a losing trade starts a cooldown whose length depends on the size of the loss."""

from __future__ import annotations

from datetime import timedelta

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.events import TradeUpdate
from risk_manager.engine.lockouts import LockoutKind
from risk_manager.engine.money import fmt_money
from risk_manager.engine.rules.base import Rule


class CooldownAfterLoss(Rule):
    rule_id = "RULE-007"
    config_key = "cooldown_after_loss"

    def on_trade(self, ctx: RuleContext, trade: TradeUpdate, counted: bool) -> list[Action]:
        if not counted or trade.pnl is None:
            return []
        pnl = trade.pnl - (trade.charges if ctx.settings.include_fees else 0)
        if pnl >= 0:
            return []
        loss = -pnl
        tiers = [t for t in ctx.rules.cooldown_after_loss.tiers if loss >= t.loss_amount]
        if not tiers:
            return []
        tier = max(tiers, key=lambda t: t.loss_amount)
        seconds = tier.cooldown_seconds
        reason = f"trade loss {fmt_money(pnl)} <= -{fmt_money(tier.loss_amount)}: cooldown {seconds}s"
        # From the fill's own time: a loss found again on reconciliation does not restart its cooldown.
        start = trade.created if trade.created is not None and trade.created <= ctx.now else ctx.now
        until = start + timedelta(seconds=seconds)
        return ctx.lock(self.rule_id, LockoutKind.COOLDOWN, until, reason)
