"""RULE-002: cap on net contracts per product symbol (all its contract months together)."""

from __future__ import annotations

from risk_manager.engine.actions import Action, ActionKind
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules.base import Rule
from risk_manager.engine.state import PositionState


class MaxContractsPerInstrument(Rule):
    rule_id = "RULE-002"
    config_key = "max_contracts_per_instrument"

    def _limit_for(self, ctx: RuleContext, contract_id: str) -> tuple[str, int | None]:
        """(group symbol, limit) for a contract; limit None means unlimited, 0 means blocked."""
        cfg = ctx.rules.max_contracts_per_instrument
        for symbol, limit in cfg.limits.items():
            if ctx.matches(symbol, contract_id):
                return symbol.upper(), int(limit)
        return ctx.symbol(contract_id), cfg.unknown_symbol_limit

    def on_position(
        self, ctx: RuleContext, contract_id: str, previous: PositionState | None, grew: bool
    ) -> list[Action]:
        cfg = ctx.rules.max_contracts_per_instrument
        group, limit = self._limit_for(ctx, contract_id)
        if limit is None:
            return []
        members = [
            p for p in ctx.account.positions.values() if self._limit_for(ctx, p.contract_id)[0] == group
        ]
        count = abs(sum(p.signed for p in members))
        if count <= limit:
            return []
        label = "blocked (unlisted symbol)" if limit == 0 else f"limit {limit}"
        reason = f"{group} net contracts {count} > {label}"
        if cfg.enforcement == "close_all" or limit == 0:
            return [ctx.close_position(self.rule_id, p.contract_id, reason) for p in members]
        # reduce_to_limit: take the excess off the event's contract first, then the others, largest first.
        excess = count - limit
        order = sorted(members, key=lambda p: (p.contract_id != contract_id, -p.size, p.contract_id))
        out: list[Action] = []
        direction = 1 if sum(p.signed for p in members) > 0 else -1
        for pos in order:
            if excess <= 0:
                break
            if pos.direction != direction:
                continue  # reducing an opposite position would raise the net count
            take = min(excess, pos.size)
            excess -= take
            if take >= pos.size:
                out.append(ctx.close_position(self.rule_id, pos.contract_id, reason))
            else:
                out.append(
                    ctx.act(self.rule_id, ActionKind.REDUCE_POSITION, reason, contract_id=pos.contract_id, size=take)
                )
        return out
