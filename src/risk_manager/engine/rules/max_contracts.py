"""RULE-001: cap on the number of contracts held across the account."""

from __future__ import annotations

from decimal import Decimal

from risk_manager.engine.actions import Action, ActionKind
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules.base import Rule
from risk_manager.engine.state import PositionState


def count_contracts(signed_sizes: list[int], count_type: str) -> int:
    if count_type == "gross":
        return sum(abs(s) for s in signed_sizes)
    return abs(sum(signed_sizes))


class MaxContracts(Rule):
    rule_id = "RULE-001"
    config_key = "max_contracts"

    def on_position(
        self, ctx: RuleContext, contract_id: str, previous: PositionState | None, grew: bool
    ) -> list[Action]:
        cfg = ctx.rules.max_contracts
        positions = ctx.account.positions
        count = count_contracts([p.signed for p in positions.values()], cfg.count_type)
        out = ctx.warn_levels(
            self.rule_id,
            "contracts",
            Decimal(count),
            Decimal(cfg.limit),
            f"{cfg.count_type} contracts",
            money=False,
        )
        if count <= cfg.limit:
            return out
        reason = f"{cfg.count_type} contracts {count} > limit {cfg.limit}"
        if cfg.enforcement == "close_all":
            return [*out, ctx.act(self.rule_id, ActionKind.CLOSE_ALL, reason)]
        # reduce_to_limit: close whole positions, largest first (the event's contract first on ties).
        remaining = dict(positions)
        order = sorted(
            remaining.values(),
            key=lambda p: (-p.size, p.contract_id != contract_id, -p.opened_at.timestamp(), p.contract_id),
        )
        for pos in order:
            if count_contracts([p.signed for p in remaining.values()], cfg.count_type) <= cfg.limit:
                break
            del remaining[pos.contract_id]
            out.append(ctx.close_position(self.rule_id, pos.contract_id, reason))
        return out
