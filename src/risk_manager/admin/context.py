"""What one console run knows: directories, the daemon's URL, rights, the session password.

Directories default to the *installed* locations (service mode of ``risk_manager.paths``), because the
console administers the service; ``--config-dir`` / ``--data-dir`` / ``--log-dir`` and the
``RISK_MANAGER_*_DIR`` variables override them. The session password is held in memory only, for
opening the daemon's admin session (reload, unlock); it is never written anywhere.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from risk_manager.admin import exits
from risk_manager.admin.audit import AuditLog
from risk_manager.admin.config_files import ConfigFiles
from risk_manager.admin.daemon_client import DaemonClient, DaemonError, DaemonUnavailable
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.password import PasswordStore
from risk_manager.admin.service_control import ServiceControl, default_service_control
from risk_manager.admin.ui import Ui
from risk_manager.api_address import published
from risk_manager.config.loader import DAEMON_FILE
from risk_manager.paths import default_config_dir, default_data_dir, default_log_dir
from risk_manager.platform.console import can_write_dir, host_name, os_user
from risk_manager.security.admin_token import AdminTokenUnreadable, read_admin_token

DEFAULT_PORT = 8765

RIGHTS_LINES = (
    'Windows: close this window and start the terminal with "Run as administrator".',
    "Linux:   run  sudo risk-manager admin",
)


def rights_error(what: str = "change the configuration", *extra: str) -> AdminExit:
    return AdminExit(exits.RIGHTS, f"Administrator rights required to {what}.", *RIGHTS_LINES, *extra)


def api_url_from_config(config_dir: Path, data_dir: Path | None = None) -> str:
    """``ws://127.0.0.1:<port>`` with the port of ``daemon.yaml`` when it is readable and valid; else
    the address the daemon published in ``data_dir`` (a standard user cannot read the service's
    ``daemon.yaml``), else the default port."""
    port, host = DEFAULT_PORT, "127.0.0.1"
    try:
        from risk_manager.config.models import DaemonSettings
        from risk_manager.config.yaml_source import parse_yaml

        text = (config_dir / DAEMON_FILE).read_text(encoding="utf-8")
    except OSError:
        announced = published(data_dir) if data_dir is not None else None
        if announced is not None:
            return announced
        text = ""
    with contextlib.suppress(Exception):
        settings = DaemonSettings.model_validate(parse_yaml(text, DAEMON_FILE).data or {})
        port, host = settings.api.port, settings.api.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"ws://{host}:{port}"


@dataclass
class AdminContext:
    ui: Ui
    config_dir: Path
    data_dir: Path
    log_dir: Path
    api_url: str
    debug: bool = False
    password: str | None = None
    services: ServiceControl = field(default_factory=default_service_control)
    _daemon: DaemonClient | None = None

    @classmethod
    def create(
        cls,
        ui: Ui,
        *,
        config_dir: Path | None,
        data_dir: Path | None,
        log_dir: Path | None,
        api_url: str | None,
        debug: bool = False,
    ) -> AdminContext:
        cfg = (config_dir or default_config_dir(mode="service")).expanduser()
        data = (data_dir or default_data_dir(mode="service")).expanduser()
        return cls(
            ui=ui,
            config_dir=cfg,
            data_dir=data,
            log_dir=(log_dir or default_log_dir(mode="service")).expanduser(),
            api_url=api_url or api_url_from_config(cfg, data),
            debug=debug,
        )

    def __post_init__(self) -> None:
        self.os_user = os_user()
        self.host = host_name()
        self.files = ConfigFiles(self.config_dir, self.os_user)
        self.passwords = PasswordStore(self.config_dir)
        self.audit_log = AuditLog(self.data_dir, self.config_dir, self.os_user, self.host)
        self.daemon_reason = ""
        self._stdin: list[str] | None = None

    # ----- scripted input -------------------------------------------------------------------------------
    def stdin_line(self, what: str, option: str) -> str:
        """The next line of stdin (password, new password, API key: in that order on the command line)."""
        if self._stdin is None:
            import sys

            self._stdin = [line.rstrip("\r\n") for line in sys.stdin.readlines()]
        if not self._stdin or not self._stdin[0].strip():
            raise AdminExit(exits.USAGE, f"{option}: no {what} on stdin.")
        return self._stdin.pop(0)

    # ----- rights ---------------------------------------------------------------------------------------
    def has_rights(self) -> bool:
        """The deciding check of §2: may this process write the config directory?"""
        directory = self.config_dir
        while not directory.exists() and directory.parent != directory:
            directory = directory.parent
        return can_write_dir(directory)

    def require_rights(self, what: str = "change the configuration") -> None:
        if not self.has_rights():
            self.audit("rights_refused", target=str(self.config_dir), outcome=f"refused: {what}")
            raise rights_error(what)

    # ----- audit ----------------------------------------------------------------------------------------
    def audit(self, action: str, **fields: Any) -> None:
        if not self.audit_log.write(action, **fields) and self.audit_log.last_error:
            self.ui.warn(f"Could not write the audit entry: {self.audit_log.last_error}")

    # ----- daemon ---------------------------------------------------------------------------------------
    def daemon(self) -> DaemonClient | None:
        """A connected client, or None when the daemon does not answer (reason in ``daemon_reason``)."""
        if self._daemon is not None and self._daemon.is_open:
            return self._daemon
        self.daemon_reason = ""
        try:
            self._daemon = DaemonClient(self.api_url).open()
        except DaemonUnavailable as exc:
            self._daemon = None
            self.daemon_reason = exc.reason
            return None
        return self._daemon

    def daemon_snapshot(self) -> dict[str, Any] | None:
        client = self.daemon()
        if client is None:
            return None
        try:
            return client.fresh_snapshot()
        except (DaemonUnavailable, DaemonError):
            self.drop_daemon()
            client = self.daemon()
            return client.snapshot if client is not None else None

    def drop_daemon(self) -> None:
        if self._daemon is not None:
            self._daemon.logout()
            self._daemon.close()
        self._daemon = None

    def admin_token(self) -> str:
        try:
            return read_admin_token(self.data_dir)
        except AdminTokenUnreadable as exc:
            raise AdminExit(
                exits.RIGHTS,
                "The daemon's admin token is not readable: run the console as an administrator "
                "(or the daemon is not running).",
                f"{exc.path}: {exc.why}",
            ) from None

    def daemon_admin(self) -> DaemonClient:
        """A client with an admin session (password + admin token); AdminExit when impossible."""
        client = self.daemon()
        if client is None:
            raise AdminExit(
                exits.DAEMON_UNREACHABLE,
                f"The daemon is not answering on {self.api_url} ({self.daemon_reason}).",
            )
        if client.session is not None:
            return client
        if self.password is None:
            raise AdminExit(exits.AUTH, "No admin password for the daemon session.")
        token = self.admin_token()
        try:
            client.auth(self.password, token, self.os_user)
        except DaemonError as exc:
            code = exits.RIGHTS if exc.code == "unauthorized" else exits.AUTH
            raise AdminExit(code, f"The daemon refused the admin session: {exc.message}") from None
        except DaemonUnavailable as exc:
            raise AdminExit(exits.DAEMON_UNREACHABLE, str(exc)) from None
        return client
