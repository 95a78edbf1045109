"""RULE-013 properties for any sequence of balances, positions, quotes and daily resets (hypothesis):

- the floor never moves down;
- with ``lock_at_start`` it never passes the starting balance;
- in ``eod`` mode intraday highs are ignored: the floor changes only at a daily reset, and then to
  exactly what the day's closing net balance allows;
- the fast path (quiet bands) and full evaluation decide the same.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk_manager.engine import Engine
from tests.engine.conftest import ES, T0, config, engine_with_contracts, pos, quote

S = timedelta(seconds=1)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

steps = st.lists(
    st.one_of(
        st.tuples(st.just("balance"), st.integers(45_000, 56_000)),
        st.tuples(st.just("quote"), st.integers(-120, 120)),  # ticks from 6000.00, $12.50 each
        st.tuples(st.just("position"), st.integers(0, 3)),
        st.tuples(st.just("reset"), st.just(0)),
    ),
    min_size=1,
    max_size=30,
)


def _account(value: int) -> dict[str, Any]:
    return {"id": 123, "name": "A", "balance": float(value), "canTrade": True}


def _position(size: int) -> dict[str, Any]:
    data = pos(ES, max(size, 1), 6000.0, T0)
    data["data"]["size"] = size
    return data


class Run:
    """Plays steps; a ``reset`` step moves the clock to just past the next 17:00 Chicago reset."""

    def __init__(self, rule: dict[str, Any], fast: bool = True) -> None:
        cfg = {"mode": "intraday", "max_drawdown": 2000, "lock_at_start": False, **rule}
        self.engine: Engine = engine_with_contracts(config({"trailing_drawdown": cfg}))
        self.engine.state.quiet_bands = fast
        self.now = T0
        self.decisions: list[tuple[str, str]] = []
        self.apply("balance", 50_000)

    def apply(self, kind: str, value: int) -> None:
        if kind == "reset":
            nxt = self.engine.account(123).next_reset
            assert nxt is not None
            self.now = max(self.now, nxt) + S
            out = self.engine.tick(self.now)
        else:
            self.now += S
            if kind == "balance":
                out = self.engine.evaluate("GatewayUserAccount", _account(value), self.now)
            elif kind == "quote":
                out = self.engine.evaluate("GatewayQuote", quote(ES, 6000.0 + 0.25 * value), self.now)
            else:
                out = self.engine.evaluate("GatewayUserPosition", _position(value), self.now)
        self.decisions += [(a.rule, str(a.kind)) for a in out]

    @property
    def dd(self) -> Any:
        return self.engine.account(123).drawdown

    def net(self) -> Decimal:
        acct = self.engine.account(123)
        assert acct.balance is not None
        return acct.balance + self.engine.unrealized_pnl(123)


@FAST
@given(steps=steps, mode=st.sampled_from(["eod", "intraday"]), lock=st.booleans())
def test_the_floor_never_moves_down_and_locks_at_the_start(
    steps: list[tuple[str, int]], mode: str, lock: bool
) -> None:
    run = Run({"mode": mode, "lock_at_start": lock})
    start = run.dd.start
    assert start == Decimal(50_000)
    floors = [run.dd.floor]
    for kind, value in steps:
        run.apply(kind, value)
        floors.append(run.dd.floor)
        assert run.dd.floor >= floors[-2], (kind, value, floors)
        if lock:
            assert run.dd.floor <= start


@FAST
@given(steps=steps)
def test_eod_mode_ignores_intraday_highs(steps: list[tuple[str, int]]) -> None:
    run = Run({"mode": "eod"})
    for kind, value in steps:
        before = run.dd.floor
        net_before = run.net()
        run.apply(kind, value)
        if kind != "reset":
            assert run.dd.floor == before, "only a daily reset moves an eod floor"
        else:
            # Exactly what the closing net balance allows (no other high counts).
            assert run.dd.floor == max(before, net_before - 2000)


@FAST
@given(steps=steps, mode=st.sampled_from(["eod", "intraday"]))
def test_fast_path_and_full_evaluation_decide_the_same(steps: list[tuple[str, int]], mode: str) -> None:
    ladder = {"warn_at": [50], "reduce_only_at": 70}
    fast, full = (
        Run({"mode": mode, "ladder": ladder}, fast=True),
        Run({"mode": mode, "ladder": ladder}, fast=False),
    )
    for kind, value in steps:
        fast.apply(kind, value)
        full.apply(kind, value)
    assert fast.decisions == full.decisions
    assert (fast.dd.floor, fast.dd.high) == (full.dd.floor, full.dd.high)
