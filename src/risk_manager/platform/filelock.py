"""An exclusive, process-lifetime lock on a file: one daemon per data directory.

The OS releases it when the process dies (even on kill -9), so a stale lock never blocks a restart.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO


class AlreadyLockedError(RuntimeError):
    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        who = f" (PID {pid})" if pid else ""
        super().__init__(f"Another risk-manager daemon is running{who}.")


class InstanceLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process lifetime
        try:
            _lock(fh)
        except OSError:
            fh.seek(0)
            text = fh.read().strip()
            fh.close()
            raise AlreadyLockedError(self.path, int(text) if text.isdigit() else None) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is None:
            return
        try:
            _unlock(self._fh)
        finally:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_state(path: Path) -> tuple[bool | None, int | None]:
    """Whether a daemon holds ``path`` and the PID it wrote there, without disturbing it.

    ``(False, None)`` when the file is missing or free; ``None`` for "held" when the file cannot be
    opened (another user's directory). Used by ``service status`` and ``doctor``."""
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return False, None
    except OSError:
        return None, None
    with fh:
        text = fh.read().strip()
        pid = int(text) if text.isdigit() else None
        try:
            _lock(fh)
        except OSError:
            return True, pid
        _unlock(fh)
        return False, None


if sys.platform == "win32":  # pragma: no cover - exercised on Windows
    import msvcrt

    def _lock(fh: IO[str]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(fh: IO[str]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fh: IO[str]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fh: IO[str]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
