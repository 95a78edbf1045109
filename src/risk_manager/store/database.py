"""Opening ``risk.db`` at start (spec/daemon.md §2.1 step 5, §6.5, §6.6).

Order: quick_check an existing file; if it is damaged move it (and its -wal / -shm) aside to
``risk.db.corrupt.{stamp}`` and start a fresh database, re-applying the active lockouts found in the
newest backup; then migrate to the current schema. The caller gets the writer connection and a note
of anything that happened, so it can log and alert.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from risk_manager.store.codec import ts
from risk_manager.store.connection import connect_ro, connect_rw
from risk_manager.store.errors import StoreError
from risk_manager.store.files import move_aside, newest
from risk_manager.store.integrity import check_file
from risk_manager.store.migrations import LATEST_VERSION, current_version, migrate

log = logging.getLogger("risk_manager.store")

DB_NAME = "risk.db"
BACKUPS_DIR = "backups"
CORRUPT_ALERT = "Database was corrupt and has been replaced — check the Lockouts tab"


@dataclass
class OpenedDatabase:
    conn: sqlite3.Connection
    path: Path
    backups_dir: Path
    migrated: list[int] = field(default_factory=list)
    #: where a damaged file was moved (None when the file was sound)
    moved_aside: Path | None = None
    corruption: str | None = None
    #: lockouts re-applied from a backup after a corrupt file was replaced
    recovered_lockouts: int = 0
    recovered_from: Path | None = None


def open_database(data_dir: Path, *, now: datetime, product_version: str) -> OpenedDatabase:
    """Check, repair (by replacement) and migrate ``data_dir/risk.db``; raises ``StoreError``."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the data directory {data_dir}: {exc}") from exc
    path = data_dir / DB_NAME
    backups = data_dir / BACKUPS_DIR
    moved: Path | None = None
    problem: str | None = None
    if path.exists():
        problem = check_file(path)
        if problem is not None:
            try:
                moved = move_aside(path, now)
            except OSError as exc:
                raise StoreError(
                    f"the database {path} is corrupt ({problem}) and could not be moved aside: {exc}"
                ) from exc
            log.critical(
                "%s. The damaged file (%s) was moved to %s; a new database was created.",
                CORRUPT_ALERT,
                problem,
                moved,
            )
    try:
        conn = connect_rw(path)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from exc
    try:
        migrated = migrate(conn, db_path=path, backups_dir=backups, product_version=product_version, now=now)
        opened = OpenedDatabase(conn, path, backups, migrated, moved, problem)
        if moved is not None:
            _recover_lockouts(opened, now)
    except BaseException:
        conn.close()
        raise
    return opened


def _recover_lockouts(opened: OpenedDatabase, now: datetime) -> None:
    """Re-apply the active lockouts of the newest readable backup to a fresh database (§6.6)."""
    source = newest(opened.backups_dir, f"{DB_NAME}.*")
    if source is None:
        return
    try:
        src = connect_ro(source)
        try:
            if current_version(src) < 1 or current_version(src) > LATEST_VERSION:
                return
            src.row_factory = sqlite3.Row
            rows = [dict(r) for r in src.execute("SELECT * FROM lockouts WHERE active = 1").fetchall()]
        finally:
            src.close()
    except sqlite3.Error as exc:
        log.error("could not read lockouts from the backup %s: %s", source, exc)
        return
    if not rows:
        return
    conn = opened.conn
    conn.execute("BEGIN IMMEDIATE")
    for row in rows:
        row.pop("id", None)
        row["reason"] = f"{row.get('reason') or ''} (restored from backup {source.name} at {ts(now)})".strip()
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        conn.execute(f"INSERT INTO lockouts ({cols}) VALUES ({marks})", tuple(row.values()))
    conn.execute("COMMIT")
    opened.recovered_lockouts = len(rows)
    opened.recovered_from = source
    log.warning("re-applied %d active lockouts from the backup %s", len(rows), source)


def replace_while_running(
    path: Path, conn: sqlite3.Connection, *, now: datetime, product_version: str
) -> tuple[sqlite3.Connection, Path | None]:
    """Corruption met while the daemon runs (spec/daemon.md §6.6), on the writer thread.

    The writer's connection is closed, then the damage is confirmed on a fresh read-only connection
    (a reader's report, or a stale page cache, is not trusted alone). A damaged file is moved aside
    with its ``-wal`` and ``-shm`` (never deleted) and a fresh database is created at the current
    schema; a sound file is only reopened. Lockouts are *not* taken from a backup here: the running
    daemon holds every active one in memory and writes them itself. Returns the new connection and
    where the damaged file went (None when it was sound). Raises ``StoreError`` or ``sqlite3.Error``
    when the file can be neither checked nor replaced (the caller retries)."""
    with contextlib.suppress(sqlite3.Error):
        conn.close()
    problem = check_file(path) if path.exists() else None
    moved: Path | None = None
    if problem is not None:
        try:
            moved = move_aside(path, now)
        except OSError as exc:
            raise StoreError(f"the database {path} is corrupt ({problem}) and could not be moved aside: {exc}") from exc
        log.critical("%s. The damaged file (%s) was moved to %s; a new database was created.", CORRUPT_ALERT, problem, moved)
    fresh = connect_rw(path)
    try:
        migrate(fresh, db_path=path, backups_dir=path.parent / BACKUPS_DIR, product_version=product_version, now=now)
    except BaseException:
        fresh.close()
        raise
    return fresh, moved
