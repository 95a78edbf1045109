"""rules.md §6: every acceptance example as its own test, named after its row id.

Each test plays broker-shaped events through the replay runner (with its 1-second tick grid) and
asserts the exact actions the row expects, plus the negatives it implies (nothing before the
threshold, no lockout where none is due). Account 123, reset 17:00 America/Chicago; T0 is Tuesday
2026-11-17 10:00 CT (16:00 UTC).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.engine.conftest import (
    ES,
    MNQ,
    RTY,
    T0,
    Session,
    account_event,
    config,
    ct,
    enforcement,
    order,
    pos,
    quote,
    shape,
    trade,
    z,
)

S = timedelta(seconds=1)
POSITION, ORDER, TRADE, QUOTE, ACCOUNT = (
    "GatewayUserPosition",
    "GatewayUserOrder",
    "GatewayUserTrade",
    "GatewayQuote",
    "GatewayUserAccount",
)


def only(actions: list[dict], kind: str) -> list[dict]:
    return [a for a in actions if a["action"] == kind]


# ----- RULE-001 max_contracts ------------------------------------------------------------------------
def test_001_a() -> None:
    s = Session(config({"max_contracts": {"limit": 5, "count_type": "net", "enforcement": "close_all"}}))
    assert enforcement(s.feed(T0, POSITION, pos(MNQ, 3, 21000.0, T0))) == []
    assert enforcement(s.feed(T0 + S, POSITION, pos(ES, 2, 6000.0, T0 + S))) == []  # 5 is not > 5
    assert enforcement(s.tick(T0 + 60 * S)) == []


def test_001_b() -> None:
    s = Session(config({"max_contracts": {"limit": 5, "count_type": "net", "enforcement": "close_all"}}))
    assert enforcement(s.feed(T0, POSITION, pos(MNQ, 3, 21000.0, T0))) == []
    out = s.feed(T0 + S, POSITION, pos(ES, 3, 6000.0, T0 + S))
    assert shape(out) == [("RULE-001", "close_all", None)]  # no cancel_all, no lockout
    assert "6 > limit 5" in out[-1]["reason"]
    assert s.engine.lockouts(123) == []


def test_001_c() -> None:
    s = Session(config({"max_contracts": {"limit": 3, "enforcement": "reduce_to_limit"}}))
    assert enforcement(s.feed(T0, POSITION, pos(MNQ, 2, 21000.0, T0))) == []
    out = s.feed(T0 + S, POSITION, pos(ES, 3, 6000.0, T0 + S))
    assert shape(out) == [("RULE-001", "close_position", ES)]  # largest first; MNQ (2 <= 3) stays
    assert s.engine.lockouts(123) == []


def test_001_d() -> None:
    for count_type, expected in (("net", []), ("gross", [("RULE-001", "close_all", None)])):
        s = Session(config({"max_contracts": {"limit": 5, "count_type": count_type}}))
        assert enforcement(s.feed(T0, POSITION, pos(ES, 2, 6000.0, T0, short=True))) == []
        out = s.feed(T0 + S, POSITION, pos(MNQ, 7, 21000.0, T0 + S))
        assert shape(out) == expected, count_type  # net |7 - 2| = 5 is not > 5; gross 9 > 5


# ----- RULE-002 max_contracts_per_instrument --------------------------------------------------------
def test_002_a() -> None:
    s = Session(
        config({"max_contracts_per_instrument": {"limits": {"MNQ": 2}, "enforcement": "reduce_to_limit"}})
    )
    assert enforcement(s.feed(T0, POSITION, pos(MNQ, 2, 21000.0, T0))) == []  # at the limit
    out = enforcement(s.feed(T0 + S, POSITION, pos(MNQ, 3, 21000.0, T0)))
    assert [(a["rule"], a["action"], a["contractId"], a["size"]) for a in out] == [
        ("RULE-002", "reduce_position", MNQ, 1)
    ]
    assert s.engine.lockouts(123) == []


def test_002_b() -> None:
    s = Session(
        config({"max_contracts_per_instrument": {"limits": {"MNQ": 2}, "unknown_symbol_action": "block"}})
    )
    assert enforcement(s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0))) == []  # a listed symbol is fine
    out = s.feed(T0 + S, POSITION, pos(RTY, 1, 2400.0, T0 + S))
    assert shape(out) == [("RULE-002", "close_position", RTY)]
    assert s.engine.lockouts(123) == []


def test_002_c() -> None:
    s = Session(
        config(
            {
                "max_contracts_per_instrument": {
                    "limits": {"MNQ": 2},
                    "unknown_symbol_action": "allow_unlimited",
                }
            }
        )
    )
    assert enforcement(s.feed(T0, POSITION, pos(RTY, 5, 2400.0, T0))) == []


# ----- RULE-003 daily_realized_loss ----------------------------------------------------------------
def test_003_a() -> None:
    s = Session(config({"daily_realized_loss": {"loss_limit": 500}}))
    at = ct(2026, 11, 17, 14, 0)
    assert enforcement(s.feed(at, TRADE, trade(1, -300.0, at))) == []
    out = s.feed(at + S, TRADE, trade(2, -250.0, at + S))
    assert shape(out) == [
        ("RULE-003", "close_all", None),
        ("RULE-003", "cancel_all", None),
        ("RULE-003", "lockout", None),
    ]
    lock = out[-1]["lockout"]
    assert lock == {"scope": "account", "kind": "until_reset", "until": z(ct(2026, 11, 17, 17, 0))}
    assert lock["until"] == "2026-11-17T23:00:00Z"
    assert "-550.00 < -500.00" in out[-1]["reason"]


def test_003_b() -> None:
    s = Session(config({"daily_realized_loss": {"loss_limit": 500}}))
    assert enforcement(s.feed(T0, TRADE, trade(1, -400.0))) == []
    assert enforcement(s.feed(T0 + S, TRADE, trade(2, -100.0, T0 + S))) == []  # -500 is not < -500
    assert s.engine.realized_pnl(123) == Decimal("-500")
    assert s.engine.lockouts(123) == []
    # One cent more is a breach.
    out = s.feed(T0 + 2 * S, TRADE, trade(3, -0.01, T0 + 2 * S))
    assert ("RULE-003", "lockout", None) in shape(out)


def test_003_c() -> None:
    s = Session(config({"daily_realized_loss": {"loss_limit": 500}}))  # watching since 10:00 CT
    at = ct(2026, 11, 17, 18, 0)  # after today's 17:00 reset: the trading day of Wednesday
    out = s.feed(at, TRADE, trade(1, -600.0, at))
    assert [a["action"] for a in enforcement(out)] == ["close_all", "cancel_all", "lockout"]
    assert out[-1]["lockout"]["until"] == z(ct(2026, 11, 18, 17, 0)) == "2026-11-18T23:00:00Z"


def test_003_d() -> None:
    s = Session(config({"daily_realized_loss": {"loss_limit": 500}}))
    at = ct(2026, 11, 17, 14, 0)
    out = s.feed(at, TRADE, trade(1, -600.0, at))
    assert only(out, "lockout")[0]["lockout"]["kind"] == "until_reset"
    # Still locked one second before the reset: a new position is closed by the gate.
    before = ct(2026, 11, 17, 16, 59, 59)
    assert shape(s.feed(before, POSITION, pos(MNQ, 1, 21000.0, before))) == [
        ("LOCKOUT", "close_position", MNQ)
    ]
    s.feed(before + S, POSITION, {"accountId": 123, "contractId": MNQ, "size": 0, "id": 1})  # flat again
    reset = ct(2026, 11, 17, 17, 0)
    out = s.tick(reset + 5 * S)
    unlocks = [a for a in s.log if a["action"] == "unlock"]
    assert [(a["rule"], a["at"], a["lockout"]["kind"]) for a in unlocks] == [
        ("RESET", z(reset), "until_reset")
    ]
    assert s.engine.realized_pnl(123) == Decimal(0)
    assert s.engine.lockouts(123) == []
    after = reset + 10 * S
    assert enforcement(s.feed(after, POSITION, pos(MNQ, 1, 21000.0, after))) == []


# ----- RULE-004 daily_unrealized_loss ----------------------------------------------------------------
def test_004_a() -> None:
    s = Session(config({"daily_unrealized_loss": {"loss_limit": 300, "scope": "per_position"}}))
    assert enforcement(s.feed(T0, POSITION, pos(MNQ, 2, 21000.0, T0))) == []
    assert enforcement(s.feed(T0 + S, QUOTE, quote(MNQ, 20925.00))) == []  # -$300: not yet
    out = s.feed(T0 + 2 * S, QUOTE, quote(MNQ, 20924.75))  # -$301
    assert shape(out) == [("RULE-004", "close_position", MNQ)]
    assert "-301.00" in out[-1]["reason"]
    assert s.engine.lockouts(123) == []


def test_004_b() -> None:
    s = Session(config({"daily_unrealized_loss": {"loss_limit": 300, "scope": "per_position"}}))
    s.feed(T0, POSITION, pos(MNQ, 2, 21000.0, T0))
    assert enforcement(s.feed(T0 + S, QUOTE, quote(MNQ, 20925.00))) == []
    assert s.engine.unrealized_pnl(123) == Decimal("-300")
    assert enforcement(s.tick(T0 + 30 * S)) == []


def test_004_c() -> None:
    s = Session(config({"daily_unrealized_loss": {"loss_limit": 300, "scope": "total"}}))
    s.feed(T0, POSITION, pos(MNQ, 2, 21000.0, T0))
    s.feed(T0, POSITION, pos(ES, 1, 6000.0, T0))
    assert enforcement(s.feed(T0 + S, QUOTE, quote(MNQ, 20950.0))) == []  # -$200 alone
    out = s.feed(T0 + 2 * S, QUOTE, quote(ES, 5997.75))  # -$112.50 more: -$312.50
    assert shape(out) == [
        ("RULE-004", "close_all", None),
        ("RULE-004", "cancel_all", None),
        ("RULE-004", "lockout", None),
    ]
    assert out[-1]["lockout"] == {"scope": "account", "kind": "until_reset", "until": z(ct(2026, 11, 17, 17))}
    assert "-312.50" in out[-1]["reason"]


# ----- RULE-005 max_unrealized_profit ---------------------------------------------------------------
def test_005_a() -> None:
    s = Session(config({"max_unrealized_profit": {"profit_target": 1000, "scope": "per_position"}}))
    s.feed(T0, POSITION, pos(ES, 1, 6000.0, T0))
    assert enforcement(s.feed(T0 + S, QUOTE, quote(ES, 6020.00))) == []  # +$1000 is not > 1000
    out = s.feed(T0 + 2 * S, QUOTE, quote(ES, 6020.25))  # +$1012.50
    assert shape(out) == [("RULE-005", "close_position", ES)]
    assert "1012.50" in out[-1]["reason"]
    assert s.engine.lockouts(123) == []


def test_005_b() -> None:
    s = Session(config({"max_unrealized_profit": {"mode": "breakeven"}}))
    s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0))
    assert enforcement(s.feed(T0 + S, QUOTE, quote(MNQ, 21000.00))) == []  # not armed yet
    assert enforcement(s.feed(T0 + 2 * S, QUOTE, quote(MNQ, 21000.25))) == []  # armed
    out = s.feed(T0 + 3 * S, QUOTE, quote(MNQ, 21000.00))
    assert shape(out) == [("RULE-005", "close_position", MNQ)]


# ----- RULE-006 trade_frequency_limit ---------------------------------------------------------------
def test_006_a() -> None:
    s = Session(config({"trade_frequency_limit": {"per_minute": {"limit": 3, "cooldown_seconds": 60}}}))
    times = [T0, T0 + 10 * S, T0 + 25 * S, T0 + 40 * S]
    for i, at in enumerate(times[:3], start=1):
        assert enforcement(s.feed(at, TRADE, trade(i, None if i == 1 else -10.0, at))) == []
    out = enforcement(s.feed(times[3], TRADE, trade(4, 5.0, times[3])))
    assert [(a["rule"], a["action"]) for a in out] == [("RULE-006", "lockout")]  # no close, no cancel
    assert out[0]["lockout"] == {"scope": "account", "kind": "cooldown", "until": z(times[3] + 60 * S)}
    # The cooldown ends on its own 60 s later.
    s.tick(times[3] + 70 * S)
    assert [(a["at"], a["action"]) for a in s.log if a["action"] == "unlock"] == [
        (z(times[3] + 60 * S), "unlock")
    ]


def test_006_b() -> None:
    s = Session(
        config(
            {
                "trade_frequency_limit": {
                    "per_minute": {"limit": 3, "cooldown_seconds": 60},
                    "per_hour": {"limit": 10, "cooldown_seconds": 1800},
                }
            }
        )
    )
    times = [T0 + timedelta(minutes=5 * k) for k in range(7)]  # 7 trades 5 minutes apart
    last = times[-1] + timedelta(minutes=5)
    times += [last, last + 10 * S, last + 20 * S, last + 30 * S]  # 8th..11th: 4 within a minute
    out: list[dict] = []
    for i, at in enumerate(times[:10], start=1):
        out += enforcement(s.feed(at, TRADE, trade(i, 1.0, at)))
    assert out == []  # 10 in the hour is not > 10, 3 in the minute is not > 3
    out = enforcement(s.feed(times[10], TRADE, trade(11, 1.0, times[10])))
    assert [(a["rule"], a["action"]) for a in out] == [("RULE-006", "lockout")]
    assert out[0]["lockout"] == {"scope": "account", "kind": "cooldown", "until": z(times[10] + 1800 * S)}
    assert len(s.engine.lockouts(123)) == 1


# ----- RULE-007 cooldown_after_loss -----------------------------------------------------------------
TIERS = {
    "tiers": [
        {"loss_amount": 100, "cooldown_seconds": 300},
        {"loss_amount": 200, "cooldown_seconds": 900},
        {"loss_amount": 300, "cooldown_seconds": 1800},
    ]
}


def _cooldown_after(pnl: float) -> list[dict]:
    s = Session(config({"cooldown_after_loss": TIERS}))
    s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0))
    return enforcement(s.feed(T0 + S, TRADE, trade(1, pnl, T0 + S)))


def test_007_a() -> None:
    out = _cooldown_after(-250.0)
    assert [(a["rule"], a["action"]) for a in out] == [("RULE-007", "lockout")]  # no close
    assert out[0]["lockout"] == {"scope": "account", "kind": "cooldown", "until": z(T0 + S + 900 * S)}


def test_007_b() -> None:
    out = _cooldown_after(-100.00)
    assert [(a["rule"], a["action"]) for a in out] == [("RULE-007", "lockout")]
    assert out[0]["lockout"]["until"] == z(T0 + S + 300 * S)  # inclusive tier


def test_007_c() -> None:
    assert _cooldown_after(-75.0) == []
    assert _cooldown_after(-99.99) == []


# ----- RULE-008 no_stop_loss_grace ------------------------------------------------------------------
def test_008_a() -> None:
    s = Session(config({"no_stop_loss_grace": {"grace_period_seconds": 30}}))
    assert enforcement(s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0))) == []
    assert enforcement(s.tick(T0 + 29 * S)) == []
    out = s.tick(T0 + 45 * S)  # the replay grid ticks at t+30 on the way
    assert shape(out) == [("RULE-008", "close_position", MNQ)]
    assert out[0]["at"] == z(T0 + 30 * S)
    assert s.engine.lockouts(123) == []


def test_008_b() -> None:
    s = Session(config({"no_stop_loss_grace": {"grace_period_seconds": 30}}))
    s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0))
    stop = order(7, MNQ, side=1, stop=20990.0, at=T0 + 10 * S)
    assert enforcement(s.feed(T0 + 10 * S, ORDER, stop)) == []
    assert enforcement(s.tick(T0 + 120 * S)) == []
    assert enforcement(s.log) == []


def test_008_c() -> None:
    s = Session(config({"no_stop_loss_grace": {"grace_period_seconds": 30}}))
    s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0, short=True))
    # A sell stop cannot protect a short (wrong side), even with a price above the entry.
    assert enforcement(s.feed(T0 + 5 * S, ORDER, order(7, MNQ, side=1, stop=21010.0, at=T0 + 5 * S))) == []
    assert enforcement(s.tick(T0 + 29 * S)) == []
    out = s.tick(T0 + 40 * S)
    assert shape(out) == [("RULE-008", "close_position", MNQ)]
    assert out[0]["at"] == z(T0 + 30 * S)


def test_008_d() -> None:
    """The product's own breakeven stop (RULE-012) and a trader's stop in profit both protect."""
    s = Session(
        config(
            {
                "no_stop_loss_grace": {"grace_period_seconds": 30},
                "trade_management": {
                    "auto_stop_loss": {"enabled": True, "stop_loss_ticks": 10},
                    "breakeven": {"enabled": True, "trigger_ticks": 8, "offset_ticks": 0},
                },
            }
        )
    )
    out = s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0))
    assert [(a["rule"], a["action"], a["stopPrice"]) for a in out] == [("RULE-012", "place_stop", "20997.50")]
    ours = dict(order(50, MNQ, side=1, stop=20997.5, at=T0 + S), customTag="rm-" + "0" * 20)
    assert enforcement(s.feed(T0 + S, ORDER, ours)) == []
    # 8 ticks in profit: RULE-012 moves its stop to the entry price (breakeven).
    out = s.feed(T0 + 5 * S, QUOTE, quote(MNQ, 21002.0, T0 + 5 * S))
    assert [(a["rule"], a["action"], a["orderId"], a["stopPrice"]) for a in out] == [
        ("RULE-012", "modify_stop", 50, "21000.00")
    ]
    moved = dict(ours, stopPrice=21000.0, updateTimestamp=z(T0 + 6 * S))
    assert enforcement(s.feed(T0 + 6 * S, ORDER, moved)) == []  # at the entry: still a valid stop
    # Later the trader adds a sell stop in profit (the market is above it, as the broker requires).
    assert enforcement(s.feed(T0 + 20 * S, QUOTE, quote(MNQ, 21005.0, T0 + 20 * S))) == []
    trader = order(51, MNQ, side=1, stop=21003.0, at=T0 + 21 * S)
    assert enforcement(s.feed(T0 + 21 * S, ORDER, trader)) == []
    # Well past the grace period, counted from the open and from each stop change: nothing.
    assert enforcement(s.tick(T0 + 120 * S)) == []
    # The product's stop goes away; the trader's stop at 21003 (3 points in profit) alone protects.
    gone = dict(moved, status=3, updateTimestamp=z(T0 + 121 * S))
    assert enforcement(s.feed(T0 + 121 * S, ORDER, gone)) == []
    assert enforcement(s.tick(T0 + 300 * S)) == []
    assert [a for a in s.log if a["rule"] == "RULE-008"] == []
    assert s.engine.position_sizes(123) == {MNQ: 1}


# ----- RULE-009 session_block_outside ---------------------------------------------------------------
SESSION = {
    "session_block_outside": {
        "window": {"start": "08:30", "end": "15:00", "timezone": "America/Chicago"},
        "close_at_session_end": True,
    }
}


def test_009_a() -> None:
    at = ct(2026, 11, 17, 16, 0)  # Tuesday 16:00 CT
    s = Session(config(SESSION), start=at - 60 * S)
    out = s.feed(at, POSITION, pos(MNQ, 1, 21000.0, at))
    assert shape(out) == [("RULE-009", "close_position", MNQ), ("RULE-009", "lockout", None)]
    assert out[-1]["lockout"] == {
        "scope": "account",
        "kind": "until_session_start",
        "until": z(ct(2026, 11, 18, 8, 30)),  # Wednesday 08:30 CT
    }


def test_009_b() -> None:
    opened = ct(2026, 11, 20, 10, 0)  # Friday 10:00 CT, inside
    s = Session(config(SESSION), start=opened)
    assert enforcement(s.feed(opened, POSITION, pos(MNQ, 1, 21000.0, opened))) == []
    assert enforcement(s.tick(ct(2026, 11, 20, 14, 59, 59))) == []
    out = s.tick(ct(2026, 11, 20, 15, 0, 30))
    assert shape(out) == [
        ("RULE-009", "close_all", None),
        ("RULE-009", "cancel_all", None),
        ("RULE-009", "lockout", None),
    ]
    assert {a["at"] for a in out} == {z(ct(2026, 11, 20, 15, 0))}
    assert out[-1]["lockout"] == {
        "scope": "account",
        "kind": "until_session_start",
        "until": z(ct(2026, 11, 23, 8, 30)),  # Monday 08:30 CT
    }


def test_009_c() -> None:
    at = ct(2026, 12, 25, 10, 0)  # Friday, Christmas, would be inside the window on a normal day
    s = Session(config(SESSION, holidays=[{"date": "2026-12-25", "name": "Christmas"}]), start=at - 60 * S)
    out = s.feed(at, POSITION, pos(MNQ, 1, 21000.0, at))
    assert shape(out) == [("RULE-009", "close_position", MNQ), ("RULE-009", "lockout", None)]
    assert out[-1]["lockout"]["until"] == z(ct(2026, 12, 28, 8, 30)) == "2026-12-28T14:30:00Z"
    # Without the holiday the same position is fine.
    s2 = Session(config(SESSION), start=at - 60 * S)
    assert enforcement(s2.feed(at, POSITION, pos(MNQ, 1, 21000.0, at))) == []


# ----- RULE-010 auth_loss_guard ---------------------------------------------------------------------
def test_010_a() -> None:
    s = Session(config({"auth_loss_guard": {}}))
    assert enforcement(s.feed(T0, ACCOUNT, account_event(True))) == []
    out = s.feed(T0 + S, ACCOUNT, account_event(False))
    assert shape(out) == [
        ("RULE-010", "close_all", None),
        ("RULE-010", "cancel_all", None),
        ("RULE-010", "lockout", None),
    ]
    assert out[-1]["lockout"] == {"scope": "account", "kind": "indefinite", "until": None}


def test_010_b() -> None:
    s = Session(config({"auth_loss_guard": {}}))
    s.feed(T0, ACCOUNT, account_event(False))
    assert enforcement(s.tick(T0 + timedelta(hours=2))) == []  # indefinite: does not run out
    out = s.feed(T0 + timedelta(hours=2, seconds=1), ACCOUNT, account_event(True))
    assert shape(out) == [("RULE-010", "unlock", None)]
    assert out[0]["lockout"]["kind"] == "indefinite"
    assert s.engine.lockouts(123) == []


# ----- RULE-011 symbol_blocks -----------------------------------------------------------------------
def test_011_a() -> None:
    s = Session(config({"symbol_blocks": {"blocked_symbols": ["RTY"], "close_existing": True}}))
    assert enforcement(s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0))) == []
    out = s.feed(T0 + S, POSITION, pos(RTY, 1, 2400.0, T0 + S))
    assert shape(out) == [("RULE-011", "close_position", RTY), ("RULE-011", "lockout", None)]
    assert out[-1]["lockout"] == {"scope": "symbol", "symbol": "RTY", "kind": "permanent", "until": None}
    # MNQ keeps trading.
    assert enforcement(s.feed(T0 + 2 * S, POSITION, pos(MNQ, 2, 21000.0, T0))) == []
    assert enforcement(s.feed(T0 + 3 * S, ORDER, order(9, MNQ, side=0, otype=1, limit=20990.0))) == []


def test_011_b() -> None:
    s = Session(config({"symbol_blocks": {"blocked_symbols": ["RTY"]}}))
    out = s.feed(T0, ORDER, order(5, RTY, side=0, otype=1, limit=2400.0))
    assert [(a["rule"], a["action"], a["orderId"], a["contractId"]) for a in enforcement(out)] == [
        ("RULE-011", "cancel_order", 5, RTY)
    ]
    # A working MNQ order is left alone.
    assert enforcement(s.feed(T0 + S, ORDER, order(6, MNQ, side=0, otype=1, limit=20990.0))) == []


# ----- RULE-012 trade_management --------------------------------------------------------------------
def test_012_a() -> None:
    s = Session(config({"trade_management": {"auto_stop_loss": {"enabled": True, "stop_loss_ticks": 10}}}))
    out = enforcement(s.feed(T0, POSITION, pos(MNQ, 2, 21000.0, T0)))
    assert [(a["rule"], a["action"], a["contractId"], a["side"], a["size"], a["stopPrice"]) for a in out] == [
        ("RULE-012", "place_stop", MNQ, 1, 2, "20997.50")
    ]


# ----- the lockout gate -----------------------------------------------------------------------------
def test_G_a() -> None:
    s = Session(config({"daily_realized_loss": {"loss_limit": 500}}))
    s.feed(T0, TRADE, trade(1, -600.0))
    assert [lk.kind for lk in s.engine.lockouts(123)] == ["until_reset"]
    out = s.feed(T0 + S, POSITION, pos(MNQ, 1, 21000.0, T0 + S))
    assert shape(out) == [("LOCKOUT", "close_position", MNQ)]
    out = s.feed(T0 + 2 * S, ORDER, order(8, MNQ, side=0, otype=1, limit=20990.0, at=T0 + 2 * S))
    assert shape(out) == [("LOCKOUT", "cancel_order", 8)]
    # A trader exit (the position getting smaller) is never blocked.
    assert enforcement(s.feed(T0 + 3 * S, POSITION, {"accountId": 123, "contractId": MNQ, "size": 0})) == []


def test_G_b() -> None:
    s = Session(config({"cooldown_after_loss": TIERS}))
    s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0))
    out = enforcement(s.feed(T0 + S, TRADE, trade(1, -150.0, T0 + S)))
    assert [a["lockout"]["kind"] for a in out] == ["cooldown"]
    protective = order(20, MNQ, side=1, size=1, otype=4, stop=20990.0, at=T0 + 2 * S)
    assert enforcement(s.feed(T0 + 2 * S, ORDER, protective)) == []  # the stop is kept
    buy = order(21, MNQ, side=0, size=1, otype=1, limit=20995.0, at=T0 + 3 * S)
    out = s.feed(T0 + 3 * S, ORDER, buy)
    assert shape(out) == [("LOCKOUT", "cancel_order", 21)]
    # rules.md §3 for cooldowns: only exposure beyond what was held is taken away.
    out = s.feed(T0 + 4 * S, POSITION, pos(MNQ, 3, 21000.0, T0))
    assert [(a["rule"], a["action"], a["contractId"], a["size"]) for a in enforcement(out)] == [
        ("LOCKOUT", "reduce_position", MNQ, 2)
    ]
    assert shape(s.feed(T0 + 5 * S, POSITION, pos(ES, 1, 6000.0, T0 + 5 * S))) == [
        ("LOCKOUT", "close_position", ES)
    ]
    assert enforcement(s.feed(T0 + 6 * S, POSITION, pos(MNQ, 1, 21000.0, T0))) == []  # back to what was held


# ----- the daily reset ------------------------------------------------------------------------------
def test_R_a() -> None:
    """Friday 2026-03-06 to Tuesday 03-10 across the switch to CDT on Sunday 03-08.

    Each day a loss locks the account until the reset; the reset's unlock shows when it ran.
    """
    start = ct(2026, 3, 6, 9, 0)
    s = Session(config({"daily_realized_loss": {"loss_limit": 100}}), start=start)
    for day in range(6, 11):
        at = ct(2026, 3, day, 12, 0)
        out = s.feed(at, TRADE, trade(day, -150.0, at))
        assert only(out, "lockout")[0]["lockout"]["until"] == z(ct(2026, 3, day, 17, 0))
    s.tick(ct(2026, 3, 10, 20, 0))
    resets = [a["at"] for a in s.log if a["rule"] == "RESET"]
    assert resets == [
        "2026-03-06T23:00:00Z",  # CST: 17:00 = 23:00 UTC
        "2026-03-07T23:00:00Z",
        "2026-03-08T22:00:00Z",  # CDT from 02:00 on Sunday: 17:00 = 22:00 UTC
        "2026-03-09T22:00:00Z",
        "2026-03-10T22:00:00Z",
    ]
    assert s.engine.last_reset(123) == ct(2026, 3, 10, 17, 0)
