"""A data directory that can really fail: a tiny tmpfs mounted for the test and filled to the last
byte (ENOSPC on the next write), or, where mounting is not permitted, a file-size limit put on the
daemon process (EFBIG). Both are OS-level failures the daemon cannot tell from a dying disk."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
from pathlib import Path

CHUNK = b"\0" * 65536


def try_mount_tmpfs(path: Path, size: str) -> str | None:
    """Mount a tmpfs of ``size`` at ``path``; None on success, else why it cannot be done here."""
    if not sys.platform.startswith("linux"):
        return "tmpfs mounts are a Linux facility"
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"mount -t tmpfs failed: {done.stderr.strip() or done.returncode}"
    return None


def unmount(path: Path) -> None:
    for args in (["umount", str(path)], ["umount", "-l", str(path)]):
        if subprocess.run(args, capture_output=True, check=False).returncode == 0:
            return


class Filler:
    """Fills the filesystem holding ``directory`` until the next write fails, and frees it again."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "filler.bin"

    def fill(self) -> int:
        written = 0
        with open(self.path, "ab", buffering=0) as f:
            while True:
                try:
                    n = f.write(CHUNK)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
                written += n or 0
            # The last partial chunk: every byte the filesystem still had.
            for size in (4096, 512, 1):
                while True:
                    try:
                        f.write(b"\0" * size)
                    except OSError:
                        break
        return written

    def free(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class FileSizeLimit:
    """The fallback without mount rights: RLIMIT_FSIZE on the daemon process (Linux ``prlimit``), set
    just below the size its write-ahead log already has, so the next append fails with EFBIG. Python
    ignores SIGXFSZ, so the process lives on and sees the error."""

    def __init__(self, pid: int, wal: Path) -> None:
        self.pid = pid
        self.wal = wal

    @staticmethod
    def unavailable() -> str | None:
        if not sys.platform.startswith("linux"):
            return "RLIMIT_FSIZE through prlimit is a Linux facility"
        import resource

        if not hasattr(resource, "prlimit"):
            return "resource.prlimit is not available"
        return None

    def fill(self) -> int:
        import resource

        _, hard = resource.prlimit(self.pid, resource.RLIMIT_FSIZE)
        size = max(1, self.wal.stat().st_size)
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (size, hard))
        return size

    def free(self) -> None:
        import resource

        _, hard = resource.prlimit(self.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (hard, hard))
