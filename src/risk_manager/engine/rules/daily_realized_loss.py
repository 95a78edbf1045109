"""RULE-003: realized loss for the trading day; a breach flattens and locks until the reset."""

from __future__ import annotations

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.events import TradeUpdate
from risk_manager.engine.ladder import climb
from risk_manager.engine.lockouts import LockoutKind
from risk_manager.engine.money import ZERO, fmt_money
from risk_manager.engine.rules.base import Rule


class DailyRealizedLoss(Rule):
    rule_id = "RULE-003"
    config_key = "daily_realized_loss"

    def on_trade(self, ctx: RuleContext, trade: TradeUpdate, counted: bool) -> list[Action]:
        if trade.pnl is None and not ctx.settings.include_fees:
            return []
        cfg = ctx.rules.daily_realized_loss
        realized = ctx.account.realized
        limit = cfg.loss_limit
        breached = realized < -limit
        out = climb(
            ctx,
            self.rule_id,
            "realized",
            max(-realized, ZERO),
            limit,
            "daily realized loss",
            ladder=cfg.ladder,
            breached=breached,
            until=ctx.next_reset(),
        )
        if not breached:
            return out
        reason = f"realized {fmt_money(realized)} < -{fmt_money(limit)}"
        out += ctx.flatten(self.rule_id, reason)
        if cfg.lockout_until == "permanent":
            out += ctx.lock(self.rule_id, LockoutKind.PERMANENT, None, reason)
        else:
            out += ctx.lock(self.rule_id, LockoutKind.UNTIL_RESET, ctx.next_reset(), reason)
        return out

    def condition_holds(self, ctx: RuleContext) -> bool:
        return bool(ctx.account.realized < -ctx.rules.daily_realized_loss.loss_limit)
