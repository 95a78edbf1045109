"""``service install --upgrade`` (daemon.md §10.5): back up the database and the configuration, migrate,
re-register; a failed migration puts the old database back and does not start the service.

Real staged installation, real SQLite, real migrations: a good one (the schema after this build's
newest) and one that fails (the one after that: SQL on a table that does not exist).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from risk_manager.service import api
from risk_manager.service.installer import Installer
from risk_manager.service.layout import Layout
from risk_manager.store.migrations import LATEST_VERSION, MIGRATIONS, Migration

from .helpers import not_root, staging_root, write_service_config

pytestmark = pytest.mark.skipif(bool(not_root()), reason=not_root() or "")

URLS = {"api_url": "http://127.0.0.1:9", "user_hub_url": "http://127.0.0.1:9/u", "market_hub_url": "http://127.0.0.1:9/m"}
GOOD = Migration(
    LATEST_VERSION + 1, "notes table", ("CREATE TABLE upgrade_notes (id INTEGER PRIMARY KEY, note TEXT)",)
)
BROKEN = Migration(LATEST_VERSION + 2, "broken", ("ALTER TABLE no_such_table ADD COLUMN x INTEGER",))


@pytest.fixture
def installed() -> Iterator[Layout]:
    with staging_root() as root:
        layout = Layout.for_service(root)
        write_service_config(layout.config_dir, URLS, {"carol": ("key-carol-0003", [9201])})
        assert api.install(no_start=True, root=root).exit_code == 0
        conn = sqlite3.connect(layout.db_path)
        conn.execute(
            "INSERT INTO lockouts (account_id, rule_id, scope, kind, created_at, clears_on, trading_day, reason, "
            "observed, active) VALUES (9201, 'RULE-003', 'account', 'hard', '2025-11-20T15:04:09.553Z', 'reset', "
            "'2025-11-20', 'realized -512.40 < -500.00', 0, 1)"
        )
        conn.commit()
        conn.close()
        yield layout


def upgrade(layout: Layout, migrations: tuple[Migration, ...]) -> tuple[int, str, list[str]]:
    base = api.installer(layout.root)
    installer = Installer(base.layout, base.manager, base.access, command=base.command, migrations=migrations)
    outcome = installer.install(upgrade=True, no_start=True)
    return outcome.exit_code, outcome.message, outcome.lines


def db_state(path: Path) -> tuple[str, list[str], int]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        tables = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        lockouts = conn.execute("SELECT count(*) FROM lockouts WHERE active = 1").fetchone()[0]
    finally:
        conn.close()
    return version, tables, lockouts


def test_failed_migration_restores_the_old_database_and_does_not_start(installed: Layout) -> None:
    before = db_state(installed.db_path)
    unit_before = installed.unit_path.read_text()
    code, message, lines = upgrade(installed, (*MIGRATIONS, GOOD, BROKEN))
    assert code == 3
    backups = sorted((installed.data_dir / "backups").glob("risk.db.pre-upgrade.*"))
    assert len(backups) == 1
    assert message.startswith(f"✗ Database migration failed: migration {BROKEN.version} (broken)")
    assert f"The database was restored from {backups[0]}; the service was not started." in message
    # Exactly what the old version wrote: its schema, no table of the good migration, the lockout kept.
    assert db_state(installed.db_path) == before == (str(LATEST_VERSION), before[1], 1)
    assert "upgrade_notes" not in before[1]
    assert installed.unit_path.read_text() == unit_before  # not re-registered
    config_backups = list((installed.config_dir / "backups").glob("upgrade-*"))
    assert len(config_backups) == 1
    assert {p.name for p in config_backups[0].iterdir()} >= {"accounts.yaml", "risk_config.yaml", "secrets.yaml"}
    assert not any("Service" in line and "upgraded" in line for line in lines)


def test_successful_upgrade_migrates_with_backups_and_reapplies_permissions(installed: Layout) -> None:
    code, message, lines = upgrade(installed, (*MIGRATIONS, GOOD))
    assert code == 0, lines
    assert message.startswith("✓ Service risk-manager.service upgraded (auto-start)")
    version, tables, lockouts = db_state(installed.db_path)
    assert (version, lockouts) == (str(GOOD.version), 1) and "upgrade_notes" in tables
    assert any(line.startswith("✓ Database backed up to ") for line in lines)
    assert any(line.startswith("✓ Configuration backed up to ") for line in lines)
    # The config backups hold secrets: administrators only.
    backup_dir = next((installed.config_dir / "backups").glob("upgrade-*"))
    assert (backup_dir.stat().st_uid, backup_dir.stat().st_mode & 0o777) == (0, 0o700)
    assert ((backup_dir / "secrets.yaml").stat().st_mode & 0o777) == 0o600
    # The database, touched as root by the migration, belongs to the service again.
    db_owner = installed.db_path.stat().st_uid
    assert db_owner != 0 and db_owner == installed.data_dir.stat().st_uid
