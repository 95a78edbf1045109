"""Deciding whether the database file is damaged (spec/daemon.md §6.6).

Only corruption (``SQLITE_CORRUPT``, ``SQLITE_NOTADB`` or a failed ``quick_check``) counts: a locked
file, a permission problem or a full disk is *not* corruption and must never make us move the
database aside.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from risk_manager.store.errors import StoreError

SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26
#: primary result codes worth retrying: busy, locked, nomem, ioerr, full, cantopen, protocol
TRANSIENT_CODES = frozenset({5, 6, 7, 10, 13, 14, 15})


def _primary(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_corruption(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = _primary(exc)
    if code is not None:
        return code in (SQLITE_CORRUPT, SQLITE_NOTADB)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def is_transient(exc: BaseException) -> bool:
    """A write error that may go away (disk full, I/O, busy): retried, not treated as corruption."""
    if not isinstance(exc, sqlite3.Error):
        return False
    code = _primary(exc)
    if code is not None:
        return code in TRANSIENT_CODES
    text = str(exc).lower()
    return any(w in text for w in ("locked", "busy", "disk", "i/o", "full"))


#: primary result codes that are the job's own fault (bad SQL, a constraint, a type mismatch, a
#: parameter out of range): the job fails alone, its batch still commits
JOB_CODES = frozenset({1, 19, 20, 25})
_JOB_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.DataError)


def is_storage_failure(exc: BaseException) -> bool:
    """An error of the storage itself, not of the job that met it: disk full, I/O, read-only file
    system, permissions pulled away, busy, out of memory. The whole batch is kept and retried.

    Corruption is not a storage failure (it is handled by replacing the file), and neither is an
    error a job caused itself (``JOB_CODES``, integrity and programming errors)."""
    if not isinstance(exc, sqlite3.Error) or is_corruption(exc) or isinstance(exc, _JOB_ERRORS):
        return False
    code = _primary(exc)
    if code is not None:
        return code not in JOB_CODES
    return is_transient(exc) or "readonly" in str(exc).lower() or "read-only" in str(exc).lower()


def quick_check(conn: sqlite3.Connection) -> list[str]:
    """Problems reported by ``PRAGMA quick_check``; empty when the file is sound."""
    rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
    return [] if rows == ["ok"] else rows


def integrity_check(conn: sqlite3.Connection) -> list[str]:
    rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
    return [] if rows == ["ok"] else rows


def check_file(path: Path) -> str | None:
    """None when ``path`` is a sound SQLite database, else a one-line description of the damage.

    Raises ``StoreError`` for problems that are not corruption (the file is locked or unreadable).
    """
    # Read-only: a read-write connection to a damaged file deletes its -wal on close, and the WAL
    # may hold the only copy of the last commits; the evidence is moved aside intact instead.
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from exc
    try:
        problems = quick_check(conn)
    except sqlite3.DatabaseError as exc:
        if is_corruption(exc):
            return str(exc)
        raise StoreError(f"cannot read the database {path}: {exc}") from exc
    finally:
        conn.close()
    if problems:
        return "quick_check: " + "; ".join(problems[:3])
    return None
