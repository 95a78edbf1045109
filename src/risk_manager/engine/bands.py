"""Quiet bands: the price range per held contract in which a quote cannot change any decision.

The quote path is the engine's hot path (every tick of every held contract). After each full
evaluation the engine works out, per account and contract, the open price interval inside which
every price-driven rule (RULE-004, RULE-005, RULE-012) would decide nothing and change nothing:
no breach, no warning not yet given, no arming, no stop to move. A quote strictly inside it costs a
dictionary lookup and two float comparisons; anything else gets the full Decimal evaluation, which
stays the only judge. Bands are conservative by construction (total-scope slack is split evenly
between positions, float bounds are pulled inwards), so the fast path can only skip work, never a
decision; ``tests/engine/test_bands.py`` checks that against full evaluation.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import TYPE_CHECKING

from risk_manager.engine.state import NO_BAND, AccountState, EngineState, PositionState

if TYPE_CHECKING:
    from risk_manager.engine.context import RuleContext

INF = Decimal("Infinity")
_MARGIN_ULPS = 4


def _inward(lo: Decimal, hi: Decimal) -> tuple[float, float]:
    flo = float(lo)
    fhi = float(hi)
    for _ in range(_MARGIN_ULPS):
        flo = math.nextafter(flo, math.inf)
        fhi = math.nextafter(fhi, -math.inf)
    return flo, fhi


def _quiet_loss(u: Decimal, limit: Decimal, pending: list[int]) -> tuple[Decimal, Decimal] | None:
    """P&L interval (open) in which a loss limit neither breaches nor warns; None when u is outside it."""
    lo = -limit
    for p in pending:
        lo = max(lo, -limit * p / 100)
    if u <= lo:
        return None
    return lo, INF


def _quiet_profit(u: Decimal, target: Decimal, pending: list[int]) -> tuple[Decimal, Decimal] | None:
    hi = target
    for p in pending:
        hi = min(hi, target * p / 100)
    if u >= hi:
        return None
    return -INF, hi


def _pending(ctx: RuleContext, rule: str, key: str) -> list[int]:
    warned = ctx.account.warned
    return [p for p in ctx.settings.warn_at_percent if (rule, key, p) not in warned]


def _to_price(pos: PositionState, k: Decimal, u_lo: Decimal, u_hi: Decimal) -> tuple[Decimal, Decimal]:
    """Map an unrealized-P&L interval to a price interval (k = dollars per point, signed)."""
    a = pos.average_price
    lo = a + u_lo / k if u_lo.is_finite() else (-INF if k > 0 else INF)
    hi = a + u_hi / k if u_hi.is_finite() else (INF if k > 0 else -INF)
    return (lo, hi) if k > 0 else (hi, lo)


def _account_bands(ctx: RuleContext) -> dict[str, tuple[float, float]]:
    acct = ctx.account
    rules = ctx.rules
    if acct.lockouts.has_hard():
        return {cid: NO_BAND for cid in acct.positions}
    loss = rules.daily_unrealized_loss
    profit = rules.max_unrealized_profit
    manage = rules.trade_management
    priced: list[tuple[PositionState, Decimal, Decimal, Decimal]] = []  # pos, price, k, u
    bands: dict[str, tuple[float, float]] = {}
    for cid, pos in acct.positions.items():
        info = ctx.contract(cid)
        price = ctx.price(cid)
        if info is None or price is None:
            bands[cid] = NO_BAND
            continue
        k = info.tick_value / info.tick_size * pos.size * pos.direction
        priced.append((pos, price, k, (price - pos.average_price) * k))
    intervals: dict[str, list[tuple[Decimal, Decimal]]] = {p.contract_id: [] for p, *_ in priced}

    def constrain_u(pos: PositionState, k: Decimal, quiet: tuple[Decimal, Decimal] | None) -> None:
        if quiet is None:
            intervals[pos.contract_id].append((INF, -INF))
        else:
            intervals[pos.contract_id].append(_to_price(pos, k, *quiet))

    def constrain_total(quiet: tuple[Decimal, Decimal] | None, total: Decimal) -> None:
        n = len(priced)
        for pos, _price, k, u in priced:
            if quiet is None:
                intervals[pos.contract_id].append((INF, -INF))
                continue
            down = (total - quiet[0]) / n if quiet[0].is_finite() else INF
            up = (quiet[1] - total) / n if quiet[1].is_finite() else INF
            constrain_u(pos, k, (u - down if down.is_finite() else -INF, u + up if up.is_finite() else INF))

    total = sum((u for *_, u in priced), Decimal(0))
    if loss.enabled:
        if loss.scope == "per_position":
            for pos, _p, k, u in priced:
                constrain_u(
                    pos, k, _quiet_loss(u, loss.loss_limit, _pending(ctx, "RULE-004", pos.contract_id))
                )
        else:
            constrain_total(_quiet_loss(total, loss.loss_limit, _pending(ctx, "RULE-004", "total")), total)
    if profit.enabled:
        if profit.mode == "breakeven":
            for pos, price, _k, _u in priced:
                tick = ctx.contract(pos.contract_id).tick_size  # type: ignore[union-attr]
                move = (price - pos.average_price) * pos.direction
                if pos.armed:
                    if move <= 0:
                        intervals[pos.contract_id].append((INF, -INF))
                    else:  # quiet while still in profit
                        edge = pos.average_price
                        intervals[pos.contract_id].append((edge, INF) if pos.direction > 0 else (-INF, edge))
                else:
                    if move >= tick:
                        intervals[pos.contract_id].append((INF, -INF))
                    else:
                        edge = pos.average_price + tick * pos.direction
                        intervals[pos.contract_id].append((-INF, edge) if pos.direction > 0 else (edge, INF))
        elif profit.scope == "per_position":
            for pos, _p, k, u in priced:
                constrain_u(
                    pos, k, _quiet_profit(u, profit.profit_target, _pending(ctx, "RULE-005", pos.contract_id))
                )
        else:
            constrain_total(
                _quiet_profit(total, profit.profit_target, _pending(ctx, "RULE-005", "total")), total
            )
    if manage.enabled and (manage.breakeven.enabled or manage.trailing.enabled):
        for pos, *_ in priced:  # stop management moves with every new best price: always evaluate
            intervals[pos.contract_id].append((INF, -INF))
    for cid, parts in intervals.items():
        lo, hi = -INF, INF
        for plo, phi in parts:
            lo = max(lo, plo)
            hi = min(hi, phi)
        if lo >= hi:
            bands[cid] = NO_BAND
        else:
            bands[cid] = _inward(lo, hi)
    return bands


def refresh_bands(state: EngineState, acct: AccountState, ctx: RuleContext) -> None:
    """Recompute this account's bands and the per-contract intersections they take part in."""
    if not state.quiet_bands:
        return
    new = _account_bands(ctx)
    touched = set(acct.bands) | set(new)
    acct.bands = new
    for cid in touched:
        holders = state.holders.get(cid)
        if not holders:
            state.contract_bands.pop(cid, None)
            continue
        lo, hi = -math.inf, math.inf
        for account_id in holders:
            band = state.accounts[account_id].bands.get(cid)
            if band is None:
                lo, hi = NO_BAND
                break
            lo = max(lo, band[0])
            hi = min(hi, band[1])
        state.contract_bands[cid] = (lo, hi) if lo < hi else NO_BAND


def invalidate(state: EngineState, acct: AccountState) -> None:
    for cid in list(acct.bands):
        acct.bands[cid] = NO_BAND
        state.contract_bands[cid] = NO_BAND
