"""The service layer's public API (``risk-manager service``, ``doctor`` and the admin console use it).

    status() -> ServiceStatus          installed, state, start_type, pid, to_dict()
    start() / stop() / restart()       -> Outcome(exit_code, message, lines)
    install(...) / uninstall(...)      -> Outcome

Each call builds this platform's parts (Windows: SCM + ACLs; Linux: systemd + POSIX permissions) for
the service directories, or for a staging ``root`` (Linux only). Confirmations (typed ``STOP``,
``UNINSTALL``, ``PURGE``) are the caller's job: these functions act when called.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from risk_manager.service.access import AccessControl
from risk_manager.service.installer import Installer
from risk_manager.service.layout import Layout
from risk_manager.service.manager import ServiceManager
from risk_manager.service.outcome import (
    NOT_INSTALLED,
    RUNNING,
    STARTING,
    STATES,
    STOPPED,
    STOPPING,
    UNKNOWN,
    Outcome,
    ServiceStatus,
)

__all__ = [
    "NOT_INSTALLED",
    "RUNNING",
    "STARTING",
    "STATES",
    "STOPPED",
    "STOPPING",
    "UNKNOWN",
    "Outcome",
    "ServiceStatus",
    "install",
    "platform_parts",
    "restart",
    "start",
    "status",
    "stop",
    "uninstall",
]

Emit = Callable[[str], None]


class UnsupportedPlatform(Exception):
    pass


def platform_parts(root: Path | None = None) -> tuple[Layout, ServiceManager, AccessControl, Callable[[Layout], list[str]]]:
    """Layout, service manager, access control and service command line for this OS."""
    from risk_manager.service import command

    layout = Layout.for_service(root)
    if sys.platform == "win32":  # pragma: no cover - Windows
        if root is not None:
            raise UnsupportedPlatform("--root is for staging a Linux installation")
        from risk_manager.service.windows_access import WindowsAccess
        from risk_manager.service.windows_scm import WindowsServiceManager

        return layout, WindowsServiceManager(layout), WindowsAccess(), command.windows_command
    from risk_manager.service.posix_access import PosixAccess
    from risk_manager.service.systemd import SystemdManager

    return layout, SystemdManager(layout), PosixAccess(root), command.linux_command


def installer(root: Path | None = None, emit: Emit | None = None) -> Installer:
    layout, manager, access, cmd = platform_parts(root)
    return Installer(layout, manager, access, command=cmd, emit=emit)


def status(*, root: Path | None = None, ask_daemon: bool = True) -> ServiceStatus:
    """The service manager's view plus, when it runs, the daemon's own ``status`` answer."""
    return installer(root).status(ask=ask_daemon)


def start(*, root: Path | None = None, emit: Emit | None = None) -> Outcome:
    return installer(root, emit).start()


def stop(*, root: Path | None = None, emit: Emit | None = None) -> Outcome:
    return installer(root, emit).stop()


def restart(*, root: Path | None = None, emit: Emit | None = None) -> Outcome:
    return installer(root, emit).restart()


def install(
    *,
    no_start: bool = False,
    upgrade: bool = False,
    repair_permissions: bool = False,
    root: Path | None = None,
    emit: Emit | None = None,
) -> Outcome:
    return installer(root, emit).install(no_start=no_start, upgrade=upgrade, repair_permissions=repair_permissions)


def uninstall(*, purge: bool = False, root: Path | None = None, emit: Emit | None = None) -> Outcome:
    return installer(root, emit).uninstall(purge=purge)
