"""Windows accounts and permissions for the service (daemon.md §8.2, §10.1, §11).

The service runs as LocalSystem, so no account is created. Permissions are ACLs, written as SDDL:

| Path | ACL (protected, owner Administrators) |
|---|---|
| config dir and everything in it | SYSTEM, Administrators: full control; nobody else |
| data dir, log dir | SYSTEM, Administrators: full; Users: read and execute (offline dashboard) |
| files in the data and log dirs | inherited from their directory |

The ACL calls go through ``AclApi`` (``platform._win_acl`` on Windows; a recording one in the Linux
tests).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from risk_manager.service.access import ERROR, WARNING, PermissionFinding, ServiceAccount
from risk_manager.service.layout import Layout

SYSTEM_SID = "S-1-5-18"
ADMINISTRATORS_SID = "S-1-5-32-544"
USERS_SID = "S-1-5-32-545"
ADMIN_SIDS = frozenset({SYSTEM_SID, ADMINISTRATORS_SID})
READ_BITS = 0x0001 | 0x80000000 | 0x10000000
WRITE_BITS = 0x0002 | 0x0004 | 0x10000 | 0x40000 | 0x80000 | 0x40000000 | 0x10000000

CONFIG_DIR_SDDL = "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
CONFIG_FILE_SDDL = "O:BAD:PAI(A;;FA;;;SY)(A;;FA;;;BA)"
SHARED_DIR_SDDL = "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FRFX;;;BU)"
INHERIT_SDDL = "O:BAD:AI"

LOCAL_SYSTEM = ServiceAccount("LocalSystem")


class AclApi(Protocol):
    def is_elevated(self) -> bool: ...

    def apply_sddl(self, path: Path, sddl: str) -> None: ...

    def file_aces(self, path: Path) -> list[tuple[str, int, bool]]: ...

    def secret_problem(self, path: Path) -> str | None: ...


class Pywin32Acl:  # pragma: no cover - Windows only
    def is_elevated(self) -> bool:
        from risk_manager.platform import _win_acl

        return _win_acl.is_elevated()

    def apply_sddl(self, path: Path, sddl: str) -> None:
        from risk_manager.platform import _win_acl

        _win_acl.apply_sddl(path, sddl)

    def file_aces(self, path: Path) -> list[tuple[str, int, bool]]:
        from risk_manager.platform import _win_acl

        return _win_acl.file_aces(path)

    def secret_problem(self, path: Path) -> str | None:
        from risk_manager.platform import _win_acl

        return _win_acl.secret_problem(path)


def plan(layout: Layout) -> list[tuple[Path, str]]:
    """The SDDL every existing path of an installation gets, parents before children."""
    entries: list[tuple[Path, str]] = [(layout.config_dir, CONFIG_DIR_SDDL)]
    for dirpath, dirnames, filenames in os.walk(layout.config_dir):
        base = Path(dirpath)
        entries += [(base / d, CONFIG_DIR_SDDL) for d in sorted(dirnames)]
        entries += [(base / f, CONFIG_FILE_SDDL) for f in sorted(filenames)]
    for top in (layout.data_dir, layout.log_dir):
        entries.append((top, SHARED_DIR_SDDL))
        for dirpath, dirnames, filenames in os.walk(top):
            base = Path(dirpath)
            entries += [(base / name, INHERIT_SDDL) for name in sorted([*dirnames, *filenames])]
    return entries


class WindowsAccess:
    kind = "windows"

    def __init__(self, api: AclApi | None = None) -> None:
        self.api: AclApi = api if api is not None else Pywin32Acl()

    def is_admin(self) -> bool:
        return self.api.is_elevated()

    def admin_required_message(self) -> str:
        return '✗ Administrator rights required. Right-click the terminal and choose "Run as administrator".'

    def service_account(self) -> ServiceAccount | None:
        return LOCAL_SYSTEM

    def ensure_service_account(self) -> tuple[ServiceAccount, list[str]]:
        return LOCAL_SYSTEM, []

    def remove_service_account(self) -> list[str]:
        return []

    def secure(self, layout: Layout, account: ServiceAccount) -> list[str]:
        for top in (layout.config_dir, layout.data_dir, layout.log_dir):
            top.mkdir(parents=True, exist_ok=True)
        for path, sddl in plan(layout):
            self.api.apply_sddl(path, sddl)
        return [
            f"{layout.config_dir}: SYSTEM and Administrators only",
            f"{layout.data_dir}: SYSTEM and Administrators full control, Users read",
            f"{layout.log_dir}: SYSTEM and Administrators full control, Users read",
        ]

    def audit(self, layout: Layout, account: ServiceAccount | None) -> list[PermissionFinding]:
        findings: list[PermissionFinding] = []
        for path, sddl in plan(layout):
            if not path.exists():
                continue
            aces = self.api.file_aces(path)
            outsiders = [(sid, mask) for sid, mask, allow in aces if allow and sid not in ADMIN_SIDS]
            if sddl in (CONFIG_DIR_SDDL, CONFIG_FILE_SDDL):
                readers = sorted({sid for sid, mask in outsiders if mask & (READ_BITS | WRITE_BITS)})
                if readers:
                    findings.append(
                        PermissionFinding(str(path), ERROR, f"accessible to {', '.join(readers)} (expected "
                                          "SYSTEM and Administrators only)")
                    )
                continue
            writers = sorted({sid for sid, mask in outsiders if mask & WRITE_BITS})
            if writers:
                findings.append(PermissionFinding(str(path), ERROR, f"writable by {', '.join(writers)}"))
            if sddl == SHARED_DIR_SDDL and not any(sid == USERS_SID and mask & READ_BITS for sid, mask in outsiders):
                findings.append(PermissionFinding(str(path), WARNING, "Users cannot read it (offline dashboard)"))
        for top in (layout.config_dir, layout.data_dir, layout.log_dir):
            if not top.is_dir():
                findings.append(PermissionFinding(str(top), ERROR, "directory missing"))
        return findings

    def secret_problem(self, path: Path, account: ServiceAccount | None) -> str | None:
        return self.api.secret_problem(path)
