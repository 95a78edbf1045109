"""RULE-014: loss and profit limits per trading week; a breach flattens and locks until the first
trading day of the next week (week arithmetic in ``weeks.py``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.events import TradeUpdate
from risk_manager.engine.ladder import climb, pending_levels
from risk_manager.engine.lockouts import LockoutKind
from risk_manager.engine.money import ZERO, fmt_money
from risk_manager.engine.quiet import QuietBand, quiet_loss, quiet_profit
from risk_manager.engine.rules.base import Rule
from risk_manager.engine.state import PositionState
from risk_manager.engine.trading_day import trading_date
from risk_manager.engine.weeks import WEEKDAYS, align, next_week_start, roll


class WeeklyLimits(Rule):
    rule_id = "RULE-014"
    config_key = "weekly_limits"
    price_driven = True  # in ``pnl: net`` mode; with ``realized`` a quote changes nothing

    # ----- bookkeeping ----------------------------------------------------------------------------
    @staticmethod
    def week_start(ctx: RuleContext) -> int:
        return WEEKDAYS[ctx.rules.weekly_limits.week_start]

    def on_reset(self, ctx: RuleContext, ended: datetime, started: datetime) -> list[Action]:
        s = ctx.settings
        roll(
            ctx.account.week,
            self.week_start(ctx),
            trading_date(ended, s.reset_time, s.timezone),
            trading_date(started, s.reset_time, s.timezone),
            ctx.account.realized,
        )
        return []

    def closed(self, ctx: RuleContext) -> Decimal:
        """Realized P&L of this week's trading days already over."""
        s = ctx.settings
        week = ctx.account.week
        align(week, self.week_start(ctx), trading_date(ctx.now, s.reset_time, s.timezone))
        return week.closed

    def weekly_pnl(self, ctx: RuleContext) -> Decimal:
        pnl = self.closed(ctx) + ctx.account.realized
        if ctx.rules.weekly_limits.pnl == "net":
            pnl += ctx.total_unrealized()
        return pnl

    # ----- triggers ---------------------------------------------------------------------------------
    def on_trade(self, ctx: RuleContext, trade: TradeUpdate, counted: bool) -> list[Action]:
        if trade.pnl is None and not ctx.settings.include_fees:
            return []
        return self._check(ctx)

    def on_position(
        self, ctx: RuleContext, contract_id: str, previous: PositionState | None, grew: bool
    ) -> list[Action]:
        return self._check(ctx) if ctx.rules.weekly_limits.pnl == "net" else []

    def on_quote(self, ctx: RuleContext, contract_id: str) -> list[Action]:
        return self._check(ctx) if ctx.rules.weekly_limits.pnl == "net" else []

    def _until(self, ctx: RuleContext) -> datetime:
        s = ctx.settings
        return next_week_start(ctx.now, s.reset_time, s.timezone, self.week_start(ctx), s.holidays)

    def _check(self, ctx: RuleContext) -> list[Action]:
        cfg = ctx.rules.weekly_limits
        pnl = self.weekly_pnl(ctx)
        what = f"weekly {cfg.pnl}"
        out: list[Action] = []
        reason = ""
        loss = cfg.loss_limit is not None and pnl < -cfg.loss_limit
        profit = cfg.profit_target is not None and pnl > cfg.profit_target
        # The week's end is only worked out when a lockout may need it (quotes come often in net mode).
        until = self._until(ctx) if (loss or profit or cfg.ladder is not None) else ctx.next_reset()
        if cfg.loss_limit is not None:
            limit = cfg.loss_limit
            breached = pnl < -limit
            out += climb(
                ctx,
                self.rule_id,
                "loss",
                max(-pnl, ZERO),
                limit,
                f"{what} loss",
                ladder=cfg.ladder,
                breached=breached,
                until=until,
            )
            if breached:
                reason = f"{what} {fmt_money(pnl)} < -{fmt_money(limit)}"
        if cfg.profit_target is not None:
            target = cfg.profit_target
            out += ctx.warn_levels(self.rule_id, "profit", max(pnl, ZERO), target, f"{what} profit")
            if pnl > target:
                reason = f"{what} {fmt_money(pnl)} > target {fmt_money(target)}"
        if not reason:
            return out
        local = until.astimezone(ctx.settings.timezone).strftime("%a %Y-%m-%d %H:%M %Z")
        reason += f": locked until the next trading week ({local})"
        out += ctx.flatten(self.rule_id, reason)
        out += ctx.lock(self.rule_id, LockoutKind.UNTIL_WEEK_END, until, reason)
        return out

    def quiet_band(self, ctx: RuleContext, band: QuietBand) -> None:
        cfg = ctx.rules.weekly_limits
        if cfg.pnl != "net":
            return  # realized only: no quote changes the decision
        base = self.closed(ctx) + ctx.account.realized
        lo, hi = -Decimal("Infinity"), Decimal("Infinity")
        weekly = base + band.total
        if cfg.loss_limit is not None:
            quiet = quiet_loss(weekly, cfg.loss_limit, pending_levels(ctx, self.rule_id, "loss", cfg.ladder))
            if quiet is None:
                band.constrain_total(None)
                return
            lo = quiet[0] - base
        if cfg.profit_target is not None:
            quiet = quiet_profit(weekly, cfg.profit_target, ctx.warnings_pending(self.rule_id, "profit"))
            if quiet is None:
                band.constrain_total(None)
                return
            hi = quiet[1] - base
        band.constrain_total((lo, hi))

    def condition_holds(self, ctx: RuleContext) -> bool:
        cfg = ctx.rules.weekly_limits
        pnl = self.weekly_pnl(ctx)
        loss = cfg.loss_limit is not None and pnl < -cfg.loss_limit
        return bool(loss or (cfg.profit_target is not None and pnl > cfg.profit_target))
