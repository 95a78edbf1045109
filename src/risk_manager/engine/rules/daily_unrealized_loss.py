"""RULE-004: unrealized loss, per position (close it) or in total (flatten and lock until reset)."""

from __future__ import annotations

from datetime import datetime

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.ladder import climb, pending_levels
from risk_manager.engine.lockouts import LockoutKind
from risk_manager.engine.money import ZERO, fmt_money
from risk_manager.engine.quiet import QuietBand, quiet_loss
from risk_manager.engine.rules.base import Rule
from risk_manager.engine.rules.unrealized import (
    missing_quote_deadline,
    missing_quote_warnings,
    positions_with_pnl,
)
from risk_manager.engine.state import PositionState


class DailyUnrealizedLoss(Rule):
    rule_id = "RULE-004"
    config_key = "daily_unrealized_loss"
    price_driven = True

    def on_position(
        self, ctx: RuleContext, contract_id: str, previous: PositionState | None, grew: bool
    ) -> list[Action]:
        return self._check(ctx, contract_id)

    def on_quote(self, ctx: RuleContext, contract_id: str) -> list[Action]:
        return self._check(ctx, contract_id)

    def on_tick(self, ctx: RuleContext) -> list[Action]:
        # From the tick only, so the quote fast path and full evaluation stay identical.
        return missing_quote_warnings(ctx, self.rule_id)

    def next_deadline(self, ctx: RuleContext) -> datetime | None:
        return missing_quote_deadline(ctx)

    def _check(self, ctx: RuleContext, contract_id: str) -> list[Action]:
        """Per-position limits look at the contract whose price or position moved; totals at all."""
        cfg = ctx.rules.daily_unrealized_loss
        limit = cfg.loss_limit
        out: list[Action] = []
        if cfg.scope == "per_position":
            for pos, pnl in positions_with_pnl(ctx, contract_id):
                if pnl is None:
                    continue
                out += ctx.warn_levels(
                    self.rule_id,
                    pos.contract_id,
                    max(-pnl, ZERO),
                    limit,
                    f"unrealized loss {pos.contract_id}",
                )
                if pnl < -limit:
                    reason = (
                        f"unrealized {fmt_money(pnl)} < -{fmt_money(limit)} on {pos.contract_id}"
                        f"{ctx.price_note(pos.contract_id)}"
                    )
                    out.append(ctx.close_position(self.rule_id, pos.contract_id, reason))
            return out
        total = ctx.total_unrealized()
        out += climb(
            ctx,
            self.rule_id,
            "total",
            max(-total, ZERO),
            limit,
            "total unrealized loss",
            ladder=cfg.ladder,
            breached=total < -limit,
            until=ctx.next_reset(),
        )
        if total < -limit:
            stale = any(ctx.quote_stale(c) for c in ctx.account.positions)
            reason = f"total unrealized {fmt_money(total)} < -{fmt_money(limit)}" + (
                " (stale quote)" if stale else ""
            )
            out += ctx.flatten(self.rule_id, reason)
            out += ctx.lock(self.rule_id, LockoutKind.UNTIL_RESET, ctx.next_reset(), reason)
        return out

    def quiet_band(self, ctx: RuleContext, band: QuietBand) -> None:
        cfg = ctx.rules.daily_unrealized_loss
        if cfg.scope == "per_position":
            for item in band.priced:
                pending = ctx.warnings_pending(self.rule_id, item.position.contract_id)
                band.constrain_pnl(item, quiet_loss(item.pnl, cfg.loss_limit, pending))
        else:
            pending = pending_levels(ctx, self.rule_id, "total", cfg.ladder)
            band.constrain_total(quiet_loss(band.total, cfg.loss_limit, pending))
