"""Ordered schema migrations (spec/daemon.md §6.5).

The schema version lives in ``meta.schema_version``. Each migration is applied in one transaction
together with its ``schema_migrations`` row, so a failure leaves the previous version intact.
Before migrating an existing database the full ``integrity_check`` runs and a copy is taken with the
SQLite backup API (``backups/risk.db.v{old}.{stamp}``; the newest 5 are kept). A database newer than
this build is refused, never downgraded.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from risk_manager.store import schema_v1, schema_v2
from risk_manager.store.codec import ts
from risk_manager.store.errors import MigrationError, SchemaTooNewError, StoreError
from risk_manager.store.files import backup_database, prune_files, stamp

log = logging.getLogger("risk_manager.store")

MIGRATION_BACKUPS_KEPT = 5


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", schema_v1.STATEMENTS),
    Migration(2, "rule state, end-of-day balances, exact lockout kinds", schema_v2.STATEMENTS),
)
LATEST_VERSION = MIGRATIONS[-1].version


def current_version(conn: sqlite3.Connection) -> int:
    """0 for an empty file; otherwise ``meta.schema_version``."""
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None or row[0] is None:
        return 0
    try:
        return int(row[0])
    except ValueError:
        raise StoreError(f"meta.schema_version is not a number: {row[0]!r}") from None


def _set_meta(conn: sqlite3.Connection, key: str, value: str | None) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def migrate(
    conn: sqlite3.Connection,
    *,
    db_path: Path,
    backups_dir: Path,
    product_version: str,
    now: datetime,
    migrations: tuple[Migration, ...] = MIGRATIONS,
) -> list[int]:
    """Bring the database to the newest version; returns the versions applied (maybe none)."""
    latest = migrations[-1].version
    version = current_version(conn)
    if version > latest:
        raise SchemaTooNewError(version, latest)
    pending = [m for m in migrations if m.version > version]
    if not pending:
        return []
    backup: Path | None = None
    if version > 0:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if problems != ["ok"]:
            raise MigrationError(
                f"{db_path} failed the integrity check before migrating from schema {version}: "
                + "; ".join(problems[:5])
            )
        backup = backups_dir / f"{db_path.name}.v{version}.{stamp(now)}"
        backup_database(conn, backup)
        prune_files(backups_dir, f"{db_path.name}.v*", keep=MIGRATION_BACKUPS_KEPT)
        log.info("database backed up to %s before migrating from schema %d", backup, version)
    for m in pending:
        started = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in m.statements:
                conn.execute(statement)
            if version == 0 and m is pending[0]:
                _set_meta(conn, "created_at", ts(now))
            _set_meta(conn, "schema_version", str(m.version))
            _set_meta(conn, "product_version", product_version)
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at, product_version, description, "
                "backup_file, duration_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    m.version,
                    ts(now),
                    product_version,
                    m.description,
                    None if backup is None else str(backup),
                    round((time.perf_counter() - started) * 1000),
                ),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            where = f"; the database is unchanged, backup: {backup}" if backup else ""
            raise MigrationError(
                f"migration {m.version} ({m.description}) of {db_path} failed: {exc}{where}"
            ) from exc
        log.info("database migrated to schema %d (%s)", m.version, m.description)
    return [m.version for m in pending]
