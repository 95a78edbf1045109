"""Config of issue 15: RULE-013..015 blocks, ladders, the settings lock option and ``pending`` —
validated with file, key and line like every other block (real files in a temporary directory)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.config.conftest import issues, load, only_issue, write


def test_new_blocks_load_with_their_defaults_off(minimal: Path) -> None:
    rules = load(minimal).risk.rules
    assert not rules.trailing_drawdown.enabled and rules.trailing_drawdown.mode == "eod"
    assert rules.trailing_drawdown.max_drawdown == Decimal(2000) and rules.trailing_drawdown.lock_at_start
    assert not rules.weekly_limits.enabled and rules.weekly_limits.loss_limit == Decimal(1500)
    assert not rules.consecutive_losses.enabled and rules.consecutive_losses.max_losses == 3
    assert rules.daily_realized_loss.ladder is None
    assert not load(minimal).risk.global_.settings_lock.enabled


def test_a_full_configuration_of_the_new_rules(minimal: Path) -> None:
    write(
        minimal,
        "risk_config.yaml",
        """\
        version: 1
        global:
          settings_lock: {enabled: true, engage: first_fill}
        rules:
          daily_realized_loss: {loss_limit: 500, ladder: {warn_at: [75, 50, 50], reduce_only_at: 80}}
          trailing_drawdown: {enabled: true, mode: intraday, max_drawdown: 2500, buffer: 250.50}
          weekly_limits: {enabled: true, pnl: net, loss_limit: null, profit_target: 3000, week_start: sun}
          consecutive_losses: {enabled: true, max_losses: 4, scratch_amount: 5, scratches: ignore, action: until_reset}
        """,
    )
    config = load(minimal)
    rules = config.risk.rules
    assert rules.daily_realized_loss.ladder is not None
    assert (
        rules.daily_realized_loss.ladder.warn_at == [50, 75]
        and rules.daily_realized_loss.ladder.reduce_only_at == 80
    )
    assert rules.trailing_drawdown.buffer == Decimal("250.5")
    assert rules.weekly_limits.loss_limit is None and rules.weekly_limits.week_start == "sun"
    assert rules.consecutive_losses.scratch_amount == Decimal(5)
    assert config.risk.global_.settings_lock.engage == "first_fill"


@pytest.mark.parametrize(
    ("block", "path", "line", "expected"),
    [
        (
            "trailing_drawdown: {max_drawdown: 1000, buffer: 1000}",
            "rules.trailing_drawdown.buffer",
            3,
            "buffer must be smaller than max_drawdown (1000), got 1000",
        ),
        (
            "trailing_drawdown: {starting_balance: 50000, floor: 50001}",
            "rules.trailing_drawdown.floor",
            3,
            "floor 50001 is above starting_balance 50000",
        ),
        (
            "trailing_drawdown: {buffer: -1}",
            "rules.trailing_drawdown.buffer",
            3,
            "expected a number of at least 0, got -1",
        ),
        ("trailing_drawdown: {mode: daily}", "rules.trailing_drawdown.mode", 3, "expected eod or intraday"),
        (
            "weekly_limits: {loss_limit: null}",
            "rules.weekly_limits.loss_limit",
            3,
            "expected loss_limit or profit_target",
        ),
        ("weekly_limits: {week_start: monday}", "rules.weekly_limits.week_start", 3, "expected mon, tue"),
        ("consecutive_losses: {max_losses: 0}", "rules.consecutive_losses.max_losses", 3, "at least 1"),
        (
            "consecutive_losses: {scratches: skip}",
            "rules.consecutive_losses.scratches",
            3,
            "expected reset, ignore or count",
        ),
        (
            "daily_realized_loss: {ladder: {reduce_only_at: 100}}",
            "rules.daily_realized_loss.ladder.reduce_only_at",
            3,
            "1 to 99",
        ),
        (
            "daily_realized_loss: {ladder: {warn_at: [50, 120]}}",
            "rules.daily_realized_loss.ladder.warn_at[1]",
            3,
            "1 to 99, got 120",
        ),
        (
            "daily_unrealized_loss: {ladder: {reduce_only_at: 80}}",
            "rules.daily_unrealized_loss.ladder",
            3,
            "scope: total",
        ),
        (
            "trade_frequency_limit: {per_session: null, ladder: {reduce_only_at: 80}}",
            "rules.trade_frequency_limit.ladder",
            3,
            "per_session.limit, which is null",
        ),
        (
            "max_contracts: {ladder: {reduce_only_at: 80}}",
            "rules.max_contracts.ladder",
            3,
            "unknown key 'ladder'",
        ),
    ],
)
def test_errors_name_file_key_and_line(
    minimal: Path, block: str, path: str, line: int, expected: str
) -> None:
    write(minimal, "risk_config.yaml", f"version: 1\nrules:\n  {block}\n")
    issue = only_issue(minimal)
    assert (issue.file, issue.path, issue.line) == ("risk_config.yaml", path, line), str(issue)
    assert expected in issue.message, issue.message


def test_an_account_gives_the_firm_numbers_as_overrides(minimal: Path) -> None:
    text = (minimal / "accounts.yaml").read_text(encoding="utf-8")
    text += "        rule_overrides:\n          trailing_drawdown: {starting_balance: 50000, floor: 48600}\n"
    write(minimal, "accounts.yaml", text)
    rules = load(minimal).rules_for(123456)
    assert rules.trailing_drawdown.floor == Decimal(48600)


PENDING = """\
version: 1
rules:
  daily_realized_loss: {loss_limit: 500}
pending:
  from: 2026-11-18
  rules:
    daily_realized_loss: {loss_limit: 700}
  rule_overrides:
    123456:
      max_contracts: {limit: 7}
"""


def test_pending_rules_are_validated_and_merged(minimal: Path) -> None:
    write(minimal, "risk_config.yaml", PENDING)
    config = load(minimal)
    assert config.pending_from == date(2026, 11, 18)
    pending = config.pending_rules_for(123456)
    assert pending is not None
    assert pending.daily_realized_loss.loss_limit == Decimal(700) and pending.max_contracts.limit == 7
    assert config.rules_for(123456).daily_realized_loss.loss_limit == Decimal(500)
    assert config.rules_in_force(123456, date(2026, 11, 17)).daily_realized_loss.loss_limit == Decimal(500)
    assert config.rules_in_force(123456, date(2026, 11, 18)).daily_realized_loss.loss_limit == Decimal(700)


def test_pending_errors_point_at_their_own_lines(minimal: Path) -> None:
    write(
        minimal,
        "risk_config.yaml",
        PENDING.replace("{loss_limit: 700}", "{loss_limit: -1}").replace("123456:", "999:"),
    )
    found = issues(minimal)
    assert [(i.path, i.line) for i in found] == [("pending.rules.daily_realized_loss.loss_limit", 7)]
    write(minimal, "risk_config.yaml", PENDING.replace("123456:", "999:"))
    issue = only_issue(minimal)
    assert (issue.path, issue.line) == ("pending.rule_overrides.999", 9)
    assert "account 999 is not configured" in issue.message
    write(minimal, "risk_config.yaml", "version: 1\npending: {from: 2026-11-18}\n")
    assert "expected 'rules' or 'rule_overrides'" in only_issue(minimal).message
    write(minimal, "risk_config.yaml", "version: 1\npending: {from: tomorrow, rules: {}}\n")
    assert "expected a date as YYYY-MM-DD" in issues(minimal)[0].message


def test_config_check_summarizes_the_new_rules(minimal: Path) -> None:
    from risk_manager.config.summary import rule_summaries

    write(
        minimal,
        "risk_config.yaml",
        """\
        version: 1
        rules:
          daily_realized_loss: {loss_limit: 500, ladder: {warn_at: [50], reduce_only_at: 80}}
          trailing_drawdown: {enabled: true, max_drawdown: 2500, buffer: 100}
          weekly_limits: {enabled: true, profit_target: 3000}
          consecutive_losses: {enabled: true, action: until_reset}
        """,
    )
    summaries = {s["rule"]: s["summary"] for s in rule_summaries(load(minimal).risk.rules)}
    assert summaries["RULE-003"].endswith("; ladder: warn 50%, reduce-only at 80%")
    assert summaries["RULE-013"].startswith("max drawdown 2500.00 (eod), buffer 100.00")
    assert summaries["RULE-014"] == "weekly realized loss 1500.00, target 3000.00; week starts mon"
    assert summaries["RULE-015"] == "3 losing trades in a row -> lock until the reset"
