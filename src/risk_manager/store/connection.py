"""Opening connections with the pragmas of spec/daemon.md §6.1.

Only the writer holds a read-write connection; readers open ``mode=ro`` and fall back to
``immutable=1`` when the daemon is stopped and the WAL side files cannot be created.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from risk_manager.store.errors import StoreError

BUSY_TIMEOUT_MS = 5000
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
AUTOCHECKPOINT_PAGES = 1000


def connect_rw(path: Path) -> sqlite3.Connection:
    """The writer's connection: WAL, synchronous=FULL, autocommit mode (transactions are explicit)."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=5.0)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: cannot switch the database to WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
    except BaseException:
        conn.close()
        raise
    return conn


def connect_ro(path: Path) -> sqlite3.Connection:
    """A read-only connection (query handlers, dashboards). Never creates the database file."""
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False, timeout=5.0)
        conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.OperationalError:
        # The daemon is stopped and this user cannot create -wal/-shm: read the file as it is.
        conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn
