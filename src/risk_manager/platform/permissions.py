"""Who may read a secret file, and whether this process or the person at the keyboard is an admin.

The primitives the daemon's start-up check (daemon.md §8.2: refuse a ``secrets.yaml`` readable by
non-admin users), the installer and ``doctor`` share. POSIX modes and groups here; Windows ACLs in
``_win_acl`` (pywin32, imported only on Windows).

Allowed readers of a secret (``secrets.yaml``, ``admin_password.hash``):

- POSIX: the owner; the group only when it is the service group (``0640 root:risk-manager``);
  never "other". With ``owner_only`` (console mode, user-owned config) no group access either.
- Windows: SYSTEM and Administrators (the service runs as LocalSystem); with ``owner_only`` also
  the file's owner.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

SERVICE_GROUPS = frozenset({"risk-manager", "riskmanager"})
ADMIN_GROUPS = frozenset({"sudo", "wheel", "admin", "root"})


def is_administrator() -> bool:
    """This process has administrator rights (Windows: elevated token; POSIX: effective root)."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        from risk_manager.platform import _win_acl

        return _win_acl.is_elevated()
    return os.geteuid() == 0


def _group_name(gid: int) -> str:
    import grp  # POSIX only

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def secret_file_problem(
    path: Path,
    *,
    owner_only: bool = False,
    service_groups: frozenset[str] = SERVICE_GROUPS,
    service_gid: int | None = None,
    fix: str | None = None,
) -> str | None:
    """Why ``path`` is readable by someone it should not be, with the fix; None when it is fine
    (or does not exist: a missing file is another check's business).

    ``service_gid`` names the service group by number (an installation staged under ``--root`` has
    its own group database). ``fix`` replaces the default advice (``chmod 600``, right for a user's
    own config; an installed service needs its group to keep reading)."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        from risk_manager.platform import _win_acl

        return _win_acl.secret_problem(path, owner_only=owner_only)
    advice = fix or f"run: chmod 600 {path}"
    try:
        info = path.stat()
    except OSError:
        return None
    mode = stat.S_IMODE(info.st_mode)
    if mode & stat.S_IROTH:
        return f"is readable by every user (mode {mode:04o}); {advice}"
    if mode & stat.S_IRGRP:
        group = _group_name(info.st_gid)
        ours = info.st_gid == service_gid or group in service_groups
        if owner_only or not ours:
            return f"is readable by group {group!r} (mode {mode:04o}); {advice}"
    return None


def restrict_to_owner(path: Path) -> None:
    """Make a secret file readable by its owner only (console mode, a user's own config)."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        from risk_manager.platform import _win_acl

        _win_acl.restrict_to_owner(path)
        return
    os.chmod(path, 0o600)


def interactive_user() -> str:
    """The person at the keyboard: the user who ran sudo, else this process's user."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        return os.environ.get("USERNAME", "?")
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user:
        return sudo_user
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def user_is_administrator(user: str | None = None) -> bool:
    """``user`` (default: the interactive user) can become an administrator: root or a member of an
    admin group (POSIX), a member of Administrators even while not elevated (Windows)."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        from risk_manager.platform import _win_acl

        return _win_acl.token_in_administrators()
    import grp
    import pwd

    name = user or interactive_user()
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return False
    if entry.pw_uid == 0:
        return True
    groups = {g.gr_name for g in grp.getgrall() if name in g.gr_mem}
    try:
        groups.add(grp.getgrgid(entry.pw_gid).gr_name)
    except KeyError:
        pass
    return bool(groups & ADMIN_GROUPS)
