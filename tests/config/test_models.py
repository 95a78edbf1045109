"""The model API the engine and daemon read: defaults, derived values, immutability."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from risk_manager.config.merge import deep_merge
from risk_manager.config.models import (
    RULE_IDS,
    AccountConfig,
    MaxContractsPerInstrumentRule,
    RiskConfig,
    RulesConfig,
    SessionWindow,
)


@pytest.mark.parametrize(
    ("action", "limit"),
    [("block", 0), ("allow_unlimited", None), ("allow_with_limit:1", 1), ("allow_with_limit:12", 12)],
)
def test_unknown_symbol_limit(action: str, limit: int | None) -> None:
    assert MaxContractsPerInstrumentRule(unknown_symbol_action=action).unknown_symbol_limit == limit


def test_session_window_helpers() -> None:
    window = SessionWindow(start=time(17, 0), end=time(16, 0), days=["sun", "mon"])
    assert window.weekdays() == frozenset({6, 0})
    assert window.zone() == ZoneInfo("America/Chicago")
    assert SessionWindow.model_validate({"start": "08:30", "end": "15:00"}).weekdays() == frozenset(range(5))


def test_models_are_frozen_and_reject_unknown_fields() -> None:
    rules = RulesConfig()
    with pytest.raises(ValidationError):
        rules.max_contracts.limit = 9  # type: ignore[misc]
    with pytest.raises(ValidationError):
        RulesConfig.model_validate({"max_contracts": {"limit": 3, "extra": 1}})


def test_risk_config_global_alias_and_name() -> None:
    by_alias = RiskConfig.model_validate({"global": {"include_fees": True}})
    assert by_alias.global_.include_fees is True
    assert RiskConfig().global_.max_quote_age_seconds == 10
    assert RiskConfig().rules.daily_unrealized_loss.loss_limit == Decimal(300)


def test_account_defaults() -> None:
    account = AccountConfig(id=1, name="A")
    assert account.reset_time == time(17, 0)
    assert account.zone() == ZoneInfo("America/Chicago")
    assert account.rule_overrides == {}


def test_rule_ids_follow_the_spec_order() -> None:
    assert RULE_IDS["max_contracts"] == "RULE-001"
    assert RULE_IDS["auth_loss_guard"] == "RULE-010"
    assert RULE_IDS["trade_management"] == "RULE-012"


def test_deep_merge_does_not_modify_its_inputs() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    override = {"a": {"c": [3]}, "e": {"f": 1}}
    merged = deep_merge(base, override)
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": {"f": 1}}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert override == {"a": {"c": [3]}, "e": {"f": 1}}
