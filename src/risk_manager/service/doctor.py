"""``risk-manager doctor`` (daemon.md §12): is this installation healthy, and what to do if not.

Checks, each reported ok / warning / error (or skipped) with a fix: the directories and their
permissions, the configuration, the secrets' permissions, the database (full ``integrity_check``),
the daemon answering on its local API, the clock against the broker's, and whether the person at the
keyboard is an administrator (the stated limit of §11: such a trader can switch the protection off).

Which directories: the ones given, else those the installed service is registered with, else the
console defaults (what ``risk-manager run`` would use).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from risk_manager.platform.filelock import lock_state
from risk_manager.platform.permissions import interactive_user, secret_file_problem, user_is_administrator
from risk_manager.service.access import AccessControl
from risk_manager.service.checks import issue_line
from risk_manager.service.dbcheck import inspect_database
from risk_manager.service.layout import Layout
from risk_manager.service.outcome import ServiceStatus
from risk_manager.service.probe import api_url, ask_daemon

OK, WARNING, ERROR, SKIPPED = "ok", "warning", "error", "skipped"
SKEW_OK_S = 2.0
SKEW_ERROR_S = 30.0


@dataclass
class Finding:
    check: str
    status: str
    message: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "message": self.message, "fix": self.fix}


@dataclass
class Report:
    mode: str  # "service" | "console" | "custom"
    layout: Layout
    service: ServiceStatus | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.status != ERROR for f in self.findings)

    def add(self, check: str, status: str, message: str, fix: str | None = None) -> None:
        self.findings.append(Finding(check, status, message, fix))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "mode": self.mode,
            "directories": self.layout.directories(),
            "service": self.service.to_dict() if self.service else None,
            "findings": [f.to_dict() for f in self.findings],
        }


def check_directories(report: Report, access: AccessControl | None) -> None:
    layout = report.layout
    for kind, path in (("config", layout.config_dir), ("data", layout.data_dir), ("logs", layout.log_dir)):
        if path.is_dir():
            report.add("directories", OK, f"{kind}: {path}")
        elif report.mode == "service":
            report.add("directories", ERROR, f"{kind} directory missing: {path}",
                       "run as administrator: risk-manager service install --repair-permissions")
        elif kind == "config":
            report.add("directories", ERROR, f"{kind} directory missing: {path}", f'risk-manager init --config-dir "{path}"')
        else:  # the daemon creates its data and log directories at its first start
            report.add("directories", WARNING, f"{kind} directory missing: {path}", "created by risk-manager run")
    if access is None or report.mode != "service":
        return
    account = access.service_account()
    findings = access.audit(layout, account)
    for f in findings:
        report.add("permissions", f.severity, f"{f.path}: {f.message}" if f.path else f.message,
                   "run as administrator: risk-manager service install --repair-permissions")
    if not findings:
        report.add("permissions", OK, "owners and modes as installed")


def check_config(report: Report) -> Any:
    from risk_manager.config.loader import ConfigError, load_config

    try:
        config = load_config(report.layout.config_dir, env={} if report.mode == "service" else None)
    except ConfigError as exc:
        directory = report.layout.config_dir
        fix = 'edit it with "risk-manager admin"' if directory.is_dir() else f'risk-manager init --config-dir "{directory}"'
        for issue in exc.issues:
            report.add("config", ERROR, issue_line(issue), fix)
        return None
    except OSError as exc:
        report.add("config", ERROR, f"cannot read the configuration: {exc}", "run doctor as administrator")
        return None
    missing = [login.user_name for login in config.missing_api_keys()]
    if missing:
        report.add("config", ERROR, f"no API key for {', '.join(missing)} in secrets.yaml",
                   "risk-manager admin accounts set-key --user USER --api-key-stdin")
    else:
        report.add("config", OK, f"valid: {len(config.account_configs())} account(s)")
    return config


def check_secrets(report: Report, access: AccessControl | None) -> None:
    account = access.service_account() if access is not None else None
    for path in (report.layout.secrets_path, report.layout.admin_hash_path):
        if not path.exists():
            status = WARNING if path == report.layout.admin_hash_path else SKIPPED
            report.add("secrets", status, f"{path.name} not present",
                       "risk-manager admin password setup" if status == WARNING else None)
            continue
        if report.mode == "service" and access is not None:
            problem = access.secret_problem(path, account)
            fix = "run as administrator: risk-manager service install --repair-permissions"
        else:
            problem = secret_file_problem(path, owner_only=True)
            fix = f"restrict {path} to your own account"
        if problem:
            report.add("secrets", ERROR, f"{path.name} {problem}", fix)
        else:
            report.add("secrets", OK, f"{path.name}: readable by administrators and the service only")


def check_database(report: Report) -> None:
    from risk_manager.store import LATEST_VERSION, StoreError

    path = report.layout.db_path
    if not path.exists():
        report.add("database", WARNING, f"{path} does not exist yet", "it is created at the first start")
        return
    try:
        version, problems = inspect_database(path, full=True)
    except (sqlite3.Error, StoreError) as exc:
        report.add("database", ERROR, f"{path}: {exc}", "stop the service; it moves a damaged file aside at start")
        return
    if problems:
        report.add("database", ERROR, f"{path} failed integrity_check: {'; '.join(problems[:3])}",
                   "restart the service: it moves the damaged file aside and rebuilds from the broker")
    elif version > LATEST_VERSION:
        report.add("database", ERROR, f"schema {version} is newer than this program ({LATEST_VERSION})",
                   "upgrade risk-manager or restore a backup")
    else:
        size = path.stat().st_size / 1_048_576
        report.add("database", OK, f"{path}: integrity ok, schema {version}, {size:.1f} MB")


def check_daemon(report: Report) -> None:
    url = api_url(report.layout.config_dir)
    answer = ask_daemon(url, 3.0)
    if answer is None:
        installed = report.service is not None and report.service.installed
        report.add("daemon", ERROR if installed else WARNING, f"not answering on {url}: accounts are NOT protected",
                   "risk-manager service start" if installed else "risk-manager run")
        return
    total = len(answer.accounts)
    status = OK if answer.protected == total else WARNING
    report.add("daemon", status, f"running (PID {answer.pid}, version {answer.version}) on {url}: "
               f"{answer.protected} of {total} accounts protected")


def measure_skew(url: str, timeout: float = 5.0) -> float:
    """Broker clock minus ours, in seconds, from the HTTP ``Date`` header (±1 s resolution)."""
    import httpx

    before = time.time()
    response = httpx.get(url, timeout=timeout, follow_redirects=False)
    after = time.time()
    header = response.headers.get("date")
    if not header:
        raise ValueError(f"{url} sent no Date header")
    broker = parsedate_to_datetime(header).astimezone(UTC).timestamp()
    return broker - (before + after) / 2


def check_clock(report: Report, config: Any) -> None:
    if config is None:
        report.add("clock", SKIPPED, "needs a valid configuration (broker URL)")
        return
    url = config.accounts.gateway.urls()[0]
    try:
        skew = measure_skew(url)
    except Exception as exc:  # noqa: BLE001 - network errors of every kind end up here
        report.add("clock", WARNING, f"could not read the broker's clock at {url}: {exc}")
        return
    text = f"{abs(skew):.1f} s {'behind' if skew > 0 else 'ahead of'} the broker ({url})"
    if abs(skew) <= SKEW_OK_S:
        report.add("clock", OK, text)
    else:
        status = WARNING if abs(skew) <= SKEW_ERROR_S else ERROR
        report.add("clock", status, text, "enable time synchronisation (NTP / Windows Time)")


def check_administrator(report: Report) -> None:
    user = interactive_user()
    if user_is_administrator(user):
        report.add("administrator", WARNING,
                   f"{user} is an administrator: such an account can stop the service or change its files",
                   "trade under a standard account; keep the administrator account and admin password "
                   "with someone else; set TopstepX's own limits as a backstop")
    else:
        report.add("administrator", OK, f"{user} is a standard account")


def vacuum(report: Report) -> None:
    held, _pid = lock_state(report.layout.lock_path)
    if held:
        report.add("vacuum", ERROR, "the daemon is running", "stop the service first (risk-manager service stop)")
        return
    path = report.layout.db_path
    before = path.stat().st_size if path.exists() else 0
    conn = sqlite3.connect(str(path))
    try:
        conn.execute("VACUUM")
    finally:
        conn.close()
    report.add("vacuum", OK, f"{path}: {before / 1_048_576:.1f} MB -> {path.stat().st_size / 1_048_576:.1f} MB")


def run_doctor(report: Report, access: AccessControl | None, *, do_vacuum: bool = False) -> Report:
    check_directories(report, access)
    config = check_config(report)
    check_secrets(report, access)
    check_database(report)
    check_daemon(report)
    check_clock(report, config)
    check_administrator(report)
    if do_vacuum:
        vacuum(report)
    return report


def layout_in_effect(
    root: Path | None, config_dir: Path | None, data_dir: Path | None, log_dir: Path | None
) -> tuple[str, Layout, ServiceStatus | None, AccessControl | None]:
    """Which installation doctor looks at (see the module docstring)."""
    from risk_manager.paths import default_config_dir, default_data_dir, default_log_dir
    from risk_manager.service.api import platform_parts
    from risk_manager.service.installer import Installer

    layout, manager, access, command = platform_parts(root)
    status = Installer(layout, manager, access, command=command).status(ask=False)
    if config_dir or data_dir or log_dir:
        custom = Layout(
            config_dir or default_config_dir(), data_dir or default_data_dir(), log_dir or default_log_dir(), root
        )
        return "custom", custom, status, access
    if status.installed or root is not None:
        service = Layout(Path(status.config_dir), Path(status.data_dir), Path(status.log_dir), root)
        return "service", service, status, access
    console = Layout(default_config_dir(), default_data_dir(), default_log_dir())
    return "console", console, status, None


def doctor(
    *,
    root: Path | None = None,
    config_dir: Path | None = None,
    data_dir: Path | None = None,
    log_dir: Path | None = None,
    do_vacuum: bool = False,
) -> Report:
    mode, layout, status, access = layout_in_effect(root, config_dir, data_dir, log_dir)
    return run_doctor(Report(mode, layout, status), access, do_vacuum=do_vacuum)
