"""RULE-008: every position must carry a valid stop within a grace period, or it is closed."""

from __future__ import annotations

from datetime import datetime, timedelta

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.events import OrderUpdate
from risk_manager.engine.rules.base import Rule
from risk_manager.engine.state import PositionState
from risk_manager.engine.stops import valid_stops


class NoStopLossGrace(Rule):
    rule_id = "RULE-008"
    config_key = "no_stop_loss_grace"

    def _grace(self, ctx: RuleContext) -> timedelta:
        return timedelta(seconds=ctx.rules.no_stop_loss_grace.grace_period_seconds)

    def _refresh(self, ctx: RuleContext, pos: PositionState) -> list[Action]:
        """Re-derive the timer from the orders; re-close a fired position that still has no stop."""
        if valid_stops(pos, ctx.account.orders.values()):
            pos.stop_deadline = None
            pos.stop_fired = False
            return []
        if pos.stop_fired:
            return [self._close(ctx, pos)]
        if pos.stop_deadline is not None and pos.stop_deadline <= ctx.now:
            pos.stop_fired = True
            pos.stop_deadline = None
            return [self._close(ctx, pos)]
        if pos.stop_deadline is None:
            # A stop that protected the position went away: a fresh grace period starts now.
            pos.stop_deadline = ctx.now + self._grace(ctx)
        return []

    def _close(self, ctx: RuleContext, pos: PositionState) -> Action:
        grace = ctx.rules.no_stop_loss_grace.grace_period_seconds
        reason = f"no valid stop on {pos.contract_id} {grace}s after it opened (grace {grace}s)"
        return ctx.close_position(self.rule_id, pos.contract_id, reason)

    def on_position(
        self, ctx: RuleContext, contract_id: str, previous: PositionState | None, grew: bool
    ) -> list[Action]:
        pos = ctx.account.positions.get(contract_id)
        if pos is None:
            return []
        if pos is not previous and (previous is None or previous.direction != pos.direction):
            pos.stop_deadline = pos.opened_at + self._grace(ctx)
            pos.stop_fired = False
        return self._refresh(ctx, pos)

    def on_order(self, ctx: RuleContext, update: OrderUpdate) -> list[Action]:
        pos = ctx.account.positions.get(update.contract_id)
        if pos is None:
            return []
        return self._refresh(ctx, pos)

    def on_tick(self, ctx: RuleContext) -> list[Action]:
        out: list[Action] = []
        for pos in ctx.account.positions.values():
            if pos.stop_deadline is None or pos.stop_deadline > ctx.now:
                continue
            pos.stop_deadline = None
            if valid_stops(pos, ctx.account.orders.values()):
                continue
            pos.stop_fired = True
            out.append(self._close(ctx, pos))
        return out

    def next_deadline(self, ctx: RuleContext) -> datetime | None:
        deadlines = [p.stop_deadline for p in ctx.account.positions.values() if p.stop_deadline is not None]
        return min(deadlines) if deadlines else None
