"""RULE-011: symbols the trader must never hold; others keep trading."""

from __future__ import annotations

from risk_manager.engine.actions import Action, ActionKind
from risk_manager.engine.context import RuleContext
from risk_manager.engine.events import OrderUpdate
from risk_manager.engine.lockouts import ClearedBy, LockoutKind, LockoutScope
from risk_manager.engine.rules.base import Rule
from risk_manager.engine.state import PositionState


class SymbolBlocks(Rule):
    rule_id = "RULE-011"
    config_key = "symbol_blocks"

    def _blocked(self, ctx: RuleContext, contract_id: str) -> str | None:
        for symbol in ctx.rules.symbol_blocks.blocked_symbols:
            if ctx.matches(symbol, contract_id):
                return str(symbol).upper()
        return None

    def _enforce(self, ctx: RuleContext, symbol: str, trigger: str | None) -> list[Action]:
        reason = f"{symbol} is a blocked symbol"
        held = [
            p.contract_id
            for p in ctx.account.positions.values()
            if self._blocked(ctx, p.contract_id) == symbol
        ]
        if ctx.rules.symbol_blocks.close_existing:
            targets = held
        else:
            targets = [c for c in held if c == trigger]
        out = [ctx.close_position(self.rule_id, c, reason) for c in targets]
        return out + ctx.lock(self.rule_id, LockoutKind.PERMANENT, None, reason, scope=LockoutScope.SYMBOL, symbol=symbol)

    def on_position(
        self, ctx: RuleContext, contract_id: str, previous: PositionState | None, grew: bool
    ) -> list[Action]:
        symbol = self._blocked(ctx, contract_id)
        if symbol is None or contract_id not in ctx.account.positions:
            return []
        return self._enforce(ctx, symbol, contract_id if grew else None)

    def on_order(self, ctx: RuleContext, update: OrderUpdate) -> list[Action]:
        symbol = self._blocked(ctx, update.contract_id)
        if symbol is None or not update.cancellable:
            return []
        reason = f"{symbol} is a blocked symbol"
        return [
            ctx.act(
                self.rule_id, ActionKind.CANCEL_ORDER, reason, order_id=update.order_id, contract_id=update.contract_id
            )
        ]

    def on_reload(self, ctx: RuleContext) -> list[Action]:
        out: list[Action] = []
        blocked = {str(s).upper() for s in ctx.rules.symbol_blocks.blocked_symbols}
        if not ctx.rules.symbol_blocks.enabled:
            blocked = set()
        for record in ctx.account.lockouts.symbol_locks():
            if record.rule == self.rule_id and record.symbol not in blocked:
                ctx.account.lockouts.remove_record(record)
                out.append(
                    ctx.unlock(
                        self.rule_id, record, f"{record.symbol} removed from blocked symbols", ClearedBy.CONDITION
                    )
                )
        if not blocked:
            return out
        symbols = {self._blocked(ctx, c) for c in ctx.account.positions}
        for symbol in sorted(s for s in symbols if s):
            out += self._enforce(ctx, symbol, None)
        return out
