"""The one interface to OS accounts and permissions (daemon.md §8.2, §11).

``posix_access.PosixAccess`` (system user and group, owners and modes) and
``windows_access.WindowsAccess`` (LocalSystem, ACLs) implement it. What each path gets is a *plan*
computed from the layout, so ``install`` applies it and ``doctor`` audits against the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from risk_manager.service.layout import Layout

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class ServiceAccount:
    name: str
    uid: int | None = None
    gid: int | None = None


@dataclass(frozen=True)
class PermissionFinding:
    path: str
    severity: str  # ERROR | WARNING
    message: str


class AccessControl(Protocol):
    kind: str  # "posix" | "windows"

    def is_admin(self) -> bool: ...

    def admin_required_message(self) -> str: ...

    def service_account(self) -> ServiceAccount | None:
        """The account the service runs as, or None when it does not exist yet."""
        ...

    def ensure_service_account(self) -> tuple[ServiceAccount, list[str]]: ...

    def remove_service_account(self) -> list[str]: ...

    def secure(self, layout: Layout, account: ServiceAccount) -> list[str]:
        """Create the directories and apply the permission plan; one summary line per directory."""
        ...

    def audit(self, layout: Layout, account: ServiceAccount | None) -> list[PermissionFinding]: ...

    def secret_problem(self, path: Path, account: ServiceAccount | None) -> str | None: ...
