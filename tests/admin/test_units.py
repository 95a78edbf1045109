"""Fast in-process tests of the console's model: input parsing, weakening, round-trip edits, saves that
re-read what they wrote, backups, the password counter, the service seam and plain ASCII output.
(The same behaviour is proven end to end through the pty and subprocess tests of this package.)"""

from __future__ import annotations

import io
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from risk_manager.admin import exits, values
from risk_manager.admin.config_files import KEEP_BACKUPS, ConfigFiles, SaveRefused, dump
from risk_manager.admin.context import AdminContext
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.password import PasswordStore
from risk_manager.admin.rule_actions import apply_value, parse_value
from risk_manager.admin.rule_edit import RuleEditor, Scope
from risk_manager.admin.rule_fields import RULES, find_rule
from risk_manager.admin.service_actions import start_service
from risk_manager.admin.service_control import Outcome, ServiceStatus, default_service_control
from risk_manager.admin.ui import Ui
from risk_manager.config.loader import load_config
from risk_manager.security.admin_token import AdminTokenUnreadable, create_admin_token, read_admin_token
from risk_manager.security.password import AuthResult, hash_password

from .env import PASSWORD, RISK, accounts_yaml

URLS = {
    "api_url": "http://127.0.0.1:9",
    "user_hub_url": "http://127.0.0.1:9/u",
    "market_hub_url": "http://127.0.0.1:9/m",
}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    d.mkdir()
    (d / "risk_config.yaml").write_text(RISK)
    (d / "accounts.yaml").write_text(accounts_yaml(URLS))
    (d / "secrets.yaml").write_text('version: 1\napi_keys:\n  "trader1": "key-1-abcdef"\n')
    (d / "secrets.yaml").chmod(0o600)
    return d


# ----- input parsing (admin-cli.md §8.1) ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [("500", "500.00"), ("500.5", "500.50"), ("$1,250.00", "1250.00"), (" 0.25 ", "0.25")],
)
def test_money_input(text: str, expected: str) -> None:
    value = values.parse_money(text)
    assert dump({"v": value}).strip() == f"v: {expected}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-500", "must be a positive amount (enter 500, not -500)"),
        ("1.234", "more than 2 decimals"),
        ("0", "must be a positive amount"),
        ("lots", "must be a positive amount"),
    ],
)
def test_money_input_errors(text: str, message: str) -> None:
    with pytest.raises(values.InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        values.parse_money(text)


def test_other_input_types() -> None:
    assert values.parse_duration("1h30m") == 5400 and values.parse_duration("90s") == 90
    assert values.parse_duration("300") == 300
    with pytest.raises(values.InputError, match="must be a duration such as 300, 15m or 1h30m"):
        values.parse_duration("soon")
    assert values.parse_int("1_000") == 1000
    with pytest.raises(values.InputError, match="must be at most 10"):
        values.parse_int("11", maximum=10)
    assert values.parse_time("8:30") == "08:30"
    with pytest.raises(values.InputError, match="must be HH:MM"):
        values.parse_time("24:00")
    assert values.parse_timezone("america/chicago") == "America/Chicago"
    with pytest.raises(values.InputError, match="did you mean America/Chicago"):
        values.parse_timezone("America/Chicgo")
    assert values.parse_choice("2", ("net", "gross")) == "gross"
    with pytest.raises(values.InputError, match="choose 1–2"):
        values.parse_choice("3", ("net", "gross"))
    symbols, warnings = values.parse_symbol_list("mnq, es xyz")
    assert symbols == ["MNQ", "ES", "XYZ"] and warnings == ['unknown symbol "XYZ"']
    mapping, _ = values.parse_symbol_map("MNQ=3, -ES", {"MNQ": 2, "ES": 1, "NQ": 1})
    assert mapping == {"MNQ": 3, "NQ": 1}
    with pytest.raises(values.InputError, match="value for ES must be a whole number ≥ 1"):
        values.parse_symbol_map("ES=0", {})
    tiers = values.parse_tiers(["100 5m", "200 15m"])
    assert [dict(t) for t in tiers] == [
        {"loss_amount": 100.0, "cooldown_seconds": 300},
        {"loss_amount": 200.0, "cooldown_seconds": 900},
    ]
    with pytest.raises(values.InputError, match="amounts must increase"):
        values.parse_tiers(["200 5m", "100 15m"])


def test_rule_lookup() -> None:
    assert find_rule("3") is find_rule("RULE-003") is find_rule("daily_realized_loss") is RULES[2]
    assert find_rule("13") is find_rule("trailing_drawdown") is RULES[12]  # the guardrails beyond the twelve
    assert find_rule("16") is None and find_rule("nope") is None


# ----- round-trip edits and weakening ------------------------------------------------------------------------
def test_edit_keeps_comments_and_key_order_and_detects_weakening(config_dir: Path) -> None:
    editor = RuleEditor(ConfigFiles(config_dir), Scope())
    rule = find_rule("3")
    assert rule is not None
    field = rule.field("loss_limit")
    assert field is not None
    apply_value(editor, rule, field, values.parse_money("800"))  # +60 %: strong weakening
    [change] = editor.diff(rule)
    assert (change.key, change.before, change.after) == ("loss_limit", "500.00", "800.00")
    [weaker] = editor.weakenings(rule)
    assert weaker.strong and "raised from 500.00 to 800.00" in weaker.text
    text = editor.changed_texts()["risk_config.yaml"]
    original = RISK.splitlines()
    changed = text.splitlines()
    assert len(original) == len(changed)
    assert [a for a, b in zip(original, changed, strict=True) if a != b] == ["    loss_limit: 500.00"]
    apply_value(editor, rule, field, values.parse_money("600"))  # +20 %: weaker, not strong
    assert [w.strong for w in editor.weakenings(rule)] == [False]


def test_disabling_rules_1_3_4_10_is_a_strong_weakening(config_dir: Path) -> None:
    for number, strong in ((1, True), (3, True), (11, False)):
        editor = RuleEditor(ConfigFiles(config_dir), Scope())
        rule = RULES[number - 1]
        apply_value(editor, rule, rule.fields[0], False)
        assert [w.strong for w in editor.weakenings(rule)] == [strong]


def test_an_invalid_change_is_undone_with_the_daemons_message(config_dir: Path) -> None:
    editor = RuleEditor(ConfigFiles(config_dir), Scope())
    rule = find_rule("9")
    assert rule is not None
    end = rule.field("window.end")
    assert end is not None
    with pytest.raises(SaveRefused) as refused:
        apply_value(editor, rule, end, values.parse_time("08:30"))
    assert "end must differ from start" in str(refused.value)
    assert editor.changed_texts() == {}  # the documents are back to valid


def test_account_override_set_and_unset(config_dir: Path) -> None:
    editor = RuleEditor(ConfigFiles(config_dir), Scope(1001))
    rule = find_rule("1")
    assert rule is not None
    limit = rule.field("limit")
    assert limit is not None
    value, _ = parse_value(limit, "3", 5)
    apply_value(editor, rule, limit, value)
    assert editor.overridden(rule, limit)
    assert "rule_overrides: {max_contracts: {limit: 3}}" in editor.changed_texts()["accounts.yaml"]
    editor.unset(rule, limit)
    assert editor.changed_texts() == {} or "max_contracts" not in editor.changed_texts()["accounts.yaml"]


def test_window_off_and_back(config_dir: Path) -> None:
    editor = RuleEditor(ConfigFiles(config_dir), Scope())
    rule = find_rule("6")
    assert rule is not None
    per_minute = rule.field("per_minute.limit")
    assert per_minute is not None
    value, _ = parse_value(per_minute, "off", 3)
    apply_value(editor, rule, per_minute, value)
    assert editor.rules().trade_frequency_limit.per_minute is None
    apply_value(editor, rule, per_minute, 4)  # a window comes back with the default cooldown
    assert editor.rules().trade_frequency_limit.per_minute is not None
    assert editor.rules().trade_frequency_limit.per_minute.cooldown_seconds == 60


# ----- saving ----------------------------------------------------------------------------------------------
def test_save_rereads_and_validates_what_it_wrote(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = ConfigFiles(config_dir, "tester")
    good = (config_dir / "risk_config.yaml").read_text().replace("limit: 5 ", "limit: 4 ")
    result = files.save({"risk_config.yaml": good}, summary="limit 4")
    assert load_config(config_dir).risk.rules.max_contracts.limit == 4
    assert list(result.backups) == ["risk_config.yaml"]
    # a disk that does not keep what was written is caught by the re-read
    from risk_manager.platform import fileperms

    real = fileperms.write_atomic

    def corrupting(path: Path, data: bytes, **kw: Any) -> None:
        real(path, data.replace(b"limit: 3 ", b"limit: -3 "), **kw)

    monkeypatch.setattr(fileperms, "write_atomic", corrupting)
    with pytest.raises(SaveRefused):
        files.save({"risk_config.yaml": good.replace("limit: 4 ", "limit: 3 ")}, summary="limit 3")


def test_invalid_content_is_refused_before_any_write(config_dir: Path) -> None:
    files = ConfigFiles(config_dir)
    before = (config_dir / "risk_config.yaml").read_bytes()
    with pytest.raises(SaveRefused) as refused:
        files.save({"risk_config.yaml": before.decode().replace("limit: 5 ", "limit: 0 ")}, summary="bad")
    assert refused.value.issues[0].path == "rules.max_contracts.limit"
    assert (config_dir / "risk_config.yaml").read_bytes() == before
    assert not (config_dir / "backups").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="file modes; Windows gets a DACL")
def test_secrets_stay_owner_only_and_backups_are_pruned(config_dir: Path) -> None:
    files = ConfigFiles(config_dir)
    secrets = config_dir / "secrets.yaml"
    secrets.chmod(0o644)  # too open before the save: owner-only after it
    text = secrets.read_text()
    files.save({"secrets.yaml": text.replace("key-1-abcdef", "key-1-rotated")}, summary="rotate")
    assert secrets.stat().st_mode & 0o777 == 0o600
    backup = next((config_dir / "backups").glob("secrets.*.yaml"))
    assert backup.stat().st_mode & 0o777 == 0o600
    risk = config_dir / "risk_config.yaml"
    for n in range(KEEP_BACKUPS + 3):
        text = re.sub(r"max_quote_age_seconds: \d+", f"max_quote_age_seconds: {n + 11}", risk.read_text())
        files.save({"risk_config.yaml": text}, summary=f"n{n}")
    kept = files.backups_of("risk_config.yaml")
    assert len(kept) == KEEP_BACKUPS
    assert kept[0].summary == f"n{KEEP_BACKUPS + 2}" and kept[0].at >= kept[-1].at


# ----- password store --------------------------------------------------------------------------------------
class Clock:
    now_value = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    @classmethod
    def now(cls, tz: Any = None) -> datetime:
        return cls.now_value


def test_lockout_doubles_and_a_success_resets(tmp_path: Path) -> None:
    (tmp_path / "admin_password.hash").write_text(
        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    )
    store = PasswordStore(tmp_path, clock=Clock)  # type: ignore[arg-type]
    for _ in range(9):
        assert store.attempt("wrong").result is AuthResult.WRONG_PASSWORD
    tenth = store.attempt("wrong")
    assert tenth.result is AuthResult.NEWLY_LOCKED and tenth.lock_duration == timedelta(minutes=15)
    assert store.attempt(PASSWORD).result is AuthResult.LOCKED  # not even checked
    Clock.now_value += timedelta(minutes=16)
    eleventh = store.attempt("wrong")
    assert eleventh.result is AuthResult.NEWLY_LOCKED and eleventh.lock_duration == timedelta(minutes=30)
    Clock.now_value += timedelta(minutes=31)
    ok = store.attempt(PASSWORD)
    assert ok.result is AuthResult.OK and store.state() == (0, None)
    assert ok.rehashed  # the cheap test hash was replaced by the product's parameters
    assert (tmp_path / "admin_password.hash").read_text().startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_corrupt_hash_is_never_treated_as_not_set(tmp_path: Path) -> None:
    (tmp_path / "admin_password.hash").write_text("not a hash\n")
    from risk_manager.security.password import HashFileProblem

    with pytest.raises(HashFileProblem) as problem:
        PasswordStore(tmp_path).attempt(PASSWORD)
    assert problem.value.result is AuthResult.CORRUPT
    assert 'can reset it with "risk-manager admin password reset"' in problem.value.message


# ----- admin token ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(sys.platform == "win32", reason="file modes; Windows gets a DACL")
def test_admin_token_is_owner_only_and_fresh(tmp_path: Path) -> None:
    first = create_admin_token(tmp_path)
    path = tmp_path / "admin.token"
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_admin_token(tmp_path) == first
    assert create_admin_token(tmp_path) != first
    with pytest.raises(AdminTokenUnreadable, match="run the console as an administrator"):
        read_admin_token(tmp_path / "nowhere")


# ----- service seam ---------------------------------------------------------------------------------------------
class FakeService:
    """A narrow test implementation of the seam (the real service layer has its own tests)."""

    available = True

    def __init__(self, status: ServiceStatus) -> None:
        self._status = status
        self.calls: list[str] = []

    def status(self) -> ServiceStatus:
        return self._status

    def _record(self, name: str) -> Outcome:
        self.calls.append(name)
        return Outcome(0, "ok")

    def start(self) -> Outcome:
        return self._record("start")

    def stop(self) -> Outcome:
        return self._record("stop")

    def restart(self) -> Outcome:
        return self._record("restart")

    def install(self) -> Outcome:
        return self._record("install")

    def uninstall(self) -> Outcome:
        return self._record("uninstall")


def _ctx(tmp_path: Path, config_dir: Path, service: Any) -> AdminContext:
    ui = Ui(no_color=True, scripted=True, stdout=io.StringIO(), stderr=io.StringIO())
    ctx = AdminContext(ui, config_dir, tmp_path / "data", tmp_path / "logs", "ws://127.0.0.1:9")
    ctx.services = service
    return ctx


def test_start_when_not_installed_and_when_running(tmp_path: Path, config_dir: Path) -> None:
    missing = FakeService(ServiceStatus(installed=False, state="not_installed"))
    with pytest.raises(AdminExit) as stopped:
        start_service(_ctx(tmp_path, config_dir, missing))
    assert stopped.value.code == exits.NOT_INSTALLED
    assert stopped.value.lines[0].startswith("Service is not installed.")
    running = FakeService(ServiceStatus(installed=True, state="running", pid=42))
    with pytest.raises(AdminExit) as already:
        start_service(_ctx(tmp_path, config_dir, running))
    assert (already.value.code, already.value.kind, already.value.lines) == (
        exits.OK,
        "warn",
        ["Service is already running."],
    )
    assert missing.calls == running.calls == []



# ----- output ---------------------------------------------------------------------------------------------------
def test_plain_ascii_output_when_the_encoding_is_not_utf8() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii", errors="strict")
    ui = Ui(no_color=True, stdout=out)
    ui.ok("Saved.")
    ui.error("Failed.")
    ui.warn("Careful.")
    ui.panel(["line"], title="Box")
    out.flush()
    text = raw.getvalue().decode("ascii")
    assert "[OK] Saved." in text and "[FAIL] Failed." in text and "[WARN] Careful." in text
    assert "+" in text and "\x1b[" not in text  # ASCII box, no ANSI


def test_no_color_means_no_escape_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    ui = Ui(stdout=out)
    ui.ok("Saved.")
    ui.table(["a", "b"], [["1", "2"]])
    assert "\x1b[" not in out.getvalue() and "✓ Saved." in out.getvalue()


def test_audit_fallback_file_when_there_is_no_database(tmp_path: Path, config_dir: Path) -> None:
    ctx = _ctx(tmp_path, config_dir, default_service_control())
    ctx.audit("rule_changed", target="x", before={"a": 1}, after={"a": 2}, reason="why")
    [line] = (config_dir / "audit.log").read_text().splitlines()
    entry = json.loads(line)
    assert entry["action"] == "rule_changed" and entry["before"] == {"a": 1} and entry["reason"] == "why"
    assert [e.action for e in ctx.audit_log.read()] == ["rule_changed"]


def test_hash_password_uses_the_spec_parameters() -> None:
    encoded = hash_password("x" * 12)
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
