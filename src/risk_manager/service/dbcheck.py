"""Reading an existing ``risk.db`` read-only: its schema version and what an integrity check finds
(the installer's quick check, ``doctor``'s full ``integrity_check``). Never writes, never repairs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from risk_manager.store.integrity import integrity_check, quick_check
from risk_manager.store.migrations import current_version


def inspect_database(path: Path, *, full: bool = False) -> tuple[int, list[str]]:
    """``(schema version, problems)``; raises ``sqlite3.Error`` (and ``StoreError``) when unreadable."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    try:
        problems = integrity_check(conn) if full else quick_check(conn)
        return current_version(conn), problems
    finally:
        conn.close()
