"""What the service commands return: a status snapshot and the outcome of an action.

These are the public result types of ``risk_manager.service.api`` (the admin console shows them;
``service status --json`` prints ``ServiceStatus.to_dict()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from risk_manager.exit_codes import EXIT_OK

# Service states, the same words on Windows and Linux (admin-cli.md §6).
RUNNING = "running"
STOPPED = "stopped"
STARTING = "starting"
STOPPING = "stopping"
NOT_INSTALLED = "not_installed"
UNKNOWN = "unknown"
STATES = (RUNNING, STOPPED, STARTING, STOPPING, NOT_INSTALLED, UNKNOWN)

#: the words of daemon.md §10.3 for the human-readable status
STATE_LABELS = {
    RUNNING: "RUNNING",
    STOPPED: "STOPPED",
    STARTING: "START_PENDING",
    STOPPING: "STOP_PENDING",
    NOT_INSTALLED: "NOT INSTALLED",
    UNKNOWN: "UNKNOWN",
}


@dataclass
class ServiceStatus:
    installed: bool
    state: str
    start_type: str | None = None  # "delayed-auto", "auto", "manual", "disabled"
    pid: int | None = None
    recovery: str | None = None
    manager: str = ""  # "windows" | "systemd"
    name: str = ""
    config_dir: str = ""
    data_dir: str = ""
    log_dir: str = ""
    #: the daemon's own ``status`` answer over the local API (None when it does not answer)
    daemon: dict[str, Any] | None = None
    detail: str | None = None  # why the state is unknown, e.g. "systemd is not running"
    account: str | None = None  # what the service runs as ("risk-manager (uid 999, gid 995)", "LocalSystem")
    #: differences from the installed permissions (empty: as installed; None: not checked, no admin rights)
    permissions: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "installed": self.installed,
            "state": self.state,
            "startType": self.start_type,
            "pid": self.pid,
            "recovery": self.recovery,
            "manager": self.manager,
            "name": self.name,
            "directories": {"config": self.config_dir, "data": self.data_dir, "logs": self.log_dir},
            "daemon": self.daemon,
            "detail": self.detail,
            "account": self.account,
            "permissions": self.permissions,
        }


@dataclass
class Outcome:
    """The result of install, uninstall, start, stop, restart: an exit code and the final message.

    ``lines`` holds everything the action printed (the ✓ / ✗ check lines included)."""

    exit_code: int
    message: str
    lines: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {"exitCode": self.exit_code, "message": self.message, "lines": self.lines, **self.details}
