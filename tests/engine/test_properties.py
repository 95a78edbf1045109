"""Properties of the engine that must hold for any input (hypothesis, modest example counts).

- P&L is exactly sign-symmetric in Decimal: the same move on a long and a short gives negated
  unrealized and realized P&L, and a mirrored move on the mirrored side decides the same.
- A lockout is never shortened, neither on the LockoutBook directly nor through rule breaches.
- The daily reset fires exactly once per trading day across the 2026 DST changes, in Chicago and
  New York, for ordinary, midnight, non-existent (02:30 on Mar 8) and ambiguous (01:30 on Nov 1)
  reset times; a reset missed while stopped is caught up once.
- A hard-locked account only ever receives enforcement (close, cancel, lockout), never a stop
  placement, a warning or an unlock before the lockout's end.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk_manager.engine import Engine
from risk_manager.engine.actions import ENFORCEMENT_KINDS
from risk_manager.engine.lockouts import Lockout, LockoutBook, LockoutKind
from tests.engine.conftest import (
    CONTRACTS,
    ES,
    MNQ,
    RTY,
    T0,
    account_event,
    config,
    engine_with_contracts,
    order,
    pos,
    quote,
    trade,
)

S = timedelta(seconds=1)
FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


# ----- P&L sign symmetry ----------------------------------------------------------------------------
contract_names = st.sampled_from(sorted(CONTRACTS))


def _price(ticks: int, tick_size: Decimal) -> float:
    """A price on the tick grid, as the broker sends it (a JSON float)."""
    return float(ticks * tick_size)


@FAST
@given(
    name=contract_names,
    size=st.integers(1, 25),
    entry_ticks=st.integers(1_000, 4_000_000),
    move=st.integers(-5_000, 5_000),
)
def test_same_move_gives_negated_pnl_long_vs_short(name: str, size: int, entry_ticks: int, move: int) -> None:
    c = CONTRACTS[name]
    tick, value = dec(c["tickSize"]), dec(c["tickValue"])
    entry, last = _price(entry_ticks, tick), _price(entry_ticks + move, tick)
    engine = engine_with_contracts(config({}, accounts=[{"id": 1, "name": "L"}, {"id": 2, "name": "S"}]))
    engine.evaluate("GatewayUserPosition", pos(c["id"], size, entry, T0, account=1), T0)
    engine.evaluate("GatewayUserPosition", pos(c["id"], size, entry, T0, short=True, account=2), T0)
    engine.evaluate("GatewayQuote", quote(c["id"], last), T0 + S)
    long_u, short_u = engine.unrealized_pnl(1), engine.unrealized_pnl(2)
    assert isinstance(long_u, Decimal)
    assert long_u == move * value * size  # exact: no float anywhere
    assert short_u == -long_u
    # Closing both at that price: the broker's profitAndLoss for each fill, booked as realized.
    engine.evaluate(
        "GatewayUserTrade", trade(1, float(long_u), T0 + 2 * S, cid=c["id"], account=1), T0 + 2 * S
    )
    engine.evaluate(
        "GatewayUserTrade", trade(2, float(short_u), T0 + 2 * S, cid=c["id"], account=2), T0 + 2 * S
    )
    assert engine.realized_pnl(1) == long_u
    assert engine.realized_pnl(2) == -engine.realized_pnl(1)


@FAST
@given(
    size=st.integers(1, 4),
    moves=st.lists(st.integers(-700, 700), min_size=1, max_size=12),
    scope=st.sampled_from(["per_position", "total"]),
)
def test_mirrored_move_on_mirrored_side_decides_the_same(size: int, moves: list[int], scope: str) -> None:
    rules = {
        "daily_unrealized_loss": {"loss_limit": 300, "scope": scope},
        "max_unrealized_profit": {"profit_target": 400, "scope": scope},
    }

    def run(short: bool) -> list[tuple[Any, ...]]:
        engine = engine_with_contracts(config(rules))
        out = engine.evaluate("GatewayUserPosition", pos(MNQ, size, 21000.0, T0, short=short), T0)
        for i, m in enumerate(moves, start=1):
            price = 21000.0 + 0.25 * (-m if short else m)
            out += engine.evaluate("GatewayQuote", quote(MNQ, price), T0 + i * S)
        return [(a.rule, a.kind, a.contract_id, a.reason.replace(" at ", "@").split("@")[0]) for a in out]

    assert run(short=False) == run(short=True)


# ----- lockouts are never shortened -----------------------------------------------------------------
def _end(until: datetime | None) -> datetime:
    return until if until is not None else datetime.max.replace(tzinfo=UTC)


lock_specs = st.lists(
    st.tuples(
        st.sampled_from(["RULE-003", "RULE-006", "RULE-007"]),
        st.sampled_from([("account", None), ("symbol", "MNQ"), ("symbol", "ES")]),
        st.sampled_from(list(LockoutKind)),
        st.one_of(st.none(), st.integers(1, 100_000)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(specs=lock_specs)
def test_lockout_book_never_shortens(
    specs: list[tuple[str, tuple[str, str | None], str, int | None]],
) -> None:
    book = LockoutBook()
    for n, (rule, (scope, symbol), kind, seconds) in enumerate(specs):
        before = {r.key: r.until for r in book}
        new = Lockout(
            id=f"L{n}",
            account_id=1,
            rule=rule,
            scope=scope,
            kind=kind,
            until=None if seconds is None else T0 + seconds * S,
            reason="x",
            created=T0,
            symbol=symbol,
        )
        book.add(new)
        after = {r.key: r.until for r in book}
        assert set(before) <= set(after)
        for key, until in before.items():
            assert _end(after[key]) >= _end(until), key
        assert _end(after[new.key]) == max(_end(before.get(new.key, new.until)), _end(new.until))


trade_steps = st.lists(
    st.tuples(st.integers(0, 400), st.sampled_from([None, 50.0, -20.0, -100.0, -150.0, -250.0, -400.0])),
    min_size=1,
    max_size=40,
)


@FAST
@given(steps=trade_steps)
def test_breaches_never_shorten_a_lockout_in_force(steps: list[tuple[int, float | None]]) -> None:
    engine = engine_with_contracts(
        config(
            {
                "trade_frequency_limit": {
                    "per_minute": {"limit": 2, "cooldown_seconds": 60},
                    "per_hour": {"limit": 6, "cooldown_seconds": 900},
                    "per_session": {"limit": 15},
                },
                "cooldown_after_loss": {
                    "tiers": [
                        {"loss_amount": 100, "cooldown_seconds": 300},
                        {"loss_amount": 200, "cooldown_seconds": 900},
                        {"loss_amount": 300, "cooldown_seconds": 1800},
                    ]
                },
            }
        )
    )
    now = T0
    reported: dict[tuple[str, str, str | None], datetime] = {}
    for i, (gap, pnl) in enumerate(steps, start=1):
        before = {r.key: r.until for r in engine.lockouts(123)}
        now += gap * S
        actions = engine.tick(now)
        actions += engine.evaluate("GatewayUserTrade", trade(i, pnl, now), now)
        after = {r.key: r.until for r in engine.lockouts(123)}
        for key, until in before.items():
            if now < _end(until):  # still in force: must still be there, never shorter
                assert key in after
                assert _end(after[key]) >= _end(until)
        for a in actions:
            lk = a.lockout
            if lk is None:
                continue
            if a.kind == "unlock":
                assert a.at >= _end(lk.until) or lk.kind == "until_reset"
                reported.pop(lk.key, None)
            elif a.kind == "lockout":
                assert _end(lk.until) >= reported.get(lk.key, T0)
                reported[lk.key] = _end(lk.until)


# ----- the daily reset across DST -------------------------------------------------------------------
CHICAGO, NEW_YORK = ZoneInfo("America/Chicago"), ZoneInfo("America/New_York")
# The instants the clocks jump forward on 2026-03-08 (02:00 local -> 03:00).
SPRING_GAP = {
    "America/Chicago": datetime(2026, 3, 8, 8, tzinfo=UTC),
    "America/New_York": datetime(2026, 3, 8, 7, tzinfo=UTC),
}


def reset_instant(day: date, wall: time, tz_name: str) -> datetime:
    """The oracle: wall-clock reset on a local date. A time inside the spring-forward gap resets
    when the clocks jump; an ambiguous one (fall-back) at its first occurrence."""
    tz = ZoneInfo(tz_name)
    local = datetime.combine(day, wall, tzinfo=tz)
    as_utc = local.astimezone(UTC)
    if as_utc.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        return SPRING_GAP[tz_name]
    return as_utc


def resets_between(start: datetime, end: datetime, wall: time, tz_name: str) -> list[datetime]:
    """Reset instants in (start, end]."""
    tz = ZoneInfo(tz_name)
    day = start.astimezone(tz).date() - timedelta(days=1)
    out: list[datetime] = []
    while day <= end.astimezone(tz).date() + timedelta(days=1):
        r = reset_instant(day, wall, tz_name)
        if start < r <= end:
            out.append(r)
        day += timedelta(days=1)
    return out


def latest_reset(now: datetime, wall: time, tz_name: str) -> datetime:
    return max(r for r in resets_between(now - timedelta(days=3), now, wall, tz_name))


def reset_engine(tz_name: str, wall: str) -> Engine:
    return Engine.from_config(
        config({}, accounts=[{"id": 123, "name": "A", "reset_time": wall, "timezone": tz_name}])
    )


def _drive(engine: Engine, times: list[datetime], wall: time, tz_name: str) -> None:
    """Tick at ``times``; each tick must reset exactly when a reset instant was passed since the last."""
    engine.tick(times[0])
    assert engine.last_reset(123) == latest_reset(times[0], wall, tz_name)
    fired = 0
    for prev, now in zip(times, times[1:], strict=False):
        before = engine.last_reset(123)
        engine.tick(now)
        due = resets_between(prev, now, wall, tz_name)
        after = engine.last_reset(123)
        if due:
            assert after == due[-1], (prev, now)  # once, for the latest one, however many were passed
            fired += 1
        else:
            assert after == before, (prev, now)
    # Across the whole run: one reset per tick that passed an instant; with 1-s ticks, one per day.
    assert fired == sum(
        1 for p, n in zip(times, times[1:], strict=False) if resets_between(p, n, wall, tz_name)
    )


WALLS = ["17:00", "00:00", "02:30", "01:30"]


def _dense_times(start: datetime, end: datetime, walls: list[datetime]) -> list[datetime]:
    """1-s ticks within 2 minutes of each reset instant and DST change, 37-s ticks elsewhere."""
    out: list[datetime] = []
    t = start
    while t <= end:
        out.append(t)
        near = any(abs(t - w) <= timedelta(minutes=2) for w in walls)
        t += S if near else 37 * S
    return out


def test_one_reset_per_trading_day_across_both_2026_dst_changes() -> None:
    for tz_name in ("America/Chicago", "America/New_York"):
        tz = ZoneInfo(tz_name)
        for wall_text in WALLS:
            wall = time.fromisoformat(wall_text)
            for first, last in (
                (date(2026, 3, 6), date(2026, 3, 10)),
                (date(2026, 10, 30), date(2026, 11, 3)),
            ):
                start = datetime.combine(first, time(12), tzinfo=tz).astimezone(UTC)
                end = datetime.combine(last, time(12), tzinfo=tz).astimezone(UTC)
                instants = resets_between(start, end, wall, tz_name)
                assert len(instants) == (last - first).days  # one reset per local day
                dst = [SPRING_GAP[tz_name], datetime(2026, 11, 1, 7 if tz is NEW_YORK else 8, tzinfo=UTC)]
                times = _dense_times(start, end, instants + dst)
                engine = reset_engine(tz_name, wall_text)
                seen: list[datetime] = []
                engine.tick(times[0])
                for now in times[1:]:
                    before = engine.last_reset(123)
                    engine.tick(now)
                    if engine.last_reset(123) != before:
                        seen.append(now)
                assert seen == instants, (tz_name, wall_text)  # each at its instant, to the second
                for r in seen:
                    local = r.astimezone(tz)
                    if r != SPRING_GAP[tz_name]:
                        assert (local.hour, local.minute) == (wall.hour, wall.minute)


tick_steps = st.lists(
    st.one_of(
        st.integers(1, 5),
        st.integers(1, 3_600),
        st.integers(3_600, 40 * 3_600),  # jumps over one or more resets
    ),
    min_size=1,
    max_size=60,
)


@FAST
@given(
    tz_name=st.sampled_from(["America/Chicago", "America/New_York"]),
    wall_text=st.sampled_from(WALLS),
    anchor=st.sampled_from([datetime(2026, 3, 7, 6, tzinfo=UTC), datetime(2026, 10, 31, 6, tzinfo=UTC)]),
    offset=st.integers(0, 2 * 86_400),
    steps=tick_steps,
)
def test_reset_fires_once_per_passed_instant_at_random_steps(
    tz_name: str, wall_text: str, anchor: datetime, offset: int, steps: list[int]
) -> None:
    wall = time.fromisoformat(wall_text)
    times = [anchor + offset * S]
    for step in steps:
        times.append(times[-1] + step * S)
    _drive(reset_engine(tz_name, wall_text), times, wall, tz_name)


def _until_reset_record(now: datetime) -> Lockout:
    return Lockout(
        id="L1",
        account_id=123,
        rule="RULE-003",
        scope="account",
        kind="until_reset",
        until=now,
        reason="restored",
        created=now - timedelta(hours=1),
    )


@FAST
@given(
    tz_name=st.sampled_from(["America/Chicago", "America/New_York"]),
    wall_text=st.sampled_from(WALLS),
    missed=st.integers(1, 12),
    into=st.integers(1, 86_000),
)
def test_missed_reset_is_caught_up_exactly_once(tz_name: str, wall_text: str, missed: int, into: int) -> None:
    """Stopped over ``missed`` resets (across the March change): the first tick resets once."""
    wall = time.fromisoformat(wall_text)
    now = datetime(2026, 3, 3, 12, tzinfo=UTC) + timedelta(days=missed) + into * S
    latest = latest_reset(now, wall, tz_name)
    instants = resets_between(now - timedelta(days=missed + 2), latest, wall, tz_name)
    stored = instants[-1 - missed]
    engine = reset_engine(tz_name, wall_text)
    engine.restore_account(123, last_reset=stored, lockouts=[_until_reset_record(instants[-missed])])
    actions = engine.tick(now)
    assert [(a.rule, a.kind) for a in actions] == [("RESET", "unlock")]
    assert engine.last_reset(123) == latest
    assert engine.lockouts(123) == []
    # Nothing more until the next reset instant, then exactly one.
    nxt = resets_between(latest, latest + timedelta(days=2), wall, tz_name)[0]
    for t in (now + S, now + 60 * S, nxt - S):
        if t > now:
            engine.tick(t)
            assert engine.last_reset(123) == latest
    engine.tick(nxt)
    assert engine.last_reset(123) == nxt


def test_no_catch_up_when_the_last_reset_is_current() -> None:
    now = datetime(2026, 3, 8, 23, tzinfo=UTC)  # Sunday 18:00 CDT
    engine = reset_engine("America/Chicago", "17:00")
    engine.restore_account(123, last_reset=datetime(2026, 3, 8, 22, tzinfo=UTC), lockouts=[])
    assert engine.tick(now) == []
    assert engine.last_reset(123) == datetime(2026, 3, 8, 22, tzinfo=UTC)


# ----- a hard-locked account only gets enforcement --------------------------------------------------
EVERY_RULE = {
    "max_contracts": {"limit": 1},
    "max_contracts_per_instrument": {"limits": {"MNQ": 1}, "unknown_symbol_action": "block"},
    "daily_realized_loss": {"loss_limit": 500},
    "daily_unrealized_loss": {"loss_limit": 10, "scope": "per_position"},
    "max_unrealized_profit": {"mode": "breakeven"},
    "trade_frequency_limit": {"per_minute": {"limit": 1, "cooldown_seconds": 60}},
    "cooldown_after_loss": {"tiers": [{"loss_amount": 10, "cooldown_seconds": 120}]},
    "no_stop_loss_grace": {"grace_period_seconds": 5},
    "session_block_outside": {"window": {"start": "08:30", "end": "15:00"}},
    "auth_loss_guard": {"auto_unlock_on_restore": True},
    "symbol_blocks": {"blocked_symbols": ["RTY"]},
    "trade_management": {
        "auto_stop_loss": {"enabled": True, "stop_loss_ticks": 4},
        "breakeven": {"enabled": True, "trigger_ticks": 2, "offset_ticks": 0},
        "trailing": {"enabled": True, "activation_ticks": 3, "distance_ticks": 2},
    },
}

event_strategy = st.one_of(
    st.tuples(
        st.just("position"),
        st.sampled_from([MNQ, ES, RTY]),
        st.integers(0, 4),
        st.booleans(),
        st.integers(-20, 20),
    ),
    st.tuples(
        st.just("order"),
        st.sampled_from([MNQ, ES, RTY]),
        st.sampled_from([1, 2, 3, 4, 5]),  # type
        st.sampled_from([0, 1]),  # side
        st.sampled_from([1, 6, 2, 3]),  # status
    ),
    st.tuples(st.just("trade"), st.sampled_from([MNQ, ES]), st.sampled_from([None, 400.0, -30.0, -700.0])),
    st.tuples(st.just("quote"), st.sampled_from([MNQ, ES, RTY]), st.integers(-40, 40)),
    st.tuples(st.just("account"), st.booleans()),
    st.tuples(
        st.just("tick"),
    ),
)


def _payload(ev: tuple[Any, ...], n: int, at: datetime) -> tuple[str, Any]:
    kind = ev[0]
    base = {MNQ: 21000.0, ES: 6000.0, RTY: 2400.0}
    if kind == "position":
        _, cid, size, short, off = ev
        if size == 0:
            return "GatewayUserPosition", {"accountId": 123, "contractId": cid, "size": 0, "id": 1}
        return "GatewayUserPosition", pos(cid, size, base[cid] + 0.25 * off, at, short=short)
    if kind == "order":
        _, cid, otype, side, status = ev
        stop = base[cid] + (-2.0 if side == 1 else 2.0)
        return "GatewayUserOrder", order(
            n, cid, side=side, otype=otype, status=status, stop=stop, limit=stop, at=at
        )
    if kind == "trade":
        return "GatewayUserTrade", trade(n, ev[2], at, cid=ev[1])
    if kind == "quote":
        return "GatewayQuote", quote(ev[1], base[ev[1]] + 0.25 * ev[2], at)
    if kind == "account":
        return "GatewayUserAccount", account_event(ev[1])
    return "Tick", None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lock_with=st.sampled_from(["daily_reset", "permanent", "session"]),
    events=st.lists(st.tuples(st.integers(0, 300), event_strategy), min_size=1, max_size=40),
)
def test_hard_locked_account_gets_only_enforcement(lock_with: str, events: list[tuple[int, Any]]) -> None:
    rules = (
        {**EVERY_RULE, "daily_realized_loss": {"loss_limit": 500, "lockout_until": "permanent"}}
        if (lock_with == "permanent")
        else EVERY_RULE
    )
    engine = engine_with_contracts(config(rules))
    now = T0  # Tuesday 10:00 CT: inside the trading window, the reset is 7 h away
    if lock_with == "session":
        now = T0 + timedelta(hours=5, minutes=30)  # 15:30 CT, outside the window
        first = engine.evaluate(
            "GatewayUserOrder", order(9999, MNQ, side=0, otype=1, limit=20990.0, at=now), now
        )
    else:
        first = engine.evaluate("GatewayUserTrade", trade(9999, -600.0, now), now)
    hard = [r for r in engine.lockouts(123) if r.hard]
    assert len(hard) == 1
    lock = hard[0]
    end = _end(lock.until)
    assert any(a.kind == "lockout" for a in first)
    for n, (gap, ev) in enumerate(events, start=1):
        at = now + gap * S
        if at >= end - S:
            break
        now = at
        name, data = _payload(ev, n, now)
        data = data.get("data", data) if isinstance(data, dict) and "id" not in data else data
        before = (
            engine.account(123).positions.get(data["contractId"]) if name == "GatewayUserPosition" else None
        )
        before_size = (before.size, before.direction) if before is not None else (0, 0)
        actions = engine.tick(now) if name == "Tick" else engine.evaluate(name, data, now)
        for a in actions:
            if a.kind == "unlock":
                assert a.lockout is not None
                legit_expiry = a.lockout.until is not None and a.at >= a.lockout.until
                legit_restore = a.rule == "RULE-010" and a.lockout.rule == "RULE-010"
                assert legit_expiry or legit_restore, a.to_dict()
                assert a.lockout.key != lock.key
            else:
                assert a.kind in ENFORCEMENT_KINDS or a.kind == "lockout", a.to_dict()
        assert lock in [r for r in engine.lockouts(123)]  # still in force
        # The gate closes every new or larger position and cancels every working order (except a
        # market order: it is only "working" until its fill, whose position the gate then closes).
        kinds = {(a.kind, a.contract_id) for a in actions} | {(a.kind, a.order_id) for a in actions}
        if name == "GatewayUserPosition" and data["size"] > 0:
            size, direction = data["size"], (-1 if data["type"] == 2 else 1)
            grew = before_size[1] != direction or size > before_size[0]
            if grew:
                assert ("close_position", data["contractId"]) in kinds or ("close_all", None) in kinds
        if name == "GatewayUserOrder" and data["status"] in (1, 6) and data["type"] != 2:
            assert ("cancel_order", data["id"]) in kinds or ("cancel_all", None) in kinds
