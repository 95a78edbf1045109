"""The quote fast path may only skip work, never a decision: compare it with full evaluation."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.conftest import CONTRACTS, T0, config, engine_with_contracts, position

SCENARIOS = [
    {
        "daily_unrealized_loss": {"loss_limit": 300, "scope": "per_position"},
        "max_unrealized_profit": {"profit_target": 400, "scope": "per_position"},
    },
    {
        "daily_unrealized_loss": {"loss_limit": 250, "scope": "total"},
        "max_unrealized_profit": {"profit_target": 300, "scope": "total"},
    },
    {"max_unrealized_profit": {"mode": "breakeven"}},
    {
        "daily_unrealized_loss": {"loss_limit": 120, "scope": "total"},
        "trade_management": {
            "breakeven": {"enabled": True, "trigger_ticks": 4, "offset_ticks": 1},
            "trailing": {"enabled": True, "activation_ticks": 6, "distance_ticks": 3},
        },
    },
    # Issue 15: ladder rungs and the weekly net limits are price-driven too.
    {
        "daily_unrealized_loss": {
            "loss_limit": 250,
            "scope": "total",
            "ladder": {"warn_at": [30, 60], "reduce_only_at": 75},
        },
    },
    {
        "weekly_limits": {
            "pnl": "net",
            "loss_limit": 200,
            "profit_target": 250,
            "ladder": {"warn_at": [40], "reduce_only_at": 70},
        },
    },
]


def run(scenario: dict, steps: list[tuple[str, int]], fast: bool) -> list[dict]:
    engine = engine_with_contracts(
        config(scenario, accounts=[{"id": 1, "name": "A"}, {"id": 2, "name": "B"}])
    )
    engine.state.quiet_bands = fast
    out: list[dict] = []
    mnq, es = CONTRACTS["MNQ"]["id"], CONTRACTS["ES"]["id"]
    out += [
        a.to_dict() for a in engine.evaluate("GatewayUserPosition", position(mnq, 2, 21000.0, account=1), T0)
    ]
    out += [
        a.to_dict() for a in engine.evaluate("GatewayUserPosition", position(es, 1, 6000.0, account=1), T0)
    ]
    out += [
        a.to_dict()
        for a in engine.evaluate("GatewayUserPosition", position(mnq, 1, 21010.0, typ=2, account=2), T0)
    ]
    offsets = {mnq: 0, es: 0}
    refs = {mnq: 21000.0, es: 6000.0}
    for i, (which, delta) in enumerate(steps):
        cid = mnq if which == "MNQ" else es
        offsets[cid] += delta
        price = refs[cid] + 0.25 * offsets[cid]
        now = T0 + timedelta(milliseconds=100 * (i + 1))
        quote = {"contractId": cid, "lastPrice": price, "bestBid": price - 0.25, "bestAsk": price}
        out += [a.to_dict() for a in engine.evaluate("GatewayQuote", quote, now)]
    return out


steps_strategy = st.lists(
    st.tuples(st.sampled_from(["MNQ", "ES"]), st.integers(min_value=-30, max_value=30)),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(scenario=st.sampled_from(range(len(SCENARIOS))), steps=steps_strategy)
def test_fast_path_decides_exactly_like_full_evaluation(scenario: int, steps: list[tuple[str, int]]) -> None:
    assert run(SCENARIOS[scenario], steps, fast=True) == run(SCENARIOS[scenario], steps, fast=False)


def test_fast_path_skips_quiet_quotes_but_not_a_breach() -> None:
    """A long random walk: the fast path must see the same breaches while skipping most quotes."""
    rng = random.Random(3)
    steps = [("MNQ", rng.choice((-1, 0, 1))) for _ in range(400)] + [("MNQ", -400)]
    fast = run(SCENARIOS[0], steps, fast=True)
    assert fast == run(SCENARIOS[0], steps, fast=False)
    assert any(a["action"] == "close_position" and a["rule"] == "RULE-004" for a in fast)
