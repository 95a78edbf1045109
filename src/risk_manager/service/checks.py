"""The validations before ``service install`` and ``service start`` (daemon.md §10.3).

Each check prints one ✓ / ✗ / ! line with its fix; checks run in groups and stop at the first group
that fails, whose exit code is the command's:

1. administrator rights (4)
2. config files present and valid (5)
3. at least one enabled account, an API key for every enabled login, secrets permissions (5)
4. admin password set (5)
5. database at the current schema or migratable (3)
6. the Python environment reachable by the service (5)
7. service state suitable (install: not installed yet, else 10; start: installed, else 9 — checked
   second for start)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from risk_manager.exit_codes import (
    EXIT_ALREADY_INSTALLED,
    EXIT_DATABASE,
    EXIT_NOT_INSTALLED,
    EXIT_OK,
    EXIT_RIGHTS,
    EXIT_VALIDATION,
)
from risk_manager.service.access import AccessControl, ServiceAccount
from risk_manager.service.dbcheck import inspect_database
from risk_manager.service.layout import Layout
from risk_manager.service.manager import ManagerState

OK, FAIL, NOTE = "✓", "✗", "!"
#: directories systemd hides from the service (ProtectHome=yes)
HIDDEN_FROM_SERVICE = (Path("/root"), Path("/home"), Path("/run/user"))


@dataclass
class Check:
    mark: str
    text: str
    exit_code: int = EXIT_OK

    @property
    def line(self) -> str:
        return f"{self.mark} {self.text}"

    @property
    def failed(self) -> bool:
        return self.mark == FAIL


@dataclass
class Context:
    layout: Layout
    access: AccessControl
    state: ManagerState
    manager_kind: str
    #: "install", "upgrade", "repair" or "start"
    purpose: str
    account: ServiceAccount | None = None
    config: Any = None
    notes: list[str] = field(default_factory=list)


def issue_line(issue: Any) -> str:
    where = f"{issue.file} › {issue.path}" if issue.path else f"{issue.file}"
    line = f" (line {issue.line})" if issue.line is not None else ""
    return f"{where}{line}: {issue.message}"


def rights(ctx: Context) -> list[Check]:
    if ctx.access.is_admin():
        return [Check(OK, "Administrator rights")]
    return [Check(FAIL, ctx.access.admin_required_message()[2:], EXIT_RIGHTS)]


def config_valid(ctx: Context) -> list[Check]:
    from risk_manager.config.loader import ACCOUNTS_FILE, RISK_FILE, ConfigError, load_config

    directory = ctx.layout.config_dir
    missing = [name for name in (ACCOUNTS_FILE, RISK_FILE) if not (directory / name).is_file()]
    if missing:
        return [
            Check(
                FAIL,
                f"{', '.join(missing)} not found in {directory}. Create the configuration with: "
                f'risk-manager init --config-dir "{directory}", then edit it with "risk-manager admin"',
                EXIT_VALIDATION,
            )
        ]
    try:
        # The service does not inherit this shell's environment: keys must be in secrets.yaml.
        ctx.config = load_config(directory, env={})
    except ConfigError as exc:
        return [Check(FAIL, issue_line(issue), EXIT_VALIDATION) for issue in exc.issues]
    return [Check(OK, f"Configuration valid ({directory})")]


def accounts_and_keys(ctx: Context) -> list[Check]:
    config = ctx.config
    checks: list[Check] = []
    enabled = [acct for _, acct in config.account_configs() if acct.enabled]
    if not enabled:
        checks.append(
            Check(FAIL, 'No enabled account in accounts.yaml. Enable one with "risk-manager admin".', EXIT_VALIDATION)
        )
    for login in config.missing_api_keys():
        checks.append(
            Check(
                FAIL,
                f"No API key for login {login.user_name} in secrets.yaml. Add it with: risk-manager admin "
                f"accounts set-key --user {login.user_name} --api-key-stdin",
                EXIT_VALIDATION,
            )
        )
    if not checks:
        checks.append(Check(OK, f"{len(enabled)} enabled account(s); an API key for every login"))
    if ctx.purpose in ("install", "upgrade", "repair"):
        checks.append(Check(OK, "secrets.yaml and admin_password.hash: administrators and the service only (applied below)"))
        return checks
    for path in (ctx.layout.secrets_path, ctx.layout.admin_hash_path):
        problem = ctx.access.secret_problem(path, ctx.account)
        if problem:
            checks.append(
                Check(FAIL, f"{path.name} {problem}", EXIT_VALIDATION)
            )
    if all(not c.failed for c in checks):
        checks.append(Check(OK, "secrets.yaml readable by administrators and the service only"))
    return checks


def admin_password(ctx: Context) -> list[Check]:
    from risk_manager.daemon.api.password import AuthResult, HashFileProblem, read_admin_hash

    try:
        read_admin_hash(ctx.layout.admin_hash_path)
    except HashFileProblem as exc:
        if exc.result == AuthResult.NO_PASSWORD:
            return [Check(FAIL, "No admin password is set. Run: risk-manager admin password setup", EXIT_VALIDATION)]
        return [Check(FAIL, exc.message, EXIT_VALIDATION)]
    return [Check(OK, "Admin password set")]


def database(ctx: Context) -> list[Check]:
    from risk_manager.store import LATEST_VERSION, SchemaTooNewError

    path = ctx.layout.db_path
    if not path.exists():
        return [Check(OK, f"Database will be created at schema {LATEST_VERSION} ({path})")]
    try:
        version, problems = inspect_database(path)
    except Exception as exc:  # noqa: BLE001 - any failure to read is reported, never raised
        return [Check(NOTE, f"Database {path} cannot be checked ({exc}); the service moves a damaged file aside")]
    if version > LATEST_VERSION:
        return [Check(FAIL, str(SchemaTooNewError(version, LATEST_VERSION)), EXIT_DATABASE)]
    if problems:
        return [Check(NOTE, f"Database {path} is damaged ({problems[0]}); the service moves it aside and rebuilds")]
    if version < LATEST_VERSION:
        return [Check(OK, f"Database at schema {version}; migrates to {LATEST_VERSION} (backup first)")]
    return [Check(OK, f"Database at the current schema {version}")]


def environment(ctx: Context) -> list[Check]:
    if ctx.manager_kind != "systemd":
        return []
    interpreter = Path(sys.executable).resolve()
    for hidden in HIDDEN_FROM_SERVICE:
        if hidden in interpreter.parents:
            text = (
                f"The Python environment ({interpreter}) is under {hidden}, which the service cannot read "
                "(ProtectHome=yes). Install risk-manager into e.g. /opt/risk-manager/venv"
            )
            if ctx.layout.root is not None:  # staging: the target system decides
                return [Check(NOTE, text)]
            return [Check(FAIL, text, EXIT_VALIDATION)]
    return [Check(OK, f"Python environment {sys.prefix}")]


def service_state(ctx: Context) -> list[Check]:
    state = ctx.state
    if ctx.purpose == "start":
        if not state.installed:
            return [Check(FAIL, "Service is not installed. Run: risk-manager service install", EXIT_NOT_INSTALLED)]
        return [Check(OK, "Service installed")]
    if state.installed and ctx.purpose == "install":
        return [Check(NOTE, "Service is already installed. Use --upgrade to upgrade it in place.", EXIT_ALREADY_INSTALLED)]
    return [Check(OK, "Service state: " + ("installed" if state.installed else "not installed"))]


GROUPS: tuple[Callable[[Context], list[Check]], ...] = (
    rights,
    config_valid,
    accounts_and_keys,
    admin_password,
    database,
    environment,
    service_state,
)


def run_checks(ctx: Context, emit: Callable[[str], None]) -> Check | None:
    """Run the groups in order, printing each line; the first failing check, or None.

    ``start`` asks "is it installed?" right after the rights: nothing else matters before that."""
    groups = GROUPS
    if ctx.purpose == "start":
        groups = (rights, service_state, *[g for g in GROUPS if g not in (rights, service_state)])
    for group in groups:
        checks = group(ctx)
        for check in checks:
            emit(check.line)
        failed = next((c for c in checks if c.exit_code != EXIT_OK), None)
        if failed is not None:
            return failed
    return None
