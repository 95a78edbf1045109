"""docs/rules-extra.md §6: every example of RULE-013, RULE-014 and RULE-015 as its own test, named
after its row id, played through the replay runner (its 1-second tick grid included).

Account 123, reset 17:00 America/Chicago; T0 is Tuesday 2026-11-17 10:00 CT (16:00 UTC). Balances
arrive as ``GatewayUserAccount`` events, as the broker sends them after each fill.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from tests.engine.conftest import (
    ES,
    MNQ,
    T0,
    Session,
    config,
    ct,
    enforcement,
    pos,
    quote,
    shape,
    trade,
    utc,
    z,
)

S = timedelta(seconds=1)
POSITION, TRADE, QUOTE, ACCOUNT = (
    "GatewayUserPosition",
    "GatewayUserTrade",
    "GatewayQuote",
    "GatewayUserAccount",
)
FLAT_ES = {
    "action": 1,
    "data": {"id": 1, "accountId": 123, "contractId": ES, "type": 1, "size": 0, "averagePrice": 0},
}


def balance(value: float, account: int = 123) -> dict[str, Any]:
    return {
        "id": account,
        "name": "A",
        "balance": value,
        "canTrade": True,
        "isVisible": True,
        "simulated": True,
    }


def lockouts(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a["lockout"] for a in actions if a["action"] == "lockout"]


def floor(s: Session, at: Any) -> Decimal:
    view = s.engine.drawdown(123, at)
    assert view is not None
    return Decimal(view["floor"])


# ----- RULE-013 trailing_drawdown -------------------------------------------------------------------
INTRADAY = {"mode": "intraday", "max_drawdown": 2000, "lock_at_start": False}


def test_013_a() -> None:
    s = Session(config({"trailing_drawdown": INTRADAY}))
    assert enforcement(s.feed(T0, ACCOUNT, balance(50000.0))) == []
    assert floor(s, T0) == Decimal(48000)
    s.feed(T0 + S, POSITION, pos(ES, 1, 6000.0, T0 + S))
    assert enforcement(s.feed(T0 + 2 * S, QUOTE, quote(ES, 6010.0))) == []  # net 50,500: a new high
    assert floor(s, T0 + 2 * S) == Decimal(48500)
    assert enforcement(s.feed(T0 + 3 * S, QUOTE, quote(ES, 5980.0))) == []  # net 49,000
    assert floor(s, T0 + 3 * S) == Decimal(48500)  # never moves down
    out = s.feed(T0 + 4 * S, QUOTE, quote(ES, 5970.25))  # net 48,512.50: 99 % of the room used
    assert enforcement(out) == [] and [a["action"] for a in out] == ["warn"]
    out = s.feed(T0 + 5 * S, QUOTE, quote(ES, 5970.0))  # net 48,500.00: at the floor (inclusive)
    assert shape(out) == [
        ("RULE-013", "close_all", None),
        ("RULE-013", "cancel_all", None),
        ("RULE-013", "lockout", None),
    ]
    assert lockouts(out) == [{"scope": "account", "kind": "until_reset", "until": z(ct(2026, 11, 17, 17, 0))}]
    assert "net balance 48500.00 <= floor 48500.00" in out[0]["reason"]
    view = s.engine.drawdown(123, T0 + 5 * S)
    assert view is not None and view["distance"] == "0.00" and view["netBalance"] == "48500.00"


def test_013_b() -> None:
    s = Session(config({"trailing_drawdown": {"mode": "eod", "max_drawdown": 2000, "lock_at_start": False}}))
    s.feed(T0, ACCOUNT, balance(50000.0))
    s.feed(T0 + S, POSITION, pos(ES, 1, 6000.0, T0 + S))
    assert enforcement(s.feed(T0 + 2 * S, QUOTE, quote(ES, 6030.0))) == []  # net 51,500 intraday
    assert floor(s, T0 + 2 * S) == Decimal(48000)  # eod mode ignores intraday highs
    close = ct(2026, 11, 17, 16, 0)
    s.feed(close, TRADE, trade(1, 1500.0, close, cid=ES))
    s.feed(close, POSITION, FLAT_ES)
    s.feed(close, ACCOUNT, balance(51500.0))
    assert floor(s, close) == Decimal(48000)
    s.tick(ct(2026, 11, 17, 17, 0) + S)  # the reset samples the closing balance
    assert floor(s, ct(2026, 11, 17, 17, 1)) == Decimal(49500)
    view = s.engine.drawdown(123, ct(2026, 11, 17, 17, 1))
    assert view is not None and view["lastEndOfDay"] == {"tradingDay": "2026-11-17", "netBalance": "51500.00"}
    at = ct(2026, 11, 18, 9, 0)
    s.feed(at, POSITION, pos(ES, 1, 6000.0, at))
    out = s.feed(at + S, QUOTE, quote(ES, 5960.0))  # -2,000: net 49,500 at the floor
    assert lockouts(out) == [{"scope": "account", "kind": "until_reset", "until": z(ct(2026, 11, 18, 17, 0))}]


def test_013_c() -> None:
    s = Session(
        config({"trailing_drawdown": {"mode": "intraday", "max_drawdown": 2000, "lock_at_start": True}})
    )
    s.feed(T0, ACCOUNT, balance(50000.0))
    s.feed(T0 + S, POSITION, pos(ES, 1, 6000.0, T0 + S))
    assert enforcement(s.feed(T0 + 2 * S, QUOTE, quote(ES, 6050.0))) == []  # net 52,500
    assert floor(s, T0 + 2 * S) == Decimal(50000)  # 50,500 capped at the starting balance
    view = s.engine.drawdown(123, T0 + 2 * S)
    assert view is not None and view["lockedAtStart"] is True and view["highWaterMark"] == "52500.00"
    out = s.feed(T0 + 3 * S, QUOTE, quote(ES, 6000.0))  # net 50,000: back at the start
    assert shape(out)[0] == ("RULE-013", "close_all", None)


def test_013_d() -> None:
    rule = {"starting_balance": 50000, "floor": 48600, "buffer": 250, "lockout_until": "indefinite"}
    s = Session(config({"trailing_drawdown": rule}))
    assert enforcement(s.feed(T0, ACCOUNT, balance(49000.0))) == []  # 49,000 > 48,850
    assert floor(s, T0) == Decimal(48600)  # the firm's number, not 50,000 - 2,000
    # The fill alone changes nothing: the broker's balance still says 49,000.
    assert enforcement(s.feed(T0 + S, TRADE, trade(1, -150.0, T0 + S))) == []
    out = s.feed(T0 + S, ACCOUNT, balance(48850.0))
    assert shape(out) == [
        ("RULE-013", "close_all", None),
        ("RULE-013", "cancel_all", None),
        ("RULE-013", "lockout", None),
    ]
    assert lockouts(out) == [{"scope": "account", "kind": "indefinite", "until": None}]
    assert "net balance 48850.00 <= floor 48600.00 + buffer 250.00 = 48850.00" in out[0]["reason"]
    assert s.engine.condition_holds(123, "RULE-013", T0 + 2 * S)
    s.tick(ct(2026, 11, 18, 17, 30))  # an indefinite lockout outlives the reset
    assert [r.kind for r in s.engine.lockouts(123)] == ["indefinite"]


def test_013_e() -> None:
    """eod mode across the switch to CDT on Sunday 2026-03-08: each day's sample is the balance at
    17:00 Chicago, 23:00 UTC before the switch and 22:00 UTC after it."""
    s = Session(
        config({"trailing_drawdown": {"max_drawdown": 2000, "lock_at_start": False}}),
        start=utc(2026, 3, 6, 20, 0),
    )
    s.feed(utc(2026, 3, 6, 20, 0), ACCOUNT, balance(50000.0))
    s.feed(utc(2026, 3, 6, 22, 30), ACCOUNT, balance(50700.0))  # 16:30 CST: still Friday's day
    s.tick(utc(2026, 3, 6, 23, 0) + S)
    assert floor(s, utc(2026, 3, 6, 23, 1)) == Decimal(48700)
    s.feed(utc(2026, 3, 9, 21, 30), ACCOUNT, balance(51000.0))  # 16:30 CDT Monday
    s.feed(utc(2026, 3, 9, 22, 30), ACCOUNT, balance(51400.0))  # 17:30 CDT: Tuesday's day already
    assert floor(s, utc(2026, 3, 9, 22, 31)) == Decimal(49000)
    view = s.engine.drawdown(123, utc(2026, 3, 9, 22, 31))
    assert view is not None and view["lastEndOfDay"] == {"tradingDay": "2026-03-09", "netBalance": "51000.00"}
    out = s.feed(utc(2026, 3, 10, 14, 0), ACCOUNT, balance(49000.0))
    assert lockouts(out) == [{"scope": "account", "kind": "until_reset", "until": "2026-03-10T22:00:00Z"}]


# ----- RULE-014 weekly_limits -----------------------------------------------------------------------
WEEKLY = {"loss_limit": 1000}


def _losses(s: Session, days: list[tuple[Any, float]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, (at, pnl) in enumerate(days, start=1):
        out += s.feed(at, TRADE, trade(i, pnl, at))
    return out


def test_014_a() -> None:
    s = Session(config({"weekly_limits": WEEKLY}))
    out = _losses(s, [(ct(2026, 11, 17, 10, 0), -400.0), (ct(2026, 11, 18, 10, 0), -400.0)])
    assert enforcement(out) == [] and "weekly realized loss at 80%" in out[-1]["reason"]
    out = s.feed(ct(2026, 11, 19, 10, 0), TRADE, trade(3, -250.0, ct(2026, 11, 19, 10, 0)))
    assert shape(out) == [
        ("RULE-014", "close_all", None),
        ("RULE-014", "cancel_all", None),
        ("RULE-014", "lockout", None),
    ]
    # Until the first trading day of the next week starts: Sunday 17:00 CST.
    assert lockouts(out) == [{"scope": "account", "kind": "until_week_end", "until": "2026-11-22T23:00:00Z"}]
    assert "weekly realized -1050.00 < -1000.00" in out[0]["reason"]
    # Daily resets do not lift it; the week's end does.
    s.tick(ct(2026, 11, 21, 12, 0))
    assert [r.kind for r in s.engine.lockouts(123)] == ["until_week_end"]
    s.tick(ct(2026, 11, 22, 17, 0) + S)
    assert s.engine.lockouts(123) == []
    assert [a["at"] for a in s.log if a["action"] == "unlock"] == ["2026-11-22T23:00:00Z"]


def test_014_b() -> None:
    s = Session(config({"weekly_limits": WEEKLY}))
    days = [
        (ct(2026, 11, 17, 10, 0), -400.0),
        (ct(2026, 11, 18, 10, 0), -400.0),
        (ct(2026, 11, 19, 10, 0), -200.0),
    ]
    assert enforcement(_losses(s, days)) == []  # -1000 is not < -1000
    at = ct(2026, 11, 23, 9, 0)  # Monday: a new week
    assert enforcement(s.feed(at, TRADE, trade(9, -300.0, at))) == []


def test_014_c() -> None:
    """Thanksgiving (Thu 11-26) inside the week, and a holiday on the next week's Monday (11-30)."""
    s = Session(config({"weekly_limits": WEEKLY}, holidays=["2026-11-26", "2026-11-30"]))
    out = _losses(s, [(ct(2026, 11, 25, 10, 0), -600.0), (ct(2026, 11, 27, 10, 0), -500.0)])
    assert lockouts(out) == [
        {"scope": "account", "kind": "until_week_end", "until": z(ct(2026, 11, 30, 17, 0))}
    ]


def test_014_d() -> None:
    days = [
        (ct(2026, 11, 23, 10, 0), -600.0),
        (ct(2026, 11, 24, 10, 0), -300.0),
        (ct(2026, 11, 25, 10, 0), -300.0),
    ]
    s = Session(config({"weekly_limits": {**WEEKLY, "week_start": "wed"}}))
    assert enforcement(_losses(s, days)) == []  # Wednesday starts a new week: -300 only
    s = Session(config({"weekly_limits": {**WEEKLY, "week_start": "mon"}}))
    out = _losses(s, days)
    assert lockouts(out) == [
        {"scope": "account", "kind": "until_week_end", "until": z(ct(2026, 11, 29, 17, 0))}
    ]
    # A week starting on Wednesday ends when the next Wednesday's trading day begins (Tuesday 17:00).
    s = Session(config({"weekly_limits": {**WEEKLY, "week_start": "wed"}}))
    out = _losses(s, [(ct(2026, 11, 25, 10, 0), -600.0), (ct(2026, 11, 26, 10, 0), -500.0)])
    assert lockouts(out) == [
        {"scope": "account", "kind": "until_week_end", "until": z(ct(2026, 12, 1, 17, 0))}
    ]


def test_014_e() -> None:
    """The week's end on the DST change days: 17:00 CDT (22:00 UTC) on 03-08, 17:00 CST on 11-01."""
    s = Session(config({"weekly_limits": WEEKLY}), start=ct(2026, 3, 6, 9, 0))
    out = s.feed(ct(2026, 3, 6, 10, 0), TRADE, trade(1, -1100.0, ct(2026, 3, 6, 10, 0)))
    assert lockouts(out)[0]["until"] == "2026-03-08T22:00:00Z"
    s = Session(config({"weekly_limits": WEEKLY}), start=ct(2026, 10, 30, 9, 0))
    out = s.feed(ct(2026, 10, 30, 10, 0), TRADE, trade(1, -1100.0, ct(2026, 10, 30, 10, 0)))
    assert lockouts(out)[0]["until"] == "2026-11-01T23:00:00Z"


def test_014_f() -> None:
    s = Session(config({"weekly_limits": {"pnl": "net", "loss_limit": None, "profit_target": 1500}}))
    assert enforcement(s.feed(T0, TRADE, trade(1, 1000.0, T0))) == []
    at = ct(2026, 11, 18, 10, 0)
    s.feed(at, POSITION, pos(ES, 1, 6000.0, at))
    assert enforcement(s.feed(at + S, QUOTE, quote(ES, 6010.0))) == []  # 1,500.00 is not > 1,500
    out = s.feed(at + 2 * S, QUOTE, quote(ES, 6010.25))  # 1,512.50
    assert shape(out) == [
        ("RULE-014", "close_all", None),
        ("RULE-014", "cancel_all", None),
        ("RULE-014", "lockout", None),
    ]
    assert "weekly net 1512.50 > target 1500.00" in out[0]["reason"]


# ----- RULE-015 consecutive_losses ------------------------------------------------------------------
STREAK = {"max_losses": 3, "cooldown_seconds": 1800}


def _fills(
    rule: dict[str, Any], pnls: list[float], orders: list[int] | None = None
) -> tuple[Session, list[list[dict[str, Any]]]]:
    s = Session(config({"consecutive_losses": rule}))
    outs = []
    for i, pnl in enumerate(pnls):
        at = T0 + 10 * i * S
        t = trade(i + 1, pnl, at)
        if orders is not None:
            t["orderId"] = orders[i]
        outs.append(enforcement(s.feed(at, TRADE, t)))
    return s, outs


def test_015_a() -> None:
    s, outs = _fills(STREAK, [-50.0, -20.0, -10.0])
    assert outs[:2] == [[], []]
    assert [(a["rule"], a["action"]) for a in outs[2]] == [("RULE-015", "lockout")]  # no close
    assert outs[2][0]["lockout"] == {
        "scope": "account",
        "kind": "cooldown",
        "until": z(T0 + 20 * S + 1800 * S),
    }
    assert "3 losing trades in a row >= 3 (last -10.00)" in outs[2][0]["reason"]
    assert s.engine.account(123).streak.losses == 0  # starts over


def test_015_b() -> None:
    _, outs = _fills(STREAK, [-50.0, 30.0, -20.0, -10.0])
    assert outs == [[], [], [], []]


def test_015_c() -> None:
    pnls = [-50.0, 0.0, -20.0, -10.0]
    assert _fills(STREAK, pnls)[1] == [[], [], [], []]  # default: a scratch ends the streak
    ignore = _fills({**STREAK, "scratches": "ignore"}, pnls)[1]
    assert [len(o) for o in ignore] == [0, 0, 0, 1]
    count = _fills({**STREAK, "scratches": "count"}, pnls)[1]
    assert [len(o) for o in count] == [0, 0, 1, 0]
    wide = _fills({**STREAK, "scratch_amount": 5, "scratches": "count"}, [-50.0, 4.0, -20.0])[1]
    assert [len(o) for o in wide] == [0, 0, 1]  # +4.00 is within 5.00 of zero: a scratch, counted


def test_015_d() -> None:
    """Two fills of one closing order are one trade."""
    _, outs = _fills(STREAK, [-50.0, -30.0, -20.0, -10.0], orders=[1, 2, 2, 3])
    assert [len(o) for o in outs] == [0, 0, 0, 1]


def test_015_e() -> None:
    _, outs = _fills({**STREAK, "action": "until_reset"}, [-50.0, -20.0, -10.0])
    assert [(a["rule"], a["action"]) for a in outs[2]] == [
        ("RULE-015", "close_all"),
        ("RULE-015", "cancel_all"),
        ("RULE-015", "lockout"),
    ]
    assert outs[2][-1]["lockout"] == {
        "scope": "account",
        "kind": "until_reset",
        "until": z(ct(2026, 11, 17, 17, 0)),
    }


def test_015_f() -> None:
    s = Session(config({"consecutive_losses": STREAK}))
    s.feed(ct(2026, 11, 17, 16, 0), TRADE, trade(1, -50.0, ct(2026, 11, 17, 16, 0)))
    s.feed(ct(2026, 11, 17, 16, 30), TRADE, trade(2, -20.0, ct(2026, 11, 17, 16, 30)))
    out = s.feed(ct(2026, 11, 17, 18, 0), TRADE, trade(3, -10.0, ct(2026, 11, 17, 18, 0)))
    assert enforcement(out) == []  # the 17:00 reset started the streak over
    assert s.engine.account(123).streak.losses == 1


def test_015_opening_fills_and_voided_fills_do_not_count() -> None:
    _, outs = _fills(STREAK, [-50.0, -20.0])
    s = Session(config({"consecutive_losses": STREAK}))
    s.feed(T0, TRADE, trade(1, -50.0, T0))
    s.feed(T0 + S, TRADE, trade(2, None, T0 + S))  # opening fill
    s.feed(T0 + 2 * S, TRADE, trade(3, -20.0, T0 + 2 * S, voided=True))
    assert s.engine.account(123).streak.losses == 1
    assert outs == [[], []]


def test_new_rules_are_off_by_default_and_leave_mnq_alone() -> None:
    s = Session(config({}))
    s.feed(T0, ACCOUNT, balance(100.0))
    s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0))
    assert enforcement(s.feed(T0 + S, TRADE, trade(1, -5000.0, T0 + S))) == []
    assert s.engine.drawdown(123, T0) is None


# ----- scheduled settings (docs/rules-extra.md §5.3) and the rules' memory ---------------------------
def test_S_d_pending_rules_come_into_force_at_the_reset() -> None:
    from risk_manager.config.loader import AppConfig
    from tests.core.conftest import GATEWAY, RULE_KEYS

    rules: dict[str, Any] = {key: {"enabled": False} for key in RULE_KEYS}
    rules["daily_realized_loss"] = {"enabled": True, "loss_limit": 500}
    risk = {
        "rules": rules,
        "pending": {"from": "2026-11-18", "rules": {"daily_realized_loss": {"loss_limit": 800}}},
    }
    accounts = {
        "gateway": GATEWAY,
        "logins": [{"name": "m", "user_name": "u", "accounts": [{"id": 123, "name": "A"}]}],
    }
    s = Session(AppConfig.from_dicts(risk, accounts))
    out = s.feed(T0, TRADE, trade(1, -600.0, T0))  # Tuesday: the 500 limit is in force
    assert shape(out)[0] == ("RULE-003", "close_all", None)
    s.tick(ct(2026, 11, 17, 17, 0) + S)
    notes = [a["reason"] for a in s.log if a["rule"] == "RESET" and a["action"] == "warn"]
    assert notes == [
        "scheduled settings in force from trading day 2026-11-18 (risk_config.yaml pending; loosening waited for the reset)"
    ]
    at = ct(2026, 11, 18, 10, 0)
    assert enforcement(s.feed(at, TRADE, trade(2, -700.0, at))) == []  # Wednesday: 800
    # An engine started on the day itself has them at once.
    fresh = Session(AppConfig.from_dicts(risk, accounts), start=at)
    assert enforcement(fresh.feed(at, TRADE, trade(1, -700.0, at))) == []


def test_rule_memory_round_trips_and_bad_stored_values_are_reported_not_raised() -> None:
    from risk_manager.engine import rule_state

    s = Session(config({"trailing_drawdown": INTRADAY, "consecutive_losses": STREAK}))
    s.feed(T0, ACCOUNT, balance(50000.0))
    s.feed(T0 + S, TRADE, trade(1, -10.0, T0 + S))
    acct = s.engine.account(123)
    saved = s.engine.rule_state(123, T0 + S)
    assert saved["RULE-013"]["floor"] == "48000.0" and saved["RULE-015"]["losses"] == 1
    other = Session(config({"trailing_drawdown": INTRADAY, "consecutive_losses": STREAK}))
    other.feed(T0, "Tick")
    assert other.engine.restore_rule_state(123, saved, {}, T0 + S) == []
    restored = other.engine.account(123)
    assert (restored.drawdown.floor, restored.drawdown.start, restored.streak.losses) == (
        acct.drawdown.floor,
        acct.drawdown.start,
        1,
    )
    broken = {"RULE-013": {"day": "2026-11-17", "start": "abc"}, "RULE-015": {"day": "x"}}
    problems = other.engine.restore_rule_state(123, broken, {}, T0 + S)
    assert [p.split(" state ignored")[0] for p in problems] == ["RULE-013", "RULE-015"]
    assert rule_state.export(other.engine.account(123), T0)["RULE-015"]["losses"] == 1  # untouched
