"""Atomic file writes that keep (or set) the file's permissions: POSIX mode/owner, Windows DACL.

The admin console rewrites config files that the installer protected (daemon.md §8.2): the secrets
file is readable by administrators and the service account only. A write goes to a temporary file in
the same directory, is flushed to disk and renamed over the target, and the target's previous
permissions are put back on the new file, so a save never widens access. A secrets file without
acceptable permissions, or a new one, becomes owner-only (plus SYSTEM and Administrators on Windows).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from risk_manager.platform.permissions import restrict_to_owner


@dataclass(frozen=True)
class FilePerms:
    """What to put back: POSIX mode and owner, or a Windows DACL object."""

    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    dacl: Any = None


def capture(path: Path) -> FilePerms | None:
    """The permissions of ``path`` now, or None when it does not exist."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if sys.platform == "win32":
        return FilePerms(dacl=_win_get_dacl(path))
    return FilePerms(mode=stat.S_IMODE(info.st_mode), uid=info.st_uid, gid=info.st_gid)


def restore(path: Path, perms: FilePerms) -> None:
    """Put ``perms`` back on ``path`` (owner changes need root and are skipped without it)."""
    if sys.platform == "win32":
        if perms.dacl is not None:
            _win_set_dacl(path, perms.dacl)
        return
    if perms.uid is not None and perms.gid is not None and hasattr(os, "chown"):
        info = path.stat()
        if (info.st_uid, info.st_gid) != (perms.uid, perms.gid):
            with contextlib.suppress(PermissionError):
                os.chown(path, perms.uid, perms.gid)
    if perms.mode is not None:
        os.chmod(path, perms.mode)


def make_private(path: Path) -> None:
    """Owner-only: POSIX ``0600``; Windows SYSTEM + Administrators + the owner, inheritance cut."""
    restrict_to_owner(path)


def write_atomic(path: Path, data: bytes, *, private: bool = False, keep: FilePerms | None = None) -> None:
    """Replace ``path`` with ``data`` atomically; then apply ``keep`` (or owner-only when ``private``).

    The temporary file is owner-only from its first byte, so a secret is never briefly readable.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if sys.platform != "win32" and not private and keep is None:
            os.chmod(tmp, 0o644 & ~_umask())
        if private and sys.platform == "win32":
            restrict_to_owner(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if keep is not None:
        restore(path, keep)
    elif private:
        make_private(path)
    _fsync_dir(path.parent)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ----- Windows (pywin32 is a dependency on win32 only) -------------------------------------------------
def _win_get_dacl(path: Path) -> Any:
    import win32security  # type: ignore[import-untyped,unused-ignore]

    sd = win32security.GetNamedSecurityInfo(
        str(path), win32security.SE_FILE_OBJECT, win32security.DACL_SECURITY_INFORMATION
    )
    return sd.GetSecurityDescriptorDacl()


def _win_set_dacl(path: Path, dacl: Any) -> None:
    import win32security  # type: ignore[import-untyped,unused-ignore]

    win32security.SetNamedSecurityInfo(
        str(path),
        win32security.SE_FILE_OBJECT,
        win32security.DACL_SECURITY_INFORMATION | win32security.PROTECTED_DACL_SECURITY_INFORMATION,
        None,
        None,
        dacl,
        None,
    )
