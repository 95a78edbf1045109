"""RULE-015: N losing trades in a row start a cooldown, or flatten and lock until the reset.

A trade is a closing fill (``profitAndLoss`` not null); the fills of one order are one trade (the
first fill classifies it). A fill whose P&L is within ``scratch_amount`` of zero is a scratch, which
ends the streak, leaves it alone or counts as a loss (``scratches``). The streak starts over after a
breach and at the daily reset.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.events import TradeUpdate
from risk_manager.engine.ladder import climb
from risk_manager.engine.lockouts import LockoutKind
from risk_manager.engine.money import fmt_money
from risk_manager.engine.rules.base import Rule
from risk_manager.engine.state import StreakState

_SCRATCH = {"reset": "win", "ignore": None, "count": "loss"}
KEY = "streak"


class ConsecutiveLosses(Rule):
    rule_id = "RULE-015"
    config_key = "consecutive_losses"

    def on_reset(self, ctx: RuleContext, ended: datetime, started: datetime) -> list[Action]:
        ctx.account.streak = StreakState()
        return []

    def _restart(self, ctx: RuleContext) -> None:
        """The streak starts over: its warnings are armed again."""
        ctx.account.streak.losses = 0
        ctx.account.warned = {w for w in ctx.account.warned if w[:2] != (self.rule_id, KEY)}

    def on_trade(self, ctx: RuleContext, trade: TradeUpdate, counted: bool) -> list[Action]:
        if not counted or trade.pnl is None:
            return []
        cfg = ctx.rules.consecutive_losses
        streak = ctx.account.streak
        if trade.order_id is not None and trade.order_id == streak.last_order:
            return []  # another fill of the closing order already counted
        streak.last_order = trade.order_id
        pnl = trade.pnl - (trade.charges if ctx.settings.include_fees else 0)
        if abs(pnl) <= cfg.scratch_amount:
            outcome = _SCRATCH[cfg.scratches]
        else:
            outcome = "loss" if pnl < 0 else "win"
        if outcome is None:
            return []
        if outcome == "win":
            if streak.losses:
                self._restart(ctx)
            return []
        streak.losses += 1
        losses, limit = streak.losses, cfg.max_losses
        breached = losses >= limit
        out = climb(
            ctx,
            self.rule_id,
            KEY,
            Decimal(losses),
            Decimal(limit),
            "losing trades in a row",
            ladder=cfg.ladder,
            breached=breached,
            until=ctx.next_reset(),
            money=False,
        )
        if not breached:
            return out
        reason = f"{losses} losing trades in a row >= {limit} (last {fmt_money(pnl)})"
        self._restart(ctx)
        if cfg.action == "until_reset":
            out += ctx.flatten(self.rule_id, reason)
            return out + ctx.lock(self.rule_id, LockoutKind.UNTIL_RESET, ctx.next_reset(), reason)
        # From the fill's own time, as RULE-007: a loss found again on reconciliation does not restart it.
        start = trade.created if trade.created is not None and trade.created <= ctx.now else ctx.now
        until = start + timedelta(seconds=cfg.cooldown_seconds)
        return out + ctx.lock(
            self.rule_id, LockoutKind.COOLDOWN, until, f"{reason}: cooldown {cfg.cooldown_seconds}s"
        )
