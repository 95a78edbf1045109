"""File-level operations on the database: online backups, moving a corrupt file aside, pruning.

Nothing here ever deletes the live database; a damaged file is renamed, never removed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from risk_manager.platform.file_modes import restrict_backup

SIDE_FILES = ("", "-wal", "-shm")


def stamp(now: datetime) -> str:
    """``20251120T150409Z``: sortable, safe in Windows file names."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def backup_database(source: sqlite3.Connection, target: Path) -> None:
    """A consistent copy through the SQLite backup API (safe while the daemon writes); the copy and
    its directory are closed to other users (a backup is for administrators)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    restrict_backup(target.parent)
    partial = target.with_name(target.name + ".partial")
    dest = sqlite3.connect(str(partial))
    try:
        source.backup(dest)
    finally:
        dest.close()
    restrict_backup(partial)
    os.replace(partial, target)


def move_aside(db_path: Path, now: datetime) -> Path:
    """Rename ``risk.db`` and its ``-wal`` / ``-shm`` to ``risk.db.corrupt.{stamp}``; returns the new name."""
    base = db_path.with_name(f"{db_path.name}.corrupt.{stamp(now)}")
    n = 1
    while any(base.with_name(base.name + s).exists() for s in SIDE_FILES):
        n += 1
        base = db_path.with_name(f"{db_path.name}.corrupt.{stamp(now)}.{n}")
    for suffix in SIDE_FILES:
        src = db_path.with_name(db_path.name + suffix)
        if src.exists():
            os.replace(src, base.with_name(base.name + suffix))
    return base


def prune_files(directory: Path, pattern: str, *, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups matching ``pattern`` (names sort by time)."""
    if not directory.is_dir():
        return []
    files = sorted(
        (p for p in directory.glob(pattern) if p.is_file() and not p.name.endswith(".partial")),
        key=lambda p: (p.stat().st_mtime, p.name),
    )
    removed = files[:-keep] if keep > 0 else files
    for p in removed:
        with contextlib.suppress(OSError):
            p.unlink()
    return removed


def newest(directory: Path, pattern: str) -> Path | None:
    if not directory.is_dir():
        return None
    files = [p for p in directory.glob(pattern) if p.is_file() and not p.name.endswith(".partial")]
    return max(files, key=lambda p: (p.stat().st_mtime, p.name)) if files else None
