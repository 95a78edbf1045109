"""Linux/POSIX accounts and permissions for the service (daemon.md §8.2, §10.2, §11).

| Path | Owner:group | Mode | Why |
|---|---|---|---|
| config dir | root:risk-manager | 0750 | the service reads; traders cannot even list it |
| config files, ``secrets.yaml``, ``admin_password.hash`` | root:risk-manager | 0640 | admins write, the service reads, traders nothing |
| anything else in the config dir (console backups, audit) | root:root | 0700 / 0600 | administrators only |
| data dir, log dir | risk-manager:risk-manager | 0755 | the service writes; traders read (offline dashboard) |
| ``risk.db`` (and side files), logs | risk-manager:risk-manager | 0644 | as above |
| ``data/backups`` | risk-manager:risk-manager | 0750 / 0640 | database copies are for administrators |
| ``data/admin.token`` | risk-manager:risk-manager | 0600 | the local API's admin channel: the daemon and root only |

The system user and group are created with ``useradd``/``groupadd``; with a staging root they are
written to ``ROOT/etc/passwd`` and ``ROOT/etc/group`` (``--prefix``), never to this machine's files.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from risk_manager.platform.permissions import is_administrator, secret_file_problem
from risk_manager.service.access import ERROR, WARNING, PermissionFinding, ServiceAccount
from risk_manager.service.layout import ADMIN_HASH_FILE, CONFIG_FILES, SECRETS_FILE, Layout
from risk_manager.service.names import SERVICE_GROUP, SERVICE_USER

ROOT, SERVICE = "root", "service"
REPAIR = "run as administrator: risk-manager service install --repair-permissions"
SHARED_CONFIG = frozenset({*CONFIG_FILES, SECRETS_FILE, ADMIN_HASH_FILE})


@dataclass(frozen=True)
class Entry:
    path: Path
    owner: str  # ROOT | SERVICE
    group: str
    mode: int
    is_dir: bool
    in_config: bool


def _walk(top: Path) -> Iterator[tuple[Path, bool]]:
    """Every path below ``top`` (not following symlinks), directories first."""
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        base = Path(dirpath)
        for name in sorted(dirnames):
            if not (base / name).is_symlink():
                yield base / name, True
        for name in sorted(filenames):
            if not (base / name).is_symlink():
                yield base / name, False


def plan(layout: Layout) -> list[Entry]:
    """The owner, group and mode every existing path of an installation should have."""
    entries = [Entry(layout.config_dir, ROOT, SERVICE, 0o750, True, True)]
    for path, is_dir in _walk(layout.config_dir):
        shared = path.parent == layout.config_dir and path.name in SHARED_CONFIG and not is_dir
        if shared:
            entries.append(Entry(path, ROOT, SERVICE, 0o640, False, True))
        else:
            entries.append(Entry(path, ROOT, ROOT, 0o700 if is_dir else 0o600, is_dir, True))
    for top in (layout.data_dir, layout.log_dir):
        entries.append(Entry(top, SERVICE, SERVICE, 0o755, True, False))
        for path, is_dir in _walk(top):
            private = top == layout.data_dir and layout.data_backups in (path, *path.parents)
            if is_dir:
                mode = 0o750 if private else 0o755
            elif top == layout.data_dir and path.name == ADMIN_TOKEN_FILE:
                mode = 0o600  # only the daemon (and root) may read the admin channel's token
            else:
                mode = 0o640 if private else 0o644
            entries.append(Entry(path, SERVICE, SERVICE, mode, is_dir, False))
    return entries


def _read_db(path: Path) -> list[list[str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [line.split(":") for line in lines if line and not line.startswith("#")]


def _nologin() -> str:
    for candidate in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"):
        if Path(candidate).exists():
            return candidate
    return "/bin/false"


ADMIN_TOKEN_FILE = "admin.token"
_SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


class AccountError(Exception):
    pass


class PosixAccess:
    kind = "posix"

    def __init__(self, root: Path | None = None) -> None:
        self.root = root

    # ----- rights ----------------------------------------------------------------------------------
    def is_admin(self) -> bool:
        return is_administrator()

    def admin_required_message(self) -> str:
        return "✗ Run with sudo."

    # ----- the service account ---------------------------------------------------------------------
    def _lookup(self) -> tuple[int | None, int | None]:
        if self.root is None:
            import grp
            import pwd

            try:
                uid: int | None = pwd.getpwnam(SERVICE_USER).pw_uid
            except KeyError:
                uid = None
            try:
                gid: int | None = grp.getgrnam(SERVICE_GROUP).gr_gid
            except KeyError:
                gid = None
            return uid, gid
        etc = self.root / "etc"
        uid = next((int(f[2]) for f in _read_db(etc / "passwd") if f[0] == SERVICE_USER and len(f) > 3), None)
        gid = next((int(f[2]) for f in _read_db(etc / "group") if f[0] == SERVICE_GROUP and len(f) > 2), None)
        return uid, gid

    def service_account(self) -> ServiceAccount | None:
        uid, gid = self._lookup()
        if uid is None or gid is None:
            return None
        return ServiceAccount(SERVICE_USER, uid, gid)

    def _tool(self, *args: str) -> None:
        prefix = ["--prefix", str(self.root)] if self.root is not None else []
        # The sbin directories too: a root shell opened with `su` (not `su -`) has none on its PATH.
        tool = shutil.which(args[0]) or shutil.which(args[0], path=_SBIN)
        if tool is None:
            raise AccountError(f"{args[0]} not found: create the user {SERVICE_USER!r} and group by hand")
        proc = subprocess.run(
            [tool, *prefix, *args[1:]], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
        if proc.returncode != 0:
            raise AccountError(f"{' '.join(args)} failed: {(proc.stderr or proc.stdout).strip()}")

    def ensure_service_account(self) -> tuple[ServiceAccount, list[str]]:
        done: list[str] = []
        if self.root is not None:
            (self.root / "etc").mkdir(parents=True, exist_ok=True)
        uid, gid = self._lookup()
        if gid is None:
            self._tool("groupadd", "--system", SERVICE_GROUP)
            done.append(f"created system group {SERVICE_GROUP}")
        if uid is None:
            home = "/nonexistent"
            self._tool(
                "useradd",
                "--system",
                "--gid",
                SERVICE_GROUP,
                "--no-create-home",
                "--home-dir",
                home,
                "--shell",
                _nologin(),
                "--comment",
                "Risk Manager service",
                SERVICE_USER,
            )
            done.append(f"created system user {SERVICE_USER}")
        account = self.service_account()
        if account is None:
            raise AccountError(f"the user {SERVICE_USER!r} or group {SERVICE_GROUP!r} is still missing")
        return account, done

    def remove_service_account(self) -> list[str]:
        uid, gid = self._lookup()
        done = []
        if uid is not None:
            self._tool("userdel", SERVICE_USER)
            done.append(f"removed system user {SERVICE_USER}")
        if self._lookup()[1] is not None:
            self._tool("groupdel", SERVICE_GROUP)
            done.append(f"removed system group {SERVICE_GROUP}")
        return done

    # ----- permissions -----------------------------------------------------------------------------
    def _ids(self, entry: Entry, account: ServiceAccount) -> tuple[int, int]:
        assert account.uid is not None and account.gid is not None
        uid = account.uid if entry.owner == SERVICE else 0
        gid = account.gid if entry.group == SERVICE else 0
        return uid, gid

    def secure(self, layout: Layout, account: ServiceAccount) -> list[str]:
        for top in (layout.config_dir, layout.data_dir, layout.log_dir):
            top.mkdir(parents=True, exist_ok=True)
        for entry in plan(layout):
            uid, gid = self._ids(entry, account)
            os.chown(entry.path, uid, gid, follow_symlinks=False)
            os.chmod(entry.path, entry.mode)
        return [
            f"{layout.config_dir}: root:{SERVICE_GROUP} 0750, config files and secrets 0640",
            f"{layout.data_dir}: {SERVICE_USER} 0755, database 0644, backups 0750",
            f"{layout.log_dir}: {SERVICE_USER} 0755, logs 0644",
        ]

    def audit(self, layout: Layout, account: ServiceAccount | None) -> list[PermissionFinding]:
        findings: list[PermissionFinding] = []
        if account is None:
            findings.append(
                PermissionFinding("", ERROR, f"the service user or group {SERVICE_USER!r} does not exist")
            )
            return findings
        for top in (layout.config_dir, layout.data_dir, layout.log_dir):
            if not top.is_dir():
                findings.append(PermissionFinding(str(top), ERROR, "directory missing"))
        for entry in plan(layout):
            try:
                info = entry.path.lstat()
            except OSError:
                continue
            uid, gid = self._ids(entry, account)
            mode = stat.S_IMODE(info.st_mode)
            if (info.st_uid, info.st_gid, mode) == (uid, gid, entry.mode):
                continue
            extra = mode & ~entry.mode & 0o077
            writable = mode & 0o022 & ~entry.mode
            ownership_wrong = entry.in_config and (info.st_uid != uid or info.st_gid != gid)
            wrong_owner = not entry.in_config and entry.owner == SERVICE and info.st_uid != uid
            severity = ERROR if (entry.in_config and extra) or writable or ownership_wrong else WARNING
            if wrong_owner:
                severity = ERROR  # the service could not write it
            findings.append(
                PermissionFinding(
                    str(entry.path),
                    severity,
                    f"expected {self._label(entry)} {entry.mode:04o}, found uid {info.st_uid} "
                    f"gid {info.st_gid} {mode:04o}",
                )
            )
        return findings

    @staticmethod
    def _label(entry: Entry) -> str:
        owner = SERVICE_USER if entry.owner == SERVICE else "root"
        group = SERVICE_GROUP if entry.group == SERVICE else "root"
        return f"{owner}:{group}"

    def secret_problem(self, path: Path, account: ServiceAccount | None) -> str | None:
        return secret_file_problem(path, service_gid=account.gid if account else None, fix=REPAIR)
