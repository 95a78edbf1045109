"""Database initialisation and the upgrade's safety net (daemon.md §6.4, §6.5, §10.5).

Before an upgrade the configuration directory is copied to ``config/backups/upgrade-{stamp}`` and the
database to ``data/backups/risk.db.pre-upgrade.{stamp}`` (SQLite backup API: consistent even with
WAL). The migrations then run; each is its own transaction, so a failure in the third of three
would leave the file at the second: the installer puts the pre-upgrade copy back instead, so the
database is exactly what the old version wrote.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from risk_manager import __version__
from risk_manager.service.layout import Layout
from risk_manager.store.connection import connect_rw
from risk_manager.store.errors import StoreError
from risk_manager.store.files import SIDE_FILES, backup_database, stamp
from risk_manager.store.migrations import MIGRATIONS, Migration, migrate


@dataclass(frozen=True)
class UpgradeBackup:
    config: Path
    database: Path | None


def backup_for_upgrade(layout: Layout, now: datetime) -> UpgradeBackup:
    when = stamp(now)
    config_copy = layout.config_backups / f"upgrade-{when}"
    config_copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        layout.config_dir,
        config_copy,
        ignore=lambda d, names: ["backups"] if Path(d) == layout.config_dir else [],
        copy_function=shutil.copy2,
    )
    db_copy: Path | None = None
    if layout.db_path.exists():
        db_copy = layout.data_backups / f"{layout.db_path.name}.pre-upgrade.{when}"
        source = sqlite3.connect(f"{layout.db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            backup_database(source, db_copy)
        finally:
            source.close()
    return UpgradeBackup(config_copy, db_copy)


def initialise_database(
    layout: Layout, now: datetime, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[int]:
    """Create ``risk.db`` at the current schema or migrate it (``risk-manager init``'s database part).

    Raises ``StoreError`` (including ``MigrationError`` / ``SchemaTooNewError``)."""
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        conn = connect_rw(layout.db_path)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the database {layout.db_path}: {exc}") from exc
    try:
        return migrate(
            conn,
            db_path=layout.db_path,
            backups_dir=layout.data_backups,
            product_version=__version__,
            now=now,
            migrations=migrations,
        )
    finally:
        conn.close()


def restore_database(layout: Layout, backup: Path) -> None:
    """Put the pre-upgrade copy back in place of ``risk.db`` (and drop its side files)."""
    for suffix in SIDE_FILES[1:]:
        side = layout.db_path.with_name(layout.db_path.name + suffix)
        if side.exists():
            side.unlink()
    partial = layout.db_path.with_name(layout.db_path.name + ".restoring")
    shutil.copy2(backup, partial)
    os.replace(partial, layout.db_path)
