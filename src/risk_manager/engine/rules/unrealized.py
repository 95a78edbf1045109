"""Shared arithmetic for the unrealized-P&L rules (RULE-004, RULE-005)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from risk_manager.engine.actions import Action, ActionKind
from risk_manager.engine.context import RuleContext
from risk_manager.engine.state import PositionState


def positions_with_pnl(ctx: RuleContext, contract_id: str) -> list[tuple[PositionState, Decimal | None]]:
    """The position in ``contract_id`` with its unrealized P&L (empty when none is held)."""
    pos = ctx.account.positions.get(contract_id)
    return [] if pos is None else [(pos, ctx.unrealized(pos))]


def missing_quote_warnings(ctx: RuleContext, rule: str) -> list[Action]:
    """No price data: the position counts 0 and the trader is told once (never breach on missing data).

    Told only once the position is older than ``max_quote_age_seconds``: the first quote of a newly
    traded contract normally follows its first fill within milliseconds, and a warning for that
    instant would only be noise.
    """
    out: list[Action] = []
    patience = timedelta(seconds=ctx.settings.max_quote_age_seconds)
    for pos in ctx.account.positions.values():
        if pos.no_quote_warned or ctx.now - pos.opened_at < patience:
            continue
        if ctx.price(pos.contract_id) is None or ctx.contract(pos.contract_id) is None:
            pos.no_quote_warned = True
            what = "no quote yet" if ctx.contract(pos.contract_id) else "no contract details yet"
            out.append(
                ctx.act(
                    rule,
                    ActionKind.WARN,
                    f"{what} for {pos.contract_id}: unrealized P&L counted as 0",
                    contract_id=pos.contract_id,
                )
            )
    return out


def missing_quote_deadline(ctx: RuleContext) -> datetime | None:
    """When the next "no price data" warning falls due (so a replay ticks at that moment)."""
    patience = timedelta(seconds=ctx.settings.max_quote_age_seconds)
    due = [
        pos.opened_at + patience
        for pos in ctx.account.positions.values()
        if not pos.no_quote_warned
        and (ctx.price(pos.contract_id) is None or ctx.contract(pos.contract_id) is None)
    ]
    return min(due) if due else None
