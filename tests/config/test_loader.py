"""Loading real files: every validation class names file, key path, line and what was expected."""

from __future__ import annotations

import os
from datetime import date, time
from decimal import Decimal
from pathlib import Path

import pytest

from risk_manager.config.issues import ConfigError, ConfigIssue
from risk_manager.config.loader import AppConfig
from risk_manager.config.models import DaemonSettings, RulesConfig
from tests.config.conftest import ACCOUNTS, issues, load, only_issue, write

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- valid files


def test_templates_are_the_canonical_defaults(cfg: Path) -> None:
    config = load(cfg)
    assert config.risk.rules == RulesConfig()
    rules = config.risk.rules
    assert rules.max_contracts.limit == 5 and rules.max_contracts.count_type == "net"
    assert rules.max_contracts_per_instrument.limits == {"MNQ": 2, "NQ": 1, "ES": 1, "MES": 3}
    assert rules.daily_realized_loss.loss_limit == Decimal("500.00")
    assert [t.cooldown_seconds for t in rules.cooldown_after_loss.tiers] == [300, 900, 1800]
    assert rules.session_block_outside.window.start == time(8, 30)
    assert rules.trade_management.enabled is False
    assert config.risk.global_.warn_at_percent == [80, 90]
    assert [a.id for _, a in config.account_configs()] == [123456]
    assert config.holidays == {date(2026, 11, 26), date(2026, 12, 25), date(2027, 1, 1)}
    assert config.daemon == DaemonSettings()
    assert dict(config.secrets) == {}
    assert config.rules_for(123456) is config.risk.rules
    assert config.config_dir == cfg


def test_repository_example_config_loads() -> None:
    config = load(REPO / "examples" / "config")
    assert config.holidays == {date(2026, 11, 26), date(2026, 12, 25), date(2027, 1, 1)}


def test_optional_files_and_rule_blocks_may_be_omitted(minimal: Path) -> None:
    config = load(minimal)
    assert config.risk.rules == RulesConfig()
    assert config.holidays == frozenset()
    assert config.daemon.api.port == 8765
    _, account = config.account_configs()[0]
    assert account.reset_time == time(17, 0) and account.enabled and not account.observe_only


def test_an_empty_risk_config_file_means_defaults(minimal: Path) -> None:
    write(minimal, "risk_config.yaml", "# nothing yet\n")
    assert load(minimal).risk.rules == RulesConfig()


def test_money_is_exact_decimal(minimal: Path) -> None:
    write(
        minimal,
        "risk_config.yaml",
        """\
        rules:
          daily_realized_loss: {loss_limit: 300.10}
          daily_unrealized_loss: {loss_limit: 250}
          cooldown_after_loss:
            tiers: [{loss_amount: 0.1, cooldown_seconds: 60}]
        """,
    )
    rules = load(minimal).risk.rules
    assert rules.daily_realized_loss.loss_limit == Decimal("300.1")
    assert str(rules.daily_realized_loss.loss_limit) == "300.1"
    assert rules.daily_unrealized_loss.loss_limit == Decimal(250)
    assert str(rules.cooldown_after_loss.tiers[0].loss_amount) == "0.1"


def test_symbols_are_upper_cased(minimal: Path) -> None:
    write(
        minimal,
        "risk_config.yaml",
        """\
        rules:
          max_contracts_per_instrument: {limits: {mnq: 4}}
          symbol_blocks: {blocked_symbols: [rty, " cl "]}
          session_block_outside:
            per_symbol: {es: {start: "17:00", end: "16:00", days: [sun, mon, tue, wed, thu]}}
        """,
    )
    rules = load(minimal).risk.rules
    assert rules.max_contracts_per_instrument.limits == {"MNQ": 4}
    assert rules.symbol_blocks.blocked_symbols == ["RTY", "CL"]
    window = rules.session_block_outside.per_symbol["ES"]
    assert window.weekdays() == frozenset({6, 0, 1, 2, 3})
    assert (window.start, window.end) == (time(17, 0), time(16, 0))


def test_a_null_frequency_window_is_unchecked(minimal: Path) -> None:
    write(minimal, "risk_config.yaml", "rules:\n  trade_frequency_limit:\n    per_minute: null\n")
    rules = load(minimal).risk.rules.trade_frequency_limit
    assert rules.per_minute is None
    assert rules.per_hour is not None and rules.per_hour.limit == 30


def test_holidays_accept_bare_dates_and_mappings(minimal: Path) -> None:
    write(
        minimal,
        "holidays.yaml",
        """\
        holidays:
          - {date: 2026-12-25, name: Christmas}
          - 2027-01-01
          - "2027-04-02"
        """,
    )
    config = load(minimal)
    assert config.holidays == {date(2026, 12, 25), date(2027, 1, 1), date(2027, 4, 2)}
    assert config.holiday_file.holidays[0].name == "Christmas"


# --------------------------------------------------------------------------- one class of error each


def test_unknown_key_names_the_allowed_keys_and_line(minimal: Path) -> None:
    write(
        minimal,
        "risk_config.yaml",
        """\
        version: 1
        rules:
          max_contracts:
            enabled: true
            limt: 3
        """,
    )
    issue = only_issue(minimal)
    assert (issue.file, issue.path, issue.line) == ("risk_config.yaml", "rules.max_contracts.limt", 5)
    assert "unknown key 'limt' (expected one of: enabled, limit, count_type, enforcement)" in issue.message
    assert "did you mean 'limit'" in issue.message


def test_unknown_rule_lists_the_rule_names(minimal: Path) -> None:
    write(minimal, "risk_config.yaml", "rules:\n  max_contract: {limit: 3}\n")
    issue = only_issue(minimal)
    assert (issue.path, issue.line) == ("rules.max_contract", 2)
    assert "max_contracts_per_instrument" in issue.message and "trade_management" in issue.message


def test_unknown_top_level_key_uses_the_yaml_spelling_global(minimal: Path) -> None:
    write(minimal, "risk_config.yaml", "global:\n  include_fee: true\n")
    issue = only_issue(minimal)
    assert (issue.path, issue.line) == ("global.include_fee", 2)
    assert "expected one of: include_fees, max_quote_age_seconds, warn_at_percent" in issue.message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('    limit: "5"', "expected an integer, got '5'"),
        ("    limit: 2.5", "expected an integer, got 2.5"),
        ("    enabled: yes", "expected true or false, got 'yes'"),
        ("    limit: [5]", "expected an integer, got a list"),
    ],
)
def test_wrong_types(minimal: Path, line: str, expected: str) -> None:
    write(minimal, "risk_config.yaml", f"rules:\n  max_contracts:\n{line}\n")
    issue = only_issue(minimal)
    assert issue.line == 3
    assert issue.message == expected


def test_a_rule_block_that_is_not_a_mapping(minimal: Path) -> None:
    write(minimal, "risk_config.yaml", "rules:\n  max_contracts: 5\n")
    issue = only_issue(minimal)
    assert (issue.path, issue.line) == ("rules.max_contracts", 2)
    assert issue.message == "expected a mapping (key: value), got 5"


@pytest.mark.parametrize(
    ("block", "path", "expected"),
    [
        (
            "daily_realized_loss: {loss_limit: -5}",
            "rules.daily_realized_loss.loss_limit",
            "expected a number greater than 0, got -5",
        ),
        (
            "daily_unrealized_loss: {loss_limit: 0}",
            "rules.daily_unrealized_loss.loss_limit",
            "expected a number greater than 0, got 0",
        ),
        (
            "max_contracts: {limit: 0}",
            "rules.max_contracts.limit",
            "expected an integer of at least 1, got 0",
        ),
        (
            "no_stop_loss_grace: {grace_period_seconds: -1}",
            "rules.no_stop_loss_grace.grace_period_seconds",
            "expected an integer of at least 1, got -1",
        ),
        (
            "trade_management: {auto_stop_loss: {stop_loss_ticks: 0}}",
            "rules.trade_management.auto_stop_loss.stop_loss_ticks",
            "expected an integer of at least 1, got 0",
        ),
        (
            "trade_management: {breakeven: {offset_ticks: -1}}",
            "rules.trade_management.breakeven.offset_ticks",
            "expected an integer of at least 0, got -1",
        ),
        (
            "daily_realized_loss: {loss_limit: .inf}",
            "rules.daily_realized_loss.loss_limit",
            "expected a finite number, got inf",
        ),
        (
            "daily_realized_loss: {loss_limit: '500'}",
            "rules.daily_realized_loss.loss_limit",
            "expected a number, got '500'",
        ),
    ],
)
def test_out_of_range_numbers(minimal: Path, block: str, path: str, expected: str) -> None:
    write(minimal, "risk_config.yaml", f"rules:\n  {block}\n")
    issue = only_issue(minimal)
    assert (issue.file, issue.path, issue.line, issue.message) == ("risk_config.yaml", path, 2, expected)


def test_bad_hhmm_in_accounts_and_rules(minimal: Path) -> None:
    write(minimal, "accounts.yaml", ACCOUNTS.replace('reset_time: "17:00"', 'reset_time: "25:00"'))
    write(
        minimal,
        "risk_config.yaml",
        """\
        rules:
          session_block_outside:
            window:
              start: "8.30"
              end: "15:00"
        """,
    )
    found = issues(minimal)
    assert [(i.file, i.path, i.line) for i in found] == [
        ("risk_config.yaml", "rules.session_block_outside.window.start", 4),
        ("accounts.yaml", "logins[0].accounts[0].reset_time", 10),
    ]
    assert found[0].message == "expected a time as \"HH:MM\" (24-hour clock, in quotes), got '8.30'"
    assert "got '25:00'" in found[1].message


def test_unknown_time_zone(minimal: Path) -> None:
    write(minimal, "accounts.yaml", ACCOUNTS.replace("America/Chicago", "America/Chicag"))
    issue = only_issue(minimal)
    assert str(issue) == (
        "accounts.yaml:11: logins[0].accounts[0].timezone: unknown time zone 'America/Chicag' "
        "(expected an IANA name such as America/Chicago)"
    )


def test_bad_enum_value(minimal: Path) -> None:
    write(minimal, "risk_config.yaml", "rules:\n  max_contracts:\n    count_type: nett\n")
    issue = only_issue(minimal)
    assert (issue.path, issue.line) == ("rules.max_contracts.count_type", 3)
    assert issue.message == "expected net or gross, got 'nett'"


def test_bad_weekday(minimal: Path) -> None:
    write(
        minimal,
        "risk_config.yaml",
        """\
        rules:
          session_block_outside:
            window: {start: "08:30", end: "15:00", days: [mon, tues]}
        """,
    )
    issue = only_issue(minimal)
    assert issue.path == "rules.session_block_outside.window.days[1]"
    assert issue.message == "expected mon, tue, wed, thu, fri, sat or sun, got 'tues'"


@pytest.mark.parametrize("action", ["allow", "allow_with_limit:0", "allow_with_limit:x", "allow_with_limit"])
def test_bad_unknown_symbol_action(minimal: Path, action: str) -> None:
    write(
        minimal,
        "risk_config.yaml",
        f'rules:\n  max_contracts_per_instrument:\n    unknown_symbol_action: "{action}"\n',
    )
    issue = only_issue(minimal)
    assert (issue.path, issue.line) == ("rules.max_contracts_per_instrument.unknown_symbol_action", 3)
    assert issue.message.startswith("expected block, allow_unlimited or allow_with_limit:N")
    assert repr(action) in issue.message


def test_empty_session_window(minimal: Path) -> None:
    write(
        minimal,
        "risk_config.yaml",
        """\
        rules:
          session_block_outside:
            window:
              start: "09:00"
              end: "09:00"
        """,
    )
    issue = only_issue(minimal)
    assert (issue.path, issue.line) == ("rules.session_block_outside.window.end", 5)
    assert "end must differ from start (09:00)" in issue.message


def test_duplicate_account_id_across_logins(minimal: Path) -> None:
    write(
        minimal,
        "accounts.yaml",
        ACCOUNTS
        + """\
  - name: second
    user_name: other@example.com
    accounts:
      - {id: 777, name: "Other"}
      - {id: 123456, name: "Copy"}
""",
    )
    issue = only_issue(minimal)
    assert (issue.file, issue.path, issue.line) == ("accounts.yaml", "logins[1].accounts[1].id", 16)
    assert issue.message == "duplicate account id 123456 (also logins[0].accounts[0])"


def test_duplicate_login_name(minimal: Path) -> None:
    write(
        minimal,
        "accounts.yaml",
        ACCOUNTS
        + """\
  - name: main
    user_name: other@example.com
    accounts: []
""",
    )
    issue = only_issue(minimal)
    assert (issue.path, issue.line) == ("logins[1].name", 12)
    assert issue.message == "duplicate login name 'main' (also logins[0])"


def test_missing_required_key_points_at_the_parent(minimal: Path) -> None:
    write(
        minimal,
        "accounts.yaml",
        """\
        logins:
          - name: main
            accounts:
              - {id: 1, name: A}
        """,
    )
    issue = only_issue(minimal)
    assert (issue.path, issue.line, issue.message) == (
        "logins[0].user_name",
        2,
        "missing required key 'user_name'",
    )


def test_account_id_must_be_an_integer(minimal: Path) -> None:
    write(minimal, "accounts.yaml", ACCOUNTS.replace("id: 123456", 'id: "123456"'))
    issue = only_issue(minimal)
    assert (issue.path, issue.line, issue.message) == (
        "logins[0].accounts[0].id",
        8,
        "expected an integer, got '123456'",
    )


def test_override_error_is_reported_against_accounts_yaml(minimal: Path) -> None:
    write(
        minimal,
        "accounts.yaml",
        ACCOUNTS
        + """\
      - id: 2
        name: Second
        rule_overrides:
          max_contracts:
            limit: -1
""",
    )
    issue = only_issue(minimal)
    assert issue.file == "accounts.yaml"
    assert issue.path == "logins[0].accounts[1].rule_overrides.max_contracts.limit"
    assert issue.line == 16
    assert issue.message == "expected an integer of at least 1, got -1"


def test_override_with_an_unknown_rule(minimal: Path) -> None:
    write(minimal, "accounts.yaml", ACCOUNTS + "        rule_overrides: {daily_loss: {loss_limit: 100}}\n")
    issue = only_issue(minimal)
    assert (issue.path, issue.line) == ("logins[0].accounts[0].rule_overrides.daily_loss", 12)
    assert "unknown key 'daily_loss' (expected one of: max_contracts," in issue.message


def test_override_errors_are_reported_even_when_risk_config_is_invalid(minimal: Path) -> None:
    write(minimal, "risk_config.yaml", "rules:\n  max_contracts: {limit: -3}\n")
    write(
        minimal, "accounts.yaml", ACCOUNTS + "        rule_overrides: {max_contracts: {count_type: both}}\n"
    )
    found = issues(minimal)
    assert [(i.file, i.path) for i in found] == [
        ("risk_config.yaml", "rules.max_contracts.limit"),
        ("accounts.yaml", "logins[0].accounts[0].rule_overrides.max_contracts.count_type"),
    ]


def test_yaml_syntax_error_has_a_line(minimal: Path) -> None:
    write(
        minimal,
        "risk_config.yaml",
        """\
        rules:
          max_contracts:
            limit: [5
          symbol_blocks: {}
        """,
    )
    issue = only_issue(minimal)
    assert issue.file == "risk_config.yaml" and issue.line == 4
    assert issue.message.startswith("YAML syntax error:")


def test_duplicate_yaml_key(minimal: Path) -> None:
    write(minimal, "risk_config.yaml", "rules:\n  max_contracts: {limit: 3}\n  max_contracts: {limit: 4}\n")
    issue = only_issue(minimal)
    assert issue.line == 3
    assert issue.message.startswith("duplicate key 'max_contracts'")


def test_impossible_date(minimal: Path) -> None:
    write(minimal, "holidays.yaml", "holidays:\n  - 2026-12-25\n  - 2026-02-30\n")
    issue = only_issue(minimal)
    assert (issue.file, issue.line) == ("holidays.yaml", 3)
    assert "invalid date '2026-02-30'" in issue.message


def test_holiday_with_a_time_is_rejected(minimal: Path) -> None:
    write(minimal, "holidays.yaml", "holidays:\n  - {date: 2026-12-25 10:00:00, name: X}\n")
    issue = only_issue(minimal)
    assert (issue.path, issue.line) == ("holidays[0].date", 2)
    assert issue.message.startswith("expected a date as YYYY-MM-DD without a time")


def test_not_utf8(minimal: Path) -> None:
    (minimal / "risk_config.yaml").write_bytes(b"version: 1\n# caf\xe9\n")
    issue = only_issue(minimal)
    assert (issue.line, issue.message) == (2, "not valid UTF-8 text (byte 0xe9); save the file as UTF-8")


def test_utf8_bom_from_notepad_is_fine(minimal: Path) -> None:
    (minimal / "risk_config.yaml").write_bytes(b"\xef\xbb\xbfversion: 1\n")
    assert load(minimal).risk.version == 1


def test_top_level_must_be_a_mapping(minimal: Path) -> None:
    write(minimal, "holidays.yaml", "- 2026-12-25\n")
    issue = only_issue(minimal)
    assert (issue.file, issue.line) == ("holidays.yaml", 1)
    assert "expected key: value pairs at the top of the file, got list" in issue.message


def test_unsupported_version(minimal: Path) -> None:
    write(minimal, "risk_config.yaml", "version: 2\n")
    issue = only_issue(minimal)
    assert (issue.path, issue.line, issue.message) == (
        "version",
        1,
        "unsupported version 2 (this program reads version 1)",
    )


def test_gateway_custom_needs_all_three_urls(minimal: Path) -> None:
    write(
        minimal,
        "accounts.yaml",
        ACCOUNTS.replace("environment: topstepx", "environment: custom\n  api_url: http://127.0.0.1:5000"),
    )
    issue = only_issue(minimal)
    assert (issue.path, issue.line) == ("gateway.user_hub_url", 2)
    assert "missing required key 'user_hub_url'" in issue.message


def test_gateway_topstepx_refuses_custom_urls(minimal: Path) -> None:
    write(
        minimal,
        "accounts.yaml",
        ACCOUNTS.replace("environment: topstepx", "environment: topstepx\n  api_url: http://127.0.0.1:5000"),
    )
    issue = only_issue(minimal)
    assert (issue.path, issue.line) == ("gateway.api_url", 4)
    assert "only used with environment: custom" in issue.message


def test_gateway_urls(minimal: Path) -> None:
    assert load(minimal).accounts.gateway.urls() == (
        "https://api.topstepx.com",
        "https://rtc.topstepx.com/hubs/user",
        "https://rtc.topstepx.com/hubs/market",
    )
    write(
        minimal,
        "accounts.yaml",
        ACCOUNTS.replace(
            "environment: topstepx",
            """environment: custom
  api_url: http://127.0.0.1:5000/
  user_hub_url: http://127.0.0.1:5000/hubs/user
  market_hub_url: ws://127.0.0.1:5000/hubs/market""",
        ),
    )
    assert load(minimal).accounts.gateway.urls() == (
        "http://127.0.0.1:5000",
        "http://127.0.0.1:5000/hubs/user",
        "ws://127.0.0.1:5000/hubs/market",
    )


def test_daemon_yaml(minimal: Path) -> None:
    write(
        minimal,
        "daemon.yaml",
        """\
        api: {host: 0.0.0.0, port: 70000}
        logging: {level: debug}
        webhook: x
        """,
    )
    found = issues(minimal)
    assert [(i.path, i.line) for i in found] == [("api.host", 1), ("api.port", 1), ("webhook", 3)]
    assert "expected a loopback address" in found[0].message
    assert found[1].message == "expected at most 65535, got 70000"
    write(minimal, "daemon.yaml", "api: {port: 9000}\nlogging: {level: debug}\n")
    daemon = load(minimal).daemon
    assert (daemon.api.host, daemon.api.port, daemon.logging.level) == (
        "127.0.0.1",
        9000,
        "DEBUG",
    )


def test_every_error_in_every_file_is_collected(minimal: Path) -> None:
    write(
        minimal, "risk_config.yaml", "rules:\n  max_contracts: {limit: 0}\n  symbol_blocks: {close: true}\n"
    )
    write(minimal, "accounts.yaml", ACCOUNTS.replace("America/Chicago", "Mars/Olympus"))
    write(minimal, "holidays.yaml", "holidays: [2026-13-01]\n")
    write(minimal, "daemon.yaml", "logging: {level: LOUD}\n")
    found = issues(minimal)
    assert [i.file for i in found] == [
        "risk_config.yaml",
        "risk_config.yaml",
        "accounts.yaml",
        "holidays.yaml",
        "daemon.yaml",
    ]


def test_missing_required_file_and_directory(tmp_path: Path, minimal: Path) -> None:
    (minimal / "accounts.yaml").unlink()
    issue = only_issue(minimal)
    assert issue.file == "accounts.yaml" and "file not found" in issue.message
    issue = only_issue(tmp_path / "nowhere")
    assert "configuration directory not found" in issue.message


def test_issue_str_without_line_or_path() -> None:
    assert str(ConfigIssue("holidays.yaml", "", None, "x")) == "holidays.yaml: x"
    assert str(ConfigIssue("a.yaml", "b.c", 3, "x")) == "a.yaml:3: b.c: x"
    error = ConfigError([ConfigIssue("a.yaml", "b", 1, "x"), ConfigIssue("c.yaml", "", None, "y")])
    assert str(error) == "a.yaml:1: b: x\nc.yaml: y"


# --------------------------------------------------------------------------- overrides


def test_overrides_merge_deeply(minimal: Path) -> None:
    write(
        minimal,
        "risk_config.yaml",
        """\
        rules:
          max_contracts: {limit: 5, count_type: gross}
          symbol_blocks: {blocked_symbols: [RTY, BTC]}
          max_contracts_per_instrument: {limits: {MNQ: 2, ES: 1}}
        """,
    )
    write(
        minimal,
        "accounts.yaml",
        ACCOUNTS
        + """\
      - id: 2
        name: Tight
        rule_overrides:
          max_contracts: {limit: 3}
          symbol_blocks: {blocked_symbols: [CL]}
          max_contracts_per_instrument: {limits: {ES: 3}}
          session_block_outside:
            per_symbol: {CL: {start: "17:00", end: "16:00"}}
""",
    )
    config = load(minimal)
    tight = config.rules_for(2)
    assert tight.max_contracts.limit == 3
    assert tight.max_contracts.count_type == "gross"  # kept from the global block
    assert tight.symbol_blocks.blocked_symbols == ["CL"]  # lists replace
    assert tight.max_contracts_per_instrument.limits == {"MNQ": 2, "ES": 3}  # mappings merge
    assert tight.session_block_outside.window.start == time(8, 30)
    assert set(tight.session_block_outside.per_symbol) == {"CL"}
    assert config.rules_for(123456).max_contracts.limit == 5
    assert config.rules_for(2) is tight  # cached
    with pytest.raises(KeyError):
        config.rules_for(999)


def test_override_can_disable_a_rule(minimal: Path) -> None:
    write(
        minimal, "accounts.yaml", ACCOUNTS + "        rule_overrides: {trade_management: {enabled: true}}\n"
    )
    rules = load(minimal).rules_for(123456)
    assert rules.trade_management.enabled and rules.trade_management.auto_stop_loss.stop_loss_ticks == 10


# --------------------------------------------------------------------------- secrets


SECRET = "sk-live-0123456789abcdefSECRET"


def test_secrets_from_file_and_hidden_in_reprs(minimal: Path) -> None:
    write(minimal, "secrets.yaml", f'api_keys:\n  "trader@example.com": "{SECRET}"\n')
    config = load(minimal)
    assert config.api_key("trader@example.com") == SECRET
    assert config.missing_api_keys() == []
    for text in (repr(config), str(config), repr(config.secrets), str(config.secrets), f"{config.secrets}"):
        assert SECRET not in text
    assert "trader@example.com" in repr(config.secrets)


def test_missing_key_is_reported_by_missing_api_keys(minimal: Path) -> None:
    config = load(minimal)
    assert [login.user_name for login in config.missing_api_keys()] == ["trader@example.com"]


def test_env_single_key_overrides_the_file(minimal: Path) -> None:
    write(minimal, "secrets.yaml", 'api_keys: {"trader@example.com": "from-file"}\n')
    config = load(minimal, env={"RISK_MANAGER_API_KEY": SECRET})
    assert config.api_key("trader@example.com") == SECRET


def test_env_key_map(minimal: Path) -> None:
    config = load(minimal, env={"RISK_MANAGER_API_KEYS": f'{{"trader@example.com": "{SECRET}"}}'})
    assert config.api_key("trader@example.com") == SECRET


def test_env_errors_never_quote_the_secret(minimal: Path) -> None:
    found = issues(minimal, env={"RISK_MANAGER_API_KEYS": f"{{not json {SECRET}"})
    assert [(i.file, i.path) for i in found] == [("environment", "RISK_MANAGER_API_KEYS")]
    assert SECRET not in str(found[0])
    write(minimal, "accounts.yaml", ACCOUNTS + "  - {name: b, user_name: b@example.com, accounts: []}\n")
    issue = only_issue(minimal, env={"RISK_MANAGER_API_KEY": SECRET})
    assert issue.path == "RISK_MANAGER_API_KEY" and "exactly one login" in issue.message
    assert SECRET not in str(issue)


def test_secrets_file_errors_never_quote_values(minimal: Path) -> None:
    write(minimal, "secrets.yaml", 'api_keys:\n  "trader@example.com": 987654321987\n  other: ""\n')
    found = issues(minimal)
    assert [(i.path, i.line) for i in found] == [
        ("api_keys.trader@example.com", 2),
        ("api_keys.other", 3),
    ]
    assert found[0].message == "expected a string"
    assert all("987654321987" not in str(i) for i in found)


def test_secrets_yaml_syntax_error_never_quotes_the_line(minimal: Path) -> None:
    write(minimal, "secrets.yaml", f'api_keys:\n  "trader@example.com": "{SECRET}\n')
    issue = only_issue(minimal)
    assert issue.file == "secrets.yaml" and SECRET not in str(issue)
    write(minimal, "secrets.yaml", f'api_keys:\n  u: "{SECRET}"\n  u: "{SECRET}2"\n')
    issue = only_issue(minimal)
    assert issue.line == 3 and SECRET not in str(issue)


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_world_readable_secrets_file_warns(minimal: Path) -> None:
    path = write(minimal, "secrets.yaml", "api_keys: {}\n")
    path.chmod(0o644)
    warnings = load(minimal).warnings
    assert [(w.file, "readable by every user" in w.message) for w in warnings] == [("secrets.yaml", True)]
    path.chmod(0o600)
    assert load(minimal).warnings == []


# --------------------------------------------------------------------------- from_dicts


def test_from_dicts() -> None:
    accounts = {"logins": [{"name": "m", "user_name": "u", "accounts": [{"id": 1, "name": "A"}]}]}
    config = AppConfig.from_dicts(
        {"rules": {"max_contracts": {"limit": 2}}}, accounts, {"holidays": ["2026-12-25"]}
    )
    assert config.rules_for(1).max_contracts.limit == 2
    assert config.holidays == {date(2026, 12, 25)}
    assert config.config_dir is None
    with pytest.raises(ConfigError) as caught:
        AppConfig.from_dicts({"rules": {"max_contracts": {"limit": -2}}}, accounts)
    assert [(i.file, i.path, i.line) for i in caught.value.issues] == [
        ("risk_config.yaml", "rules.max_contracts.limit", None)
    ]
