"""RULE-009 trading windows across DST, weekends and holidays (rules.md §4 RULE-009, §5.3).

Every window is wall-clock time in its zone, so 08:30 America/Chicago is 14:30 UTC in winter and
13:30 UTC in summer; the tests below use UTC instants on both sides of the 2026 changes (Sunday
March 8 and Sunday November 1) and check where the lockouts end. Holidays come from a real
``holidays.yaml`` loaded with the configuration loader in one test, from plain data elsewhere.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from risk_manager.config.loader import load_config
from tests.engine.conftest import ES, MNQ, Session, config, ct, enforcement, order, pos, shape, utc, z

S = timedelta(seconds=1)
POSITION, ORDER = "GatewayUserPosition", "GatewayUserOrder"
DAY_WINDOW = {"start": "08:30", "end": "15:00", "timezone": "America/Chicago"}
ES_OVERNIGHT = {
    "start": "17:00",
    "end": "16:00",
    "timezone": "America/Chicago",
    "days": ["sun", "mon", "tue", "wed", "thu"],
}


def rule(**extra: object) -> dict:
    return {"session_block_outside": {"window": DAY_WINDOW, "close_at_session_end": True, **extra}}


def lock_of(actions: list[dict]) -> dict:
    (lock,) = [a["lockout"] for a in actions if a["action"] == "lockout"]
    return lock


# ----- DST ------------------------------------------------------------------------------------------
def test_same_utc_instant_is_outside_before_and_inside_after_the_spring_change() -> None:
    # 14:00 UTC is 08:00 CST on Friday March 6 (before the open) but 09:00 CDT on Monday March 9.
    friday, monday = utc(2026, 3, 6, 14, 0), utc(2026, 3, 9, 14, 0)
    s = Session(config(rule()), start=friday - S)
    out = s.feed(friday, POSITION, pos(MNQ, 1, 21000.0, friday))
    assert shape(out) == [("RULE-009", "close_position", MNQ), ("RULE-009", "lockout", None)]
    assert lock_of(out)["until"] == "2026-03-06T14:30:00Z"  # 08:30 CST the same morning
    s = Session(config(rule()), start=monday - S)
    assert enforcement(s.feed(monday, POSITION, pos(MNQ, 1, 21000.0, monday))) == []


def test_lockout_over_the_spring_weekend_ends_at_monday_open_in_summer_time() -> None:
    at = ct(2026, 3, 6, 16, 0)  # Friday after the close, CST
    s = Session(config(rule()), start=at - S)
    out = s.feed(at, POSITION, pos(MNQ, 1, 21000.0, at))
    assert lock_of(out) == {
        "scope": "account",
        "kind": "until_session_start",
        "until": "2026-03-09T13:30:00Z",  # Monday 08:30 CDT, not 14:30
    }
    # The lockout ends by itself exactly then; a position afterwards is left alone.
    s.tick(utc(2026, 3, 9, 13, 30, 5))
    assert [(a["at"], a["action"]) for a in s.log if a["action"] == "unlock"] == [
        ("2026-03-09T13:30:00Z", "unlock")
    ]
    later = utc(2026, 3, 9, 13, 31)
    assert enforcement(s.feed(later, POSITION, pos(MNQ, 1, 21000.0, later))) == []


def test_lockout_over_the_fall_weekend_ends_at_monday_open_in_standard_time() -> None:
    at = ct(2026, 10, 30, 15, 30)  # Friday after the close, CDT
    s = Session(config(rule()), start=at - S)
    out = s.feed(at, ORDER, order(4, MNQ, side=0, otype=1, limit=20990.0, at=at))
    assert shape(out) == [("RULE-009", "cancel_order", 4), ("RULE-009", "lockout", None)]
    assert lock_of(out)["until"] == "2026-11-02T14:30:00Z"  # Monday 08:30 CST


def test_window_end_on_the_first_summer_monday_flattens_at_15_00_local() -> None:
    opened = ct(2026, 3, 9, 10, 0)
    s = Session(config(rule()), start=opened)
    assert enforcement(s.feed(opened, POSITION, pos(MNQ, 2, 21000.0, opened))) == []
    assert enforcement(s.tick(utc(2026, 3, 9, 19, 59, 59))) == []  # 14:59:59 CDT
    out = s.tick(utc(2026, 3, 9, 21, 0))
    assert shape(out) == [
        ("RULE-009", "close_all", None),
        ("RULE-009", "cancel_all", None),
        ("RULE-009", "lockout", None),
    ]
    assert {a["at"] for a in out} == {"2026-03-09T20:00:00Z"}  # 15:00 CDT, not 21:00 UTC
    assert lock_of(out)["until"] == "2026-03-10T13:30:00Z"


def test_no_close_at_the_window_end_when_flat() -> None:
    s = Session(config(rule()), start=ct(2026, 11, 17, 14, 0))
    assert s.tick(ct(2026, 11, 17, 15, 30)) == []


# ----- weekends -------------------------------------------------------------------------------------
def test_saturday_position_is_closed_and_locked_until_monday() -> None:
    at = ct(2026, 11, 21, 11, 0)  # Saturday 11:00, the time of day is inside the window
    s = Session(config(rule()), start=at - S)
    out = s.feed(at, POSITION, pos(MNQ, 1, 21000.0, at))
    assert shape(out) == [("RULE-009", "close_position", MNQ), ("RULE-009", "lockout", None)]
    assert lock_of(out)["until"] == z(ct(2026, 11, 23, 8, 30))


def test_a_smaller_position_outside_the_window_is_left_alone() -> None:
    opened = ct(2026, 11, 20, 14, 0)  # Friday, inside
    s = Session(config(rule(close_at_session_end=False)), start=opened)
    s.feed(opened, POSITION, pos(MNQ, 3, 21000.0, opened))
    assert s.tick(ct(2026, 11, 20, 15, 5)) == []  # no flattening configured
    at = ct(2026, 11, 20, 16, 0)
    assert enforcement(s.feed(at, POSITION, pos(MNQ, 1, 21000.0, opened))) == []  # an exit


def test_sunday_evening_session_opens_at_17_00() -> None:
    cfg = config(rule(per_symbol={"ES": ES_OVERNIGHT}))
    early = ct(2026, 11, 22, 16, 30)  # Sunday, before the overnight session opens
    s = Session(cfg, start=early - S)
    out = s.feed(early, POSITION, pos(ES, 1, 6000.0, early))
    assert shape(out) == [("RULE-009", "close_position", ES), ("RULE-009", "lockout", None)]
    assert lock_of(out) == {
        "scope": "symbol",
        "symbol": "ES",
        "kind": "until_session_start",
        "until": z(ct(2026, 11, 22, 17, 0)),
    }
    s.feed(early + S, POSITION, {"accountId": 123, "contractId": ES, "size": 0})
    # The symbol lockout runs out at the open; from then on ES may trade.
    opens = ct(2026, 11, 22, 17, 0)
    out = s.feed(opens, POSITION, pos(ES, 1, 6000.0, opens))
    assert [a["action"] for a in out] == ["unlock"]  # the replay grid ticks at 17:00 first
    assert [(a["at"], a["action"]) for a in s.log if a["action"] == "unlock"] == [(z(opens), "unlock")]


def test_sunday_evening_mnq_follows_the_global_window() -> None:
    cfg = config(rule(per_symbol={"ES": ES_OVERNIGHT}))
    at = ct(2026, 11, 22, 18, 0)  # ES is open, the global (day) window is not
    s = Session(cfg, start=at - S)
    assert enforcement(s.feed(at, POSITION, pos(ES, 1, 6000.0, at))) == []
    out = s.feed(at + S, POSITION, pos(MNQ, 1, 21000.0, at + S))
    assert shape(out) == [("RULE-009", "close_position", MNQ), ("RULE-009", "lockout", None)]
    assert lock_of(out) == {
        "scope": "account",
        "kind": "until_session_start",
        "until": z(ct(2026, 11, 23, 8, 30)),
    }


def test_friday_16_00_close_of_the_overnight_session() -> None:
    cfg = config(rule(per_symbol={"ES": ES_OVERNIGHT}))
    held = ct(2026, 11, 20, 10, 0)  # Friday, inside Thursday's overnight session
    s = Session(cfg, start=held)
    assert enforcement(s.feed(held, POSITION, pos(ES, 1, 6000.0, held))) == []
    stop = order(11, ES, side=1, stop=5990.0, at=held)
    assert enforcement(s.feed(held, ORDER, stop)) == []
    assert enforcement(s.tick(ct(2026, 11, 20, 15, 59, 59))) == []  # the day window's end: no MNQ held
    out = s.tick(ct(2026, 11, 20, 16, 0, 30))
    assert shape(out) == [
        ("RULE-009", "close_position", ES),
        ("RULE-009", "cancel_order", 11),
        ("RULE-009", "lockout", None),
    ]
    assert {a["at"] for a in out} == {z(ct(2026, 11, 20, 16, 0))}
    assert lock_of(out) == {
        "scope": "symbol",
        "symbol": "ES",
        "kind": "until_session_start",
        "until": z(ct(2026, 11, 22, 17, 0)),  # Sunday evening, Friday and Saturday are not session days
    }


# ----- holidays -------------------------------------------------------------------------------------
def test_holiday_from_a_holidays_file_closes_the_day(tmp_path: Path) -> None:
    """Thanksgiving from a real holidays.yaml: closed all day; Friday is a normal day."""
    risk = {"version": 1, "rules": {"session_block_outside": {"window": DAY_WINDOW}}}
    for key in (
        "max_contracts",
        "max_contracts_per_instrument",
        "daily_realized_loss",
        "daily_unrealized_loss",
        "max_unrealized_profit",
        "trade_frequency_limit",
        "cooldown_after_loss",
        "no_stop_loss_grace",
        "auth_loss_guard",
        "symbol_blocks",
        "trade_management",
    ):
        risk["rules"][key] = {"enabled": False}
    accounts = {
        "version": 1,
        "gateway": {
            "environment": "custom",
            "api_url": "http://127.0.0.1:1",
            "user_hub_url": "http://127.0.0.1:1/hubs/user",
            "market_hub_url": "http://127.0.0.1:1/hubs/market",
        },
        "logins": [{"name": "main", "user_name": "t@example.com", "accounts": [{"id": 123, "name": "A"}]}],
    }
    (tmp_path / "risk_config.yaml").write_text(json.dumps(risk), encoding="utf-8")
    (tmp_path / "accounts.yaml").write_text(json.dumps(accounts), encoding="utf-8")
    (tmp_path / "holidays.yaml").write_text(
        "holidays:\n  - {date: 2026-11-26, name: Thanksgiving}\n  - 2026-12-25\n", encoding="utf-8"
    )
    cfg = load_config(tmp_path, env={})
    at = ct(2026, 11, 26, 10, 0)
    s = Session(cfg, start=at - S)
    out = s.feed(at, POSITION, pos(MNQ, 1, 21000.0, at))
    assert shape(out) == [("RULE-009", "close_position", MNQ), ("RULE-009", "lockout", None)]
    assert lock_of(out)["until"] == z(ct(2026, 11, 27, 8, 30))
    friday = ct(2026, 11, 27, 9, 0)
    s.tick(friday)
    assert enforcement(s.feed(friday, POSITION, pos(MNQ, 1, 21000.0, friday))) == []


def test_holiday_monday_moves_the_next_session_to_tuesday() -> None:
    at = ct(2026, 9, 4, 15, 30)  # Friday before Labor Day
    s = Session(config(rule(), holidays=[{"date": "2026-09-07", "name": "Labor Day"}]), start=at - S)
    out = s.feed(at, POSITION, pos(MNQ, 1, 21000.0, at))
    assert lock_of(out)["until"] == z(ct(2026, 9, 8, 8, 30)) == "2026-09-08T13:30:00Z"


def test_holidays_are_ignored_when_not_respected() -> None:
    at = ct(2026, 12, 25, 10, 0)
    cfg = config(rule(respect_holidays=False), holidays=["2026-12-25"])
    s = Session(cfg, start=at - S)
    assert enforcement(s.feed(at, POSITION, pos(MNQ, 1, 21000.0, at))) == []


def test_overnight_session_belongs_to_the_day_it_starts() -> None:
    """Thanksgiving (Thu 2026-11-26) as a holiday: Wednesday's overnight session still runs until
    Thursday 16:00, but no session starts on Thursday evening; the next one opens on Sunday."""
    cfg = config(rule(per_symbol={"ES": ES_OVERNIGHT}), holidays=["2026-11-26"])
    morning = ct(2026, 11, 26, 10, 0)
    s = Session(cfg, start=morning - S)
    assert enforcement(s.feed(morning, POSITION, pos(ES, 1, 6000.0, morning))) == []
    out = s.tick(ct(2026, 11, 26, 16, 0))
    assert shape(out) == [("RULE-009", "close_position", ES), ("RULE-009", "lockout", None)]
    assert lock_of(out)["until"] == z(ct(2026, 11, 29, 17, 0))
    evening = ct(2026, 11, 26, 18, 0)
    s.feed(evening - S, POSITION, {"accountId": 123, "contractId": ES, "size": 0})
    out = s.feed(evening, POSITION, pos(ES, 1, 6000.0, evening))
    assert shape(out) == [("LOCKOUT", "close_position", ES)]  # the symbol lockout is in force
