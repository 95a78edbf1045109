"""Quiet bands: the price range per held contract in which a quote cannot change any decision.

The quote path is the engine's hot path (every tick of every held contract). After each full
evaluation the engine works out, per account and contract, the open price interval inside which
every price-driven rule would decide nothing and change nothing: no breach, no warning not yet given,
no arming, no stop to move. Each rule draws its own band (``Rule.quiet_band``, vocabulary in
``quiet.py``); this module prices the positions and intersects what the rules drew. A quote strictly inside it costs a
dictionary lookup and two float comparisons; anything else gets the full Decimal evaluation, which
stays the only judge. Bands are conservative by construction (total-scope slack is split evenly
between positions, float bounds are pulled inwards), so the fast path can only skip work, never a
decision; ``tests/engine/test_bands.py`` checks that against full evaluation.
"""

from __future__ import annotations

import math
from decimal import Decimal
from functools import partial

from risk_manager.engine.context import RuleContext
from risk_manager.engine.isolation import enabled_rules, guarded
from risk_manager.engine.quiet import INF, Priced, QuietBand
from risk_manager.engine.rulebook import PRICE_RULES
from risk_manager.engine.rules.base import Rule
from risk_manager.engine.state import NO_BAND, AccountState, EngineState

_MARGIN_ULPS = 4


def _inward(lo: Decimal, hi: Decimal) -> tuple[float, float]:
    flo = float(lo)
    fhi = float(hi)
    for _ in range(_MARGIN_ULPS):
        flo = math.nextafter(flo, math.inf)
        fhi = math.nextafter(fhi, -math.inf)
    return flo, fhi


def _draw(rule: Rule, ctx: RuleContext, band: QuietBand) -> bool:
    rule.quiet_band(ctx, band)
    return True


def _account_bands(ctx: RuleContext) -> dict[str, tuple[float, float]]:
    acct = ctx.account
    drawing = enabled_rules(ctx, PRICE_RULES)
    if not drawing or acct.lockouts.has_hard():
        # No price rule on (a quote decides nothing; the quote path is cheap then) or hard-locked.
        return {cid: NO_BAND for cid in acct.positions}
    priced: list[Priced] = []
    bands: dict[str, tuple[float, float]] = {}
    for cid, pos in acct.positions.items():
        info = ctx.contract(cid)
        price = ctx.price(cid)
        if info is None or price is None:
            bands[cid] = NO_BAND
            continue
        k = info.tick_value / info.tick_size * pos.size * pos.direction
        priced.append(Priced(pos, price, k, (price - pos.average_price) * k))
    band = QuietBand(priced)
    for rule in drawing:
        if not guarded(ctx, rule, "quiet_band", partial(_draw, rule, ctx, band), False):
            for item in priced:  # a rule that cannot draw its band: every quote matters
                band.always_evaluate(item)
    for cid, parts in band.intervals.items():
        lo, hi = -INF, INF
        for plo, phi in parts:
            lo = max(lo, plo)
            hi = min(hi, phi)
        bands[cid] = NO_BAND if lo >= hi else _inward(lo, hi)
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
