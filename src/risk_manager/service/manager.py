"""The one interface to the OS service manager (Windows SCM, systemd).

The installer only asks for these operations; each platform has one implementation
(``windows_scm.WindowsServiceManager``, ``systemd.SystemdManager``). Start and stop only *request* the
change: the installer polls ``query()`` for the target state, the same way on both systems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from risk_manager.service.layout import Layout


class ManagerError(Exception):
    """The service manager refused or failed; the message is the OS's own text."""


@dataclass
class ManagerState:
    installed: bool
    state: str  # one of outcome.STATES
    start_type: str | None = None
    pid: int | None = None
    recovery: str | None = None
    #: the registered command line (to detect a moved Python environment on upgrade)
    command: list[str] | None = None
    detail: str | None = None


@dataclass(frozen=True)
class ServiceDefinition:
    """What gets registered: the command the service manager runs and where its files are."""

    command: tuple[str, ...]
    layout: Layout
    extra: dict[str, str] = field(default_factory=dict)


class ServiceManager(Protocol):
    kind: str  # "windows" | "systemd"
    name: str  # service / unit name shown to the user

    def query(self) -> ManagerState: ...

    def register(self, definition: ServiceDefinition, *, update: bool) -> list[str]:
        """Create (or, with ``update``, re-apply) the registration with auto start and recovery.
        Returns what was done, one line each, for the installer's output."""
        ...

    def unregister(self) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...
