"""Load and validate the whole configuration directory into one immutable ``AppConfig``.

Every file is read and validated even when an earlier one failed, so one run of ``config check``
lists every problem. Per-account rule overrides are merged and validated here too: an error in an
override is reported against accounts.yaml, at the override's own line, before the daemon starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from risk_manager.config.issues import ConfigError, ConfigIssue, PathPart
from risk_manager.config.merge import deep_merge
from risk_manager.config.messages import issues_from_validation
from risk_manager.config.models import (
    AccountConfig,
    AccountsFile,
    DaemonSettings,
    HolidaysFile,
    Login,
    RiskConfig,
    RulesConfig,
    SecretsFile,
)
from risk_manager.config.secrets import SecretMap, env_overrides, permission_problem
from risk_manager.config.yaml_source import YamlDocument, YamlSyntaxError, decode, parse_yaml

RISK_FILE = "risk_config.yaml"
ACCOUNTS_FILE = "accounts.yaml"
HOLIDAYS_FILE = "holidays.yaml"
DAEMON_FILE = "daemon.yaml"
SECRETS_FILE = "secrets.yaml"
REQUIRED_FILES = (RISK_FILE, ACCOUNTS_FILE)
OPTIONAL_FILES = (HOLIDAYS_FILE, DAEMON_FILE, SECRETS_FILE)
ALL_FILES = (*REQUIRED_FILES, *OPTIONAL_FILES)

M = TypeVar("M", bound=BaseModel)

__all__ = ["AppConfig", "ConfigError", "ConfigIssue", "load_config", "validate_texts"]


class AppConfig:
    """The validated configuration. Immutable by convention; a reload builds a new one."""

    def __init__(
        self,
        *,
        risk: RiskConfig,
        accounts: AccountsFile,
        holidays: HolidaysFile,
        daemon: DaemonSettings,
        secrets: SecretMap,
        config_dir: Path | None,
        rules: dict[int, RulesConfig],
        warnings: list[ConfigIssue],
        pending: dict[int, RulesConfig] | None = None,
        documents: Mapping[str, YamlDocument | None] | None = None,
    ) -> None:
        self.risk = risk
        self.accounts = accounts
        self.holiday_file = holidays
        self.holidays: frozenset[date] = holidays.dates()
        self.daemon = daemon
        self.secrets = secrets
        self.config_dir = config_dir
        self.warnings = list(warnings)
        self._rules = rules
        self._pending = dict(pending or {})
        #: the parsed files (data and the line of every key), for messages that point at a line
        self.documents: dict[str, YamlDocument] = {k: v for k, v in (documents or {}).items() if v is not None}

    def __repr__(self) -> str:
        ids = [account.id for _, account in self.account_configs()]
        return f"AppConfig(config_dir={self.config_dir!s}, accounts={ids}, secrets={self.secrets!r})"

    def account_configs(self) -> list[tuple[Login, AccountConfig]]:
        """Every configured account with its login, enabled or not, in file order."""
        return [(login, account) for login in self.accounts.logins for account in login.accounts]

    def account(self, account_id: int) -> tuple[Login, AccountConfig]:
        for login, account in self.account_configs():
            if account.id == account_id:
                return login, account
        raise KeyError(f"account {account_id} is not configured")

    def rules_for(self, account_id: int) -> RulesConfig:
        """The account's ``rule_overrides`` deep-merged over the global rules (validated at load)."""
        try:
            return self._rules[account_id]
        except KeyError:
            raise KeyError(f"account {account_id} is not configured") from None

    @property
    def pending_from(self) -> date | None:
        """The trading day on which the scheduled ``pending`` rules take effect (None: nothing scheduled)."""
        pending = self.risk.pending
        return None if pending is None else pending.from_

    def pending_rules_for(self, account_id: int) -> RulesConfig | None:
        """The account's rules from ``pending_from`` on (validated at load), or None."""
        return self._pending.get(account_id) if self.risk.pending is not None else None

    def rules_in_force(self, account_id: int, trading_day: date) -> RulesConfig:
        """The rules that govern ``trading_day``: the scheduled ones once their day has come."""
        start = self.pending_from
        scheduled = self.pending_rules_for(account_id)
        if start is not None and scheduled is not None and trading_day >= start:
            return scheduled
        return self.rules_for(account_id)

    def api_key(self, user_name: str) -> str | None:
        return self.secrets.get(user_name)

    def missing_api_keys(self) -> list[Login]:
        """Logins with an enabled account but no API key (the daemon refuses to start on these)."""
        return [
            login
            for login in self.accounts.logins
            if any(a.enabled for a in login.accounts) and not self.secrets.get(login.user_name)
        ]

    @classmethod
    def from_dicts(
        cls,
        risk: dict[str, Any] | None,
        accounts: dict[str, Any],
        holidays: dict[str, Any] | None = None,
        daemon: dict[str, Any] | None = None,
        secrets: dict[str, Any] | None = None,
    ) -> AppConfig:
        """Build from plain data, as if read from files (no line numbers, no environment overrides)."""
        docs = {
            RISK_FILE: YamlDocument(RISK_FILE, risk),
            ACCOUNTS_FILE: YamlDocument(ACCOUNTS_FILE, accounts),
            HOLIDAYS_FILE: YamlDocument(HOLIDAYS_FILE, holidays),
            DAEMON_FILE: YamlDocument(DAEMON_FILE, daemon),
            SECRETS_FILE: YamlDocument(SECRETS_FILE, secrets),
        }
        return _build(docs, None, {}, [], [])


def _read(path: Path, issues: list[ConfigIssue]) -> YamlDocument | None:
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if name in REQUIRED_FILES:
            issues.append(
                ConfigIssue(
                    name, "", None, f"file not found: {path} (create the templates with: risk-manager init)"
                )
            )
        return None
    except OSError as exc:
        issues.append(ConfigIssue(name, "", None, f"cannot read {path}: {exc.strerror or exc}"))
        return None
    try:
        return parse_yaml(decode(raw, name), name)
    except YamlSyntaxError as exc:
        issues.append(exc.issue)
        return None


def _validate(
    model: type[M], doc: YamlDocument | None, issues: list[ConfigIssue], sensitive: bool = False
) -> M | None:
    data = {} if doc is None or doc.data is None else doc.data
    if not isinstance(data, dict):
        assert doc is not None
        issues.append(
            ConfigIssue(
                doc.file,
                "",
                1,
                f"expected key: value pairs at the top of the file, got {type(data).__name__}",
            )
        )
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues.extend(issues_from_validation(exc, model, doc or YamlDocument("?", data), sensitive=sensitive))
        return None


def _raw_overrides(data: Any) -> list[tuple[tuple[PathPart, ...], Any, Any]]:
    """``(path, account id, overrides)`` for every account in the raw accounts.yaml data that has any.

    Read from the raw data so that an override is checked even when another part of the file is invalid.
    """
    found: list[tuple[tuple[PathPart, ...], Any, Any]] = []
    logins = data.get("logins") if isinstance(data, dict) else None
    for li, login in enumerate(logins if isinstance(logins, list) else []):
        accounts = login.get("accounts") if isinstance(login, dict) else None
        for ai, account in enumerate(accounts if isinstance(accounts, list) else []):
            if isinstance(account, dict) and isinstance(account.get("rule_overrides"), dict):
                path: tuple[PathPart, ...] = ("logins", li, "accounts", ai, "rule_overrides")
                found.append((path, account.get("id"), account["rule_overrides"]))
    return found


def _account_rules(
    risk: RiskConfig | None, accounts: AccountsFile | None, doc: YamlDocument, issues: list[ConfigIssue]
) -> dict[int, RulesConfig]:
    # Overrides are checked even when risk_config.yaml is invalid (against the defaults), so their own
    # errors are not hidden behind the other file's.
    base = risk.rules if risk is not None else RulesConfig()
    base_data = base.model_dump()
    merged: dict[Any, RulesConfig] = {}
    for prefix, account_id, overrides in _raw_overrides(doc.data):
        if not overrides:
            continue
        try:
            merged[account_id] = RulesConfig.model_validate(deep_merge(base_data, overrides))
        except ValidationError as exc:
            issues.extend(issues_from_validation(exc, RulesConfig, doc, prefix=prefix))
    if accounts is None:
        return {}
    return {a.id: merged.get(a.id, base) for login in accounts.logins for a in login.accounts}


def _pending_rules(
    risk: RiskConfig | None,
    accounts: AccountsFile | None,
    risk_doc: YamlDocument | None,
    issues: list[ConfigIssue],
) -> dict[int, RulesConfig]:
    """Per account: ``pending.rules`` over the global rules, then the account's ``rule_overrides``,
    then ``pending.rule_overrides[id]``; each stage's errors point at its own lines."""
    if risk is None or risk.pending is None or risk_doc is None:
        return {}
    pending = risk.pending
    try:
        base = RulesConfig.model_validate(deep_merge(risk.rules.model_dump(), pending.rules))
    except ValidationError as exc:
        issues.extend(issues_from_validation(exc, RulesConfig, risk_doc, prefix=("pending", "rules")))
        return {}
    if accounts is None:
        return {}
    known = {a.id: a for login in accounts.logins for a in login.accounts}
    for account_id in pending.rule_overrides:
        if account_id not in known:
            issues.append(
                ConfigIssue(
                    risk_doc.file,
                    f"pending.rule_overrides.{account_id}",
                    risk_doc.line_of(("pending", "rule_overrides", account_id)),
                    f"account {account_id} is not configured in accounts.yaml",
                )
            )
    out: dict[int, RulesConfig] = {}
    for account_id, account in known.items():
        data = deep_merge(base.model_dump(), account.rule_overrides)
        extra = pending.rule_overrides.get(account_id)
        if extra:
            data = deep_merge(data, extra)
        try:
            out[account_id] = RulesConfig.model_validate(data)
        except ValidationError as exc:
            prefix: tuple[PathPart, ...] = ("pending", "rule_overrides", account_id)
            issues.extend(issues_from_validation(exc, RulesConfig, risk_doc, prefix=prefix))
    return out


def _secrets(
    secrets_file: SecretsFile | None,
    accounts: AccountsFile | None,
    env: Mapping[str, str],
    issues: list[ConfigIssue],
    warnings: list[ConfigIssue],
) -> SecretMap:
    keys = dict(secrets_file.api_keys) if secrets_file is not None else {}
    user_names = [login.user_name for login in accounts.logins] if accounts is not None else []
    from_env, env_issues = env_overrides(env, user_names)
    issues.extend(env_issues)
    keys.update(from_env)
    if accounts is not None:
        known = {name.casefold() for name in user_names}
        for user in keys:
            if user.casefold() not in known:
                warnings.append(
                    ConfigIssue(
                        SECRETS_FILE, f"api_keys.{user}", None, "no login in accounts.yaml has this user_name"
                    )
                )
    return SecretMap(keys)


def _build(
    docs: Mapping[str, YamlDocument | None],
    config_dir: Path | None,
    env: Mapping[str, str],
    issues: list[ConfigIssue],
    warnings: list[ConfigIssue],
) -> AppConfig:
    risk = _validate(RiskConfig, docs.get(RISK_FILE), issues)
    accounts_doc = docs.get(ACCOUNTS_FILE)
    accounts = _validate(AccountsFile, accounts_doc, issues) if accounts_doc is not None else None
    rules = _account_rules(risk, accounts, accounts_doc, issues) if accounts_doc is not None else {}
    pending = _pending_rules(risk, accounts, docs.get(RISK_FILE), issues)
    if accounts is not None and not any(a.enabled for login in accounts.logins for a in login.accounts):
        warnings.append(
            ConfigIssue(ACCOUNTS_FILE, "logins", None, "no enabled account: nothing is protected")
        )
    holidays = _validate(HolidaysFile, docs.get(HOLIDAYS_FILE), issues)
    daemon = _validate(DaemonSettings, docs.get(DAEMON_FILE), issues)
    secrets_file = _validate(SecretsFile, docs.get(SECRETS_FILE), issues, sensitive=True)
    secrets = _secrets(secrets_file, accounts, env, issues, warnings)
    if issues:
        order = {name: i for i, name in enumerate(ALL_FILES)}
        issues.sort(key=lambda i: (order.get(i.file, len(order)), i.line or 0))
        raise ConfigError(issues)
    assert risk is not None and accounts is not None and holidays is not None and daemon is not None
    return AppConfig(
        risk=risk,
        accounts=accounts,
        holidays=holidays,
        daemon=daemon,
        secrets=secrets,
        config_dir=config_dir,
        rules=rules,
        warnings=warnings,
        pending=pending,
        documents=docs,
    )


def load_config(config_dir: Path, env: Mapping[str, str] | None = None) -> AppConfig:
    """Read every config file in ``config_dir``; raise ``ConfigError`` listing all problems.

    ``env`` (default ``os.environ``) supplies the ``RISK_MANAGER_API_KEY(S)`` overrides.
    """
    config_dir = Path(config_dir)
    if not config_dir.is_dir():
        raise ConfigError(
            [
                ConfigIssue(
                    str(config_dir),
                    "",
                    None,
                    "configuration directory not found (create it with: risk-manager init --config-dir DIR)",
                )
            ]
        )
    issues: list[ConfigIssue] = []
    warnings: list[ConfigIssue] = []
    docs = {name: _read(config_dir / name, issues) for name in ALL_FILES}
    secrets_path = config_dir / SECRETS_FILE
    if docs[SECRETS_FILE] is not None:
        problem = permission_problem(secrets_path)
        if problem:
            warnings.append(ConfigIssue(SECRETS_FILE, "", None, problem))
    return _build(docs, config_dir, os.environ if env is None else env, issues, warnings)


def validate_texts(
    config_dir: Path, texts: Mapping[str, str], env: Mapping[str, str] | None = None
) -> AppConfig:
    """Validate ``config_dir`` as if the files named in ``texts`` had that content (unsaved edits).

    The admin console checks a change with exactly the daemon's rules before writing anything; files
    not in ``texts`` are read from the directory. ``env`` defaults to none (only files are judged).
    """
    issues: list[ConfigIssue] = []
    warnings: list[ConfigIssue] = []
    docs: dict[str, YamlDocument | None] = {}
    for name in ALL_FILES:
        if name in texts:
            try:
                docs[name] = parse_yaml(texts[name], name)
            except YamlSyntaxError as exc:
                issues.append(exc.issue)
                docs[name] = None
        else:
            docs[name] = _read(Path(config_dir) / name, issues)
    return _build(docs, Path(config_dir), {} if env is None else env, issues, warnings)
