"""The settings lock (docs/rules-extra.md §5): what loosens a limit, per rule, and the refusal a
reload gets (file, key, line, "loosening is locked until <next reset>")."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from risk_manager.config.loader import AppConfig
from risk_manager.config.loosening import rule_loosenings
from risk_manager.config.models import RulesConfig
from risk_manager.config.settings_lock import settings_lock_issues
from tests.config.conftest import load, write

NOW = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)  # Tuesday 10:00 Chicago; next reset 17:00 CST


def _block(rule: str, **fields: Any) -> dict[str, Any]:
    base = RulesConfig().model_dump()[rule]
    base.update(enabled=True)
    for key, value in fields.items():
        base[key] = value
    return base


WINDOW = {
    "start": "08:30",
    "end": "15:00",
    "timezone": "America/Chicago",
    "days": ["mon", "tue", "wed", "thu", "fri"],
}


def _window(**kw: Any) -> dict[str, Any]:
    from risk_manager.config.models import SessionWindow

    return SessionWindow.model_validate({**WINDOW, **kw}).model_dump()


CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # (rule, old fields, new fields, loosens?)
    ("max_contracts", {"limit": 5}, {"limit": 6}, True),
    ("max_contracts", {"limit": 5}, {"limit": 4}, False),
    ("max_contracts", {"count_type": "gross"}, {"count_type": "net"}, True),
    ("max_contracts", {"count_type": "net"}, {"count_type": "gross"}, False),
    ("max_contracts", {"enforcement": "close_all"}, {"enforcement": "reduce_to_limit"}, True),
    ("max_contracts_per_instrument", {"limits": {"MNQ": 2}}, {"limits": {"MNQ": 3}}, True),
    ("max_contracts_per_instrument", {"limits": {"MNQ": 2}}, {"limits": {"MNQ": 1, "ES": 1}}, False),
    (
        "max_contracts_per_instrument",
        {"limits": {"MNQ": 2, "ES": 1}},
        {"limits": {"MNQ": 2}},
        False,
    ),  # unknown: 1
    (
        "max_contracts_per_instrument",
        {"limits": {"MNQ": 2}},
        {"limits": {}},
        False,
    ),  # MNQ falls to unknown's 1
    (
        "max_contracts_per_instrument",
        {"limits": {"MNQ": 2}, "unknown_symbol_action": "allow_unlimited"},
        {"limits": {}, "unknown_symbol_action": "allow_unlimited"},
        True,
    ),
    (
        "max_contracts_per_instrument",
        {"unknown_symbol_action": "block"},
        {"unknown_symbol_action": "allow_with_limit:1"},
        True,
    ),
    (
        "max_contracts_per_instrument",
        {"unknown_symbol_action": "allow_unlimited"},
        {"unknown_symbol_action": "allow_with_limit:3"},
        False,
    ),
    ("daily_realized_loss", {"loss_limit": 500}, {"loss_limit": 600}, True),
    ("daily_realized_loss", {"loss_limit": 500}, {"loss_limit": 400}, False),
    ("daily_realized_loss", {"lockout_until": "permanent"}, {"lockout_until": "daily_reset"}, True),
    ("daily_realized_loss", {"ladder": {"warn_at": None, "reduce_only_at": 80}}, {"ladder": None}, True),
    (
        "daily_realized_loss",
        {"ladder": {"warn_at": None, "reduce_only_at": 80}},
        {"ladder": {"warn_at": None, "reduce_only_at": 90}},
        True,
    ),
    ("daily_realized_loss", {"ladder": None}, {"ladder": {"warn_at": [50], "reduce_only_at": 70}}, False),
    (
        "daily_realized_loss",
        {"ladder": {"warn_at": [50], "reduce_only_at": 80}},
        {"ladder": {"warn_at": [60], "reduce_only_at": 80}},
        False,
    ),
    ("daily_unrealized_loss", {"scope": "total"}, {"scope": "per_position"}, True),
    ("max_unrealized_profit", {"profit_target": 1000}, {"profit_target": 900}, False),
    ("max_unrealized_profit", {"profit_target": 1000}, {"profit_target": 1100}, True),
    (
        "trade_frequency_limit",
        {"per_minute": {"limit": 3, "cooldown_seconds": 60}},
        {"per_minute": None},
        True,
    ),
    (
        "trade_frequency_limit",
        {"per_minute": None},
        {"per_minute": {"limit": 3, "cooldown_seconds": 60}},
        False,
    ),
    (
        "trade_frequency_limit",
        {"per_hour": {"limit": 30, "cooldown_seconds": 1800}},
        {"per_hour": {"limit": 30, "cooldown_seconds": 600}},
        True,
    ),
    ("trade_frequency_limit", {"per_session": {"limit": 50}}, {"per_session": {"limit": 40}}, False),
    (
        "cooldown_after_loss",
        {"tiers": [{"loss_amount": 100, "cooldown_seconds": 300}]},
        {"tiers": [{"loss_amount": 100, "cooldown_seconds": 200}]},
        True,
    ),
    (
        "cooldown_after_loss",
        {"tiers": [{"loss_amount": 100, "cooldown_seconds": 300}]},
        {"tiers": [{"loss_amount": 150, "cooldown_seconds": 300}]},
        True,
    ),
    (
        "cooldown_after_loss",
        {"tiers": [{"loss_amount": 100, "cooldown_seconds": 300}]},
        {
            "tiers": [
                {"loss_amount": 50, "cooldown_seconds": 300},
                {"loss_amount": 100, "cooldown_seconds": 600},
            ]
        },
        False,
    ),
    ("no_stop_loss_grace", {"grace_period_seconds": 30}, {"grace_period_seconds": 60}, True),
    ("session_block_outside", {"window": _window()}, {"window": _window(start="09:00", end="14:00")}, False),
    ("session_block_outside", {"window": _window()}, {"window": _window(end="15:15")}, True),
    (
        "session_block_outside",
        {"window": _window()},
        {"window": _window(days=["mon", "tue", "wed", "thu", "fri", "sat"])},
        True,
    ),
    ("session_block_outside", {"respect_holidays": True}, {"respect_holidays": False}, True),
    ("auth_loss_guard", {"auto_unlock_on_restore": False}, {"auto_unlock_on_restore": True}, True),
    ("symbol_blocks", {"blocked_symbols": ["RTY", "BTC"]}, {"blocked_symbols": ["RTY"]}, True),
    ("symbol_blocks", {"blocked_symbols": ["RTY"]}, {"blocked_symbols": ["RTY", "CL"]}, False),
    ("trailing_drawdown", {"max_drawdown": 2000}, {"max_drawdown": 2500}, True),
    ("trailing_drawdown", {"buffer": 250}, {"buffer": 100}, True),
    ("trailing_drawdown", {"buffer": 100}, {"buffer": 250}, False),
    ("trailing_drawdown", {"mode": "intraday"}, {"mode": "eod"}, True),
    ("trailing_drawdown", {"lock_at_start": False}, {"lock_at_start": True}, True),
    ("trailing_drawdown", {"floor": 48000}, {"floor": 47500}, True),
    ("trailing_drawdown", {"floor": 48000}, {"floor": 48500}, False),
    ("trailing_drawdown", {"lockout_until": "indefinite"}, {"lockout_until": "daily_reset"}, True),
    ("weekly_limits", {"loss_limit": 1500}, {"loss_limit": None, "profit_target": 2000}, True),
    ("weekly_limits", {"profit_target": None}, {"profit_target": 2000}, False),
    ("weekly_limits", {"week_start": "mon"}, {"week_start": "tue"}, True),
    ("consecutive_losses", {"max_losses": 3}, {"max_losses": 4}, True),
    ("consecutive_losses", {"scratches": "count"}, {"scratches": "reset"}, True),
    ("consecutive_losses", {"scratches": "reset"}, {"scratches": "count"}, False),
    ("consecutive_losses", {"action": "until_reset"}, {"action": "cooldown"}, True),
    ("consecutive_losses", {"cooldown_seconds": 1800}, {"cooldown_seconds": 3600}, False),
    (
        "trade_management",
        {"auto_stop_loss": {"enabled": True, "stop_loss_ticks": 10}},
        {"auto_stop_loss": {"enabled": True, "stop_loss_ticks": 12}},
        True,
    ),
    (
        "trade_management",
        {"auto_stop_loss": {"enabled": True, "stop_loss_ticks": 10}},
        {"auto_stop_loss": {"enabled": False, "stop_loss_ticks": 10}},
        True,
    ),
]


@pytest.mark.parametrize(("rule", "old", "new", "expected"), CASES)
def test_what_loosens_a_limit(rule: str, old: dict[str, Any], new: dict[str, Any], expected: bool) -> None:
    found = rule_loosenings(rule, _block(rule, **old), _block(rule, **new))
    assert bool(found) is expected, found


def test_switching_rules_off_and_on() -> None:
    on, off = _block("daily_realized_loss"), {**_block("daily_realized_loss"), "enabled": False}
    assert [c.why for c in rule_loosenings("daily_realized_loss", on, off)] == ["the rule switched off"]
    assert rule_loosenings("daily_realized_loss", off, on) == []
    assert rule_loosenings("daily_realized_loss", off, {**off, "loss_limit": 9000}) == []


# ----- the refusal, as the daemon's reload gets it ------------------------------------------------------
RISK = {
    "version": 1,
    "global": {"settings_lock": {"enabled": True}},
    "rules": {"daily_realized_loss": {"loss_limit": 500}, "max_contracts": {"limit": 5}},
}


def _configs(
    directory: Path, old: dict[str, Any], new: dict[str, Any], accounts: str | None = None
) -> tuple[AppConfig, AppConfig]:
    if accounts is not None:
        write(directory, "accounts.yaml", accounts)
    write(directory, "risk_config.yaml", json.dumps(old, indent=1))
    before = load(directory)
    write(directory, "risk_config.yaml", json.dumps(new, indent=1))
    return before, load(directory)


def _with(rules: dict[str, Any], **glob: Any) -> dict[str, Any]:
    return {"version": 1, "global": {"settings_lock": {"enabled": True, **glob}}, "rules": rules}


def test_S_a_a_loosening_is_refused_with_file_key_line_and_the_next_reset(minimal: Path) -> None:
    old, new = _configs(
        minimal, RISK, _with({"daily_realized_loss": {"loss_limit": 800}, "max_contracts": {"limit": 5}})
    )
    found = settings_lock_issues(old, new, NOW)
    assert len(found) == 1
    issue = found[0]
    assert (issue.file, issue.path) == ("risk_config.yaml", "rules.daily_realized_loss.loss_limit")
    assert (
        issue.line is not None
        and '"loss_limit": 800' in (minimal / "risk_config.yaml").read_text().splitlines()[issue.line - 1]
    )
    assert issue.message.startswith(
        "loosening is locked until 2026-11-17 17:00 CST (2026-11-17T23:00Z, the next reset of account 123456)"
    )
    assert "daily_realized_loss.loss_limit 500 -> 800 (a higher limit)" in issue.message
    assert "pending: {from: 2026-11-18" in issue.message


def test_S_b_tightening_is_always_allowed(minimal: Path) -> None:
    tighter = _with({"daily_realized_loss": {"loss_limit": 300}, "max_contracts": {"limit": 2}})
    old, new = _configs(minimal, RISK, tighter)
    assert settings_lock_issues(old, new, NOW) == []


def test_S_f_without_the_lock_anything_goes_but_turning_it_off_is_locked(minimal: Path) -> None:
    off = {"version": 1, "rules": {"daily_realized_loss": {"loss_limit": 9000}}}
    old, new = _configs(minimal, off, RISK)
    assert settings_lock_issues(old, new, NOW) == []  # the lock in force decides
    old, new = _configs(minimal, RISK, {**RISK, "global": {}})
    found = settings_lock_issues(old, new, NOW)
    assert [i.path for i in found] == ["global.settings_lock.enabled"]


def test_S_c_first_fill_engages_only_after_the_day_s_first_fill(minimal: Path) -> None:
    lock = _with({"daily_realized_loss": {"loss_limit": 500}}, engage="first_fill")
    old, new = _configs(
        minimal, lock, _with({"daily_realized_loss": {"loss_limit": 800}}, engage="first_fill")
    )
    assert settings_lock_issues(old, new, NOW, lambda _account: False) == []
    assert len(settings_lock_issues(old, new, NOW, lambda _account: True)) == 1


def test_S_d_a_loosening_can_be_scheduled_for_the_next_trading_day(minimal: Path) -> None:
    scheduled = {
        **RISK,
        "pending": {"from": "2026-11-18", "rules": {"daily_realized_loss": {"loss_limit": 800}}},
    }
    old, new = _configs(minimal, RISK, scheduled)
    assert settings_lock_issues(old, new, NOW) == []
    # Dated today it would be in force today: locked like any other loosening.
    today = {**RISK, "pending": {"from": "2026-11-17", "rules": {"daily_realized_loss": {"loss_limit": 800}}}}
    old, new = _configs(minimal, RISK, today)
    found = settings_lock_issues(old, new, NOW)
    assert [(i.file, i.path) for i in found] == [
        ("risk_config.yaml", "pending.rules.daily_realized_loss.loss_limit")
    ]
    # Once its day has come, taking it into `rules` changes nothing that is in force.
    folded = _with({"daily_realized_loss": {"loss_limit": 800}, "max_contracts": {"limit": 5}})
    old, new = _configs(minimal, scheduled, folded)
    assert settings_lock_issues(old, new, datetime(2026, 11, 18, 16, 0, tzinfo=UTC)) == []


ACCOUNTS_TWO = """\
version: 1
gateway: {environment: topstepx}
logins:
  - name: main
    user_name: trader@example.com
    accounts:
      - {id: 1, name: "A"}
      - {id: 2, name: "B", rule_overrides: {max_contracts: {limit: 2}}}
"""


def test_S_e_account_level_loosening_points_at_accounts_yaml(minimal: Path) -> None:
    write(minimal, "accounts.yaml", ACCOUNTS_TWO)
    write(minimal, "risk_config.yaml", json.dumps(RISK))
    old = load(minimal)
    looser = ACCOUNTS_TWO.replace("limit: 2", "limit: 4").replace(
        '{id: 1, name: "A"}', '{id: 1, name: "A", observe_only: true}'
    )
    write(minimal, "accounts.yaml", looser)
    found = settings_lock_issues(old, load(minimal), NOW)
    assert sorted((i.file, i.path, i.line) for i in found) == [
        ("accounts.yaml", "logins[0].accounts[0].observe_only", 7),
        ("accounts.yaml", "logins[0].accounts[1].rule_overrides.max_contracts.limit", 8),
    ]
    write(minimal, "accounts.yaml", ACCOUNTS_TWO.replace('      - {id: 1, name: "A"}\n', ""))
    found = settings_lock_issues(old, load(minimal), NOW)
    assert [(i.path, i.message.split(": ", 1)[1].split(";")[0]) for i in found] == [
        ("logins", "account 1 removed (it would no longer be protected)")
    ]


def test_S_f_global_switches_and_holidays(minimal: Path) -> None:
    write(minimal, "holidays.yaml", "holidays: [2026-12-25, 2027-01-01]\n")
    fees = {**RISK, "global": {"settings_lock": {"enabled": True}, "include_fees": True}}
    old, _ = _configs(minimal, fees, fees)
    write(minimal, "holidays.yaml", "holidays: [2027-01-01]\n")
    write(minimal, "risk_config.yaml", json.dumps(RISK))
    found = settings_lock_issues(old, load(minimal), NOW)
    assert sorted((i.file, i.path) for i in found) == [
        ("holidays.yaml", "holidays"),
        ("risk_config.yaml", "global.include_fees"),
    ]
