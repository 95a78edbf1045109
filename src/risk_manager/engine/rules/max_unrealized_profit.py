"""RULE-005: take profit at a target, or protect a position once it has been in profit (breakeven)."""

from __future__ import annotations

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.lockouts import LockoutKind
from risk_manager.engine.money import ZERO, fmt_money
from risk_manager.engine.quiet import INF, Priced, QuietBand, quiet_profit
from risk_manager.engine.rules.base import Rule
from risk_manager.engine.rules.unrealized import positions_with_pnl
from risk_manager.engine.state import PositionState


class MaxUnrealizedProfit(Rule):
    rule_id = "RULE-005"
    config_key = "max_unrealized_profit"
    price_driven = True

    def on_position(
        self, ctx: RuleContext, contract_id: str, previous: PositionState | None, grew: bool
    ) -> list[Action]:
        return self._check(ctx, contract_id)

    def on_quote(self, ctx: RuleContext, contract_id: str) -> list[Action]:
        return self._check(ctx, contract_id)

    def _check(self, ctx: RuleContext, contract_id: str) -> list[Action]:
        """Per-position limits look at the contract whose price or position moved; totals at all."""
        cfg = ctx.rules.max_unrealized_profit
        if cfg.mode == "breakeven":
            return self._breakeven(ctx, contract_id)
        target = cfg.profit_target
        out: list[Action] = []
        if cfg.scope == "per_position":
            for pos, pnl in positions_with_pnl(ctx, contract_id):
                if pnl is None:
                    continue
                out += ctx.warn_levels(
                    self.rule_id,
                    pos.contract_id,
                    max(pnl, ZERO),
                    target,
                    f"unrealized profit {pos.contract_id}",
                )
                if pnl > target:
                    reason = (
                        f"unrealized {fmt_money(pnl)} > target {fmt_money(target)} on {pos.contract_id}"
                        f"{ctx.price_note(pos.contract_id)}"
                    )
                    out.append(ctx.close_position(self.rule_id, pos.contract_id, reason))
            return out
        total = ctx.total_unrealized()
        out += ctx.warn_levels(self.rule_id, "total", max(total, ZERO), target, "total unrealized profit")
        if total > target:
            reason = f"total unrealized {fmt_money(total)} > target {fmt_money(target)}"
            out += ctx.flatten(self.rule_id, reason)
            out += ctx.lock(self.rule_id, LockoutKind.UNTIL_RESET, ctx.next_reset(), reason)
        return out

    def _breakeven(self, ctx: RuleContext, contract_id: str) -> list[Action]:
        out: list[Action] = []
        held = ctx.account.positions.get(contract_id)
        for pos in [held] if held is not None else []:
            info = ctx.contract(pos.contract_id)
            price = ctx.price(pos.contract_id)
            if info is None or price is None:
                continue
            move = (price - pos.average_price) * pos.direction
            if not pos.armed:
                if move >= info.tick_size:
                    pos.armed = True
                continue
            if move <= 0:
                pnl = ctx.unrealized(pos)
                reason = (
                    f"breakeven: position was in profit, unrealized now {fmt_money(pnl or ZERO)} <= 0.00"
                    f" on {pos.contract_id}{ctx.price_note(pos.contract_id)}"
                )
                out.append(ctx.close_position(self.rule_id, pos.contract_id, reason))
        return out

    def quiet_band(self, ctx: RuleContext, band: QuietBand) -> None:
        cfg = ctx.rules.max_unrealized_profit
        if cfg.mode == "breakeven":
            for item in band.priced:
                self._breakeven_band(ctx, band, item)
        elif cfg.scope == "per_position":
            for item in band.priced:
                pending = ctx.warnings_pending(self.rule_id, item.position.contract_id)
                band.constrain_pnl(item, quiet_profit(item.pnl, cfg.profit_target, pending))
        else:
            pending = ctx.warnings_pending(self.rule_id, "total")
            band.constrain_total(quiet_profit(band.total, cfg.profit_target, pending))

    @staticmethod
    def _breakeven_band(ctx: RuleContext, band: QuietBand, item: Priced) -> None:
        """Unarmed: quiet until one tick of profit arms it. Armed: quiet while still in profit."""
        pos = item.position
        info = ctx.contract(pos.contract_id)
        assert info is not None  # priced positions have their contract
        move = (item.price - pos.average_price) * pos.direction
        if pos.armed:
            if move <= 0:
                band.always_evaluate(item)
            else:
                edge = pos.average_price
                band.constrain_price(item, (edge, INF) if pos.direction > 0 else (-INF, edge))
        elif move >= info.tick_size:
            band.always_evaluate(item)
        else:
            edge = pos.average_price + info.tick_size * pos.direction
            band.constrain_price(item, (-INF, edge) if pos.direction > 0 else (edge, INF))
