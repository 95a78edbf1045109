"""The quiet band a price-driven rule draws: the prices at which a quote cannot change its decision.

``bands.py`` owns the machinery (which positions are priced, intersecting the rules' constraints,
per-contract bands across accounts); each price-driven rule says what its own quiet range is through
``Rule.quiet_band`` and the small vocabulary here. Constraints are open intervals: in P&L of one
position (``constrain_pnl``), in the account's total unrealized P&L (``constrain_total``, slack split
evenly between the positions), or directly in price (``constrain_price``); ``always_evaluate`` means
"every quote matters". Being conservative is always safe: a band can only skip work, never a decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from risk_manager.engine.state import PositionState

INF = Decimal("Infinity")
Interval = tuple[Decimal, Decimal]
_NOWHERE: Interval = (INF, -INF)


@dataclass(frozen=True, slots=True)
class Priced:
    """A held position with a price: ``k`` dollars per point (signed), ``pnl`` its unrealized P&L."""

    position: PositionState
    price: Decimal
    k: Decimal
    pnl: Decimal


def quiet_loss(u: Decimal, limit: Decimal, pending: list[int]) -> Interval | None:
    """P&L interval (open) in which a loss limit neither breaches nor warns; None when u is outside it."""
    lo = -limit
    for p in pending:
        lo = max(lo, -limit * p / 100)
    if u <= lo:
        return None
    return lo, INF


def quiet_profit(u: Decimal, target: Decimal, pending: list[int]) -> Interval | None:
    hi = target
    for p in pending:
        hi = min(hi, target * p / 100)
    if u >= hi:
        return None
    return -INF, hi


class QuietBand:
    """Collects, per held and priced contract, the price intervals each rule is quiet in."""

    def __init__(self, priced: list[Priced]) -> None:
        self.priced = priced
        self.total = sum((p.pnl for p in priced), Decimal(0))
        self.intervals: dict[str, list[Interval]] = {p.position.contract_id: [] for p in priced}

    def always_evaluate(self, item: Priced) -> None:
        self.intervals[item.position.contract_id].append(_NOWHERE)

    def constrain_price(self, item: Priced, interval: Interval) -> None:
        self.intervals[item.position.contract_id].append(interval)

    def constrain_pnl(self, item: Priced, quiet: Interval | None) -> None:
        """Quiet while this position's unrealized P&L stays inside ``quiet`` (None: never quiet)."""
        if quiet is None:
            self.always_evaluate(item)
        else:
            self.constrain_price(item, _to_price(item.position, item.k, *quiet))

    def constrain_total(self, quiet: Interval | None) -> None:
        """Quiet while the account's total stays inside ``quiet``; each position gets an equal share
        of the slack, so no combination of moves inside the bands can leave the interval."""
        n = len(self.priced)
        for item in self.priced:
            if quiet is None:
                self.always_evaluate(item)
                continue
            down = (self.total - quiet[0]) / n if quiet[0].is_finite() else INF
            up = (quiet[1] - self.total) / n if quiet[1].is_finite() else INF
            u = item.pnl
            self.constrain_pnl(
                item, (u - down if down.is_finite() else -INF, u + up if up.is_finite() else INF)
            )


def _to_price(pos: PositionState, k: Decimal, u_lo: Decimal, u_hi: Decimal) -> Interval:
    """Map an unrealized-P&L interval to a price interval (k = dollars per point, signed)."""
    a = pos.average_price
    lo = a + u_lo / k if u_lo.is_finite() else (-INF if k > 0 else INF)
    hi = a + u_hi / k if u_hi.is_finite() else (INF if k > 0 else -INF)
    return (lo, hi) if k > 0 else (hi, lo)
