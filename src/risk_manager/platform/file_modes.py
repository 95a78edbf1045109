"""The modes of the files the daemon creates (database, backups, logs), decided here rather than left
to whatever umask the daemon was started with.

- Console mode (a user's own daemon): owner-only (``0600`` files, ``0700`` directories); nobody else
  on the machine reads the trader's P&L.
- Service mode: the owner (the service account) writes, everyone reads (``0644`` / ``0755``): the
  trader's standard account must read ``risk.db`` and the logs for the offline dashboard
  (spec/daemon.md §11), and must not write them. Secrets are never created by the daemon.

POSIX only; on Windows the ACLs the installer puts on the ProgramData folders are inherited.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

CONSOLE_UMASK = 0o077
SERVICE_UMASK = 0o022


def umask_for(mode: str) -> int:
    return CONSOLE_UMASK if mode == "console" else SERVICE_UMASK


def set_umask(umask: int) -> int | None:
    """Set the process umask; returns the previous one (None where umasks do not apply)."""
    if sys.platform == "win32":
        return None
    return os.umask(umask)


def apply_modes(paths: Iterable[Path], umask: int) -> None:
    """Bring files created by an earlier run (perhaps under another umask) to this run's mode."""
    if sys.platform == "win32":
        return
    file_mode = 0o666 & ~umask
    for path in paths:
        try:
            if path.is_file() and (path.stat().st_mode & 0o777) != file_mode:
                path.chmod(file_mode)
        except OSError:
            continue  # not ours to change (the check is best effort; doctor reports modes)


def restrict_backup(path: Path) -> None:
    """Database copies are for administrators and the service: no access for other users, whatever
    the umask gave (service: ``0750`` directories, ``0640`` files; console: owner-only already).
    The installer's permission table (service/posix_access.py) expects exactly this."""
    if sys.platform == "win32":
        return
    try:
        mode = path.stat().st_mode & 0o777
        wanted = mode & (0o750 if path.is_dir() else 0o640)
        if wanted != mode:
            path.chmod(wanted)
    except OSError:
        pass  # not ours to change (doctor reports modes)
