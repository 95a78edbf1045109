"""RULE-012: the product manages stops itself: an automatic stop-loss, breakeven and trailing stops.

The executor tags the stops it places with ``customTag = "rm-" + key`` (spec/gateway.md §2.6), so they
are recognised when the broker reports them; until then the engine remembers the request and does
not place a second one.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from risk_manager.engine.actions import Action, ActionKind
from risk_manager.engine.context import RuleContext
from risk_manager.engine.events import ContractInfo, OrderUpdate
from risk_manager.engine.money import fmt_price, round_to_tick
from risk_manager.engine.quiet import QuietBand
from risk_manager.engine.rules.base import Rule
from risk_manager.engine.state import ManagedStop, PositionState
from risk_manager.engine.stops import STOP_TAG_PREFIX, exit_side, valid_stops

_MIN_MODIFY_INTERVAL = timedelta(seconds=1)


def _snap(price: Decimal, info: ContractInfo, pos: PositionState) -> Decimal:
    """Round a stop onto the grid on the protective side (further from the market never tighter)."""
    return round_to_tick(price, info.tick_size, down=pos.direction > 0)


class TradeManagement(Rule):
    rule_id = "RULE-012"
    config_key = "trade_management"
    price_driven = True

    # ----- helpers -----------------------------------------------------------------------------
    def _current_stop(self, ctx: RuleContext, pos: PositionState) -> tuple[int | None, Decimal | None]:
        """(order id, stop price) of the stop protecting the position: ours first, else the trader's."""
        managed = pos.managed_stop
        if managed is not None:
            return managed.order_id, managed.stop_price
        stops = [o for o in valid_stops(pos, ctx.account.orders.values()) if o.stop_price is not None]
        if not stops:
            return None, None
        best = max(stops, key=lambda o: (o.stop_price or Decimal(0)) * pos.direction)
        return best.order_id, best.stop_price

    def _place(
        self, ctx: RuleContext, pos: PositionState, info: ContractInfo, price: Decimal, why: str
    ) -> Action:
        pos.managed_stop = ManagedStop(stop_price=price, size=pos.size, modified_at=ctx.now)
        text = fmt_price(price, info.tick_size)
        return ctx.act(
            self.rule_id,
            ActionKind.PLACE_STOP,
            f"{why}: stop {text} for {pos.size} on {pos.contract_id}",
            contract_id=pos.contract_id,
            side=int(exit_side(pos)),
            size=pos.size,
            stop_price=price,
            stop_price_text=text,
        )

    def _move(
        self, ctx: RuleContext, pos: PositionState, info: ContractInfo, price: Decimal, why: str
    ) -> list[Action]:
        order_id, current = self._current_stop(ctx, pos)
        if current is not None and (price - current) * pos.direction <= 0:
            return []  # only ever tighten
        managed = pos.managed_stop
        if managed is not None and managed.modified_at is not None:
            if ctx.now - managed.modified_at < _MIN_MODIFY_INTERVAL:
                return []
        if order_id is None and managed is not None:
            return []  # our stop is on its way; move it once the broker has reported it
        if order_id is None:
            return [self._place(ctx, pos, info, price, why)]
        if managed is None:
            pos.managed_stop = managed = ManagedStop(stop_price=price, size=pos.size, order_id=order_id)
        managed.stop_price = price
        managed.modified_at = ctx.now
        text = fmt_price(price, info.tick_size)
        return [
            ctx.act(
                self.rule_id,
                ActionKind.MODIFY_STOP,
                f"{why}: move stop to {text} on {pos.contract_id}",
                contract_id=pos.contract_id,
                order_id=order_id,
                stop_price=price,
                stop_price_text=text,
            )
        ]

    # ----- triggers -----------------------------------------------------------------------------
    def on_position(
        self, ctx: RuleContext, contract_id: str, previous: PositionState | None, grew: bool
    ) -> list[Action]:
        cfg = ctx.rules.trade_management
        pos = ctx.account.positions.get(contract_id)
        if pos is None:
            if previous is not None and previous.managed_stop and previous.managed_stop.order_id is not None:
                reason = f"position in {contract_id} closed: cancel the stop the product placed"
                return [
                    ctx.act(
                        self.rule_id,
                        ActionKind.CANCEL_ORDER,
                        reason,
                        order_id=previous.managed_stop.order_id,
                        contract_id=contract_id,
                    )
                ]
            return []
        info = ctx.contract(contract_id)
        if info is None:
            return []
        is_new = pos is not previous and (previous is None or previous.direction != pos.direction)
        if is_new:
            if pos.managed_stop is not None:
                return []  # ours is already on its way (reconciliation re-checks positions)
            if not cfg.auto_stop_loss.enabled or valid_stops(pos, ctx.account.orders.values()):
                return []
            distance = info.tick_size * cfg.auto_stop_loss.stop_loss_ticks
            price = _snap(pos.average_price - distance * pos.direction, info, pos)
            return [
                self._place(
                    ctx, pos, info, price, f"auto stop-loss {cfg.auto_stop_loss.stop_loss_ticks} ticks"
                )
            ]
        managed = pos.managed_stop
        if managed is not None and managed.size != pos.size:
            managed.size = pos.size
            if managed.order_id is not None:
                text = fmt_price(managed.stop_price, info.tick_size)
                return [
                    ctx.act(
                        self.rule_id,
                        ActionKind.MODIFY_STOP,
                        f"position size now {pos.size}: resize stop",
                        contract_id=contract_id,
                        order_id=managed.order_id,
                        stop_price=managed.stop_price,
                        stop_price_text=text,
                        size=pos.size,
                    )
                ]
        return []

    def on_order(self, ctx: RuleContext, update: OrderUpdate) -> list[Action]:
        pos = ctx.account.positions.get(update.contract_id)
        if pos is None or pos.managed_stop is None:
            return []
        managed = pos.managed_stop
        if managed.order_id is None:
            ours = (update.custom_tag or "").startswith(STOP_TAG_PREFIX)
            if (
                update.working
                and update.side == exit_side(pos)
                and (ours or update.stop_price == managed.stop_price)
            ):
                managed.order_id = update.order_id
                if update.size != pos.size:
                    # The position changed while the stop was on its way (e.g. RULE-002 reduced it):
                    # a stop larger than the position would open the opposite one when it fills.
                    managed.size = pos.size
                    info = ctx.contract(pos.contract_id)
                    text = fmt_price(managed.stop_price, info.tick_size if info is not None else None)
                    return [
                        ctx.act(
                            self.rule_id,
                            ActionKind.MODIFY_STOP,
                            f"position size now {pos.size}: resize stop",
                            contract_id=pos.contract_id,
                            order_id=update.order_id,
                            stop_price=managed.stop_price,
                            stop_price_text=text,
                            size=pos.size,
                        )
                    ]
        elif managed.order_id == update.order_id and not update.working:
            pos.managed_stop = None  # cancelled or filled: RULE-008 watches the position again
        return []

    def on_quote(self, ctx: RuleContext, contract_id: str) -> list[Action]:
        cfg = ctx.rules.trade_management
        out: list[Action] = []
        held = ctx.account.positions.get(contract_id)
        for pos in [held] if held is not None else []:
            info = ctx.contract(pos.contract_id)
            price = ctx.price(pos.contract_id)
            if info is None or price is None:
                continue
            profit_ticks = (price - pos.average_price) * pos.direction / info.tick_size
            if (
                cfg.breakeven.enabled
                and not pos.breakeven_done
                and profit_ticks >= cfg.breakeven.trigger_ticks
            ):
                target = _snap(
                    pos.average_price + info.tick_size * cfg.breakeven.offset_ticks * pos.direction, info, pos
                )
                moved = self._move(
                    ctx, pos, info, target, f"breakeven after {cfg.breakeven.trigger_ticks} ticks profit"
                )
                current = self._current_stop(ctx, pos)[1]
                # Done once the stop is at breakeven or tighter; a move held back (at most one per
                # second, or our stop not yet reported by the broker) is tried again on a later quote.
                if moved or (current is not None and (target - current) * pos.direction <= 0):
                    pos.breakeven_done = True
                out += moved
            if cfg.trailing.enabled:
                if not pos.trailing_active and profit_ticks >= cfg.trailing.activation_ticks:
                    pos.trailing_active = True
                    pos.best_price = price
                if pos.trailing_active:
                    if pos.best_price is None or (price - pos.best_price) * pos.direction > 0:
                        pos.best_price = price
                    assert pos.best_price is not None
                    target = _snap(
                        pos.best_price - info.tick_size * cfg.trailing.distance_ticks * pos.direction,
                        info,
                        pos,
                    )
                    out += self._move(ctx, pos, info, target, f"trailing {cfg.trailing.distance_ticks} ticks")
        return out

    def quiet_band(self, ctx: RuleContext, band: QuietBand) -> None:
        cfg = ctx.rules.trade_management
        if not (cfg.breakeven.enabled or cfg.trailing.enabled):
            return  # nothing of this rule reacts to prices
        for item in band.priced:  # stops move with every new best price: always evaluate
            band.always_evaluate(item)
