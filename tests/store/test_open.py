"""Opening risk.db: migrations from empty, reopen, WAL, newer schema, corrupt files."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from risk_manager.daemon.persist.persistence import DatabaseError, Persistence
from risk_manager.store import LATEST_VERSION, SchemaTooNewError, open_database
from risk_manager.store.errors import MigrationError
from risk_manager.store.migrations import MIGRATIONS, Migration, migrate
from tests.store.conftest import T0

TABLES = {
    "meta",
    "schema_migrations",
    "accounts",
    "day_state",
    "lockouts",
    "daily_pnl",
    "trades",
    "positions",
    "orders",
    "contracts",
    "enforcement_log",
    "audit_log",
    "pnl_samples",
}


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_migrates_an_empty_directory_to_the_latest_schema(tmp_path: Path) -> None:
    opened = open_database(tmp_path / "data", now=T0, product_version="0.1.0")
    opened.conn.close()
    assert opened.migrated == [m.version for m in MIGRATIONS]
    path = tmp_path / "data" / "risk.db"
    assert TABLES <= _tables(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(
            LATEST_VERSION
        )
        row = conn.execute("SELECT version, description, backup_file FROM schema_migrations").fetchone()
    assert row == (1, "initial schema", None)


def test_wal_mode_and_pragmas(tmp_path: Path) -> None:
    opened = open_database(tmp_path, now=T0, product_version="0.1.0")
    try:
        conn = opened.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert conn.execute("PRAGMA journal_size_limit").fetchone()[0] == 64 * 1024 * 1024
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    finally:
        opened.conn.close()
    with sqlite3.connect(tmp_path / "risk.db") as other:  # WAL is a property of the file
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_reopen_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    p = await Persistence.open(tmp_path)
    await p.audit("config_reloaded", "ok", {"osUser": "pc\\jane", "peer": "127.0.0.1:5000"}, "config")
    await p.close(clean=True)
    opened = open_database(tmp_path, now=T0, product_version="0.1.0")
    try:
        assert opened.migrated == []
        rows = opened.conn.execute("SELECT actor, peer, action, outcome, target FROM audit_log").fetchall()
    finally:
        opened.conn.close()
    assert rows == [("pc\\jane", "127.0.0.1:5000", "config_reloaded", "ok", "config")]


async def test_newer_schema_is_a_clear_error(tmp_path: Path) -> None:
    open_database(tmp_path, now=T0, product_version="0.1.0").conn.close()
    with sqlite3.connect(tmp_path / "risk.db") as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(LATEST_VERSION + 4),))
    with pytest.raises(SchemaTooNewError):
        open_database(tmp_path, now=T0, product_version="0.1.0")
    with pytest.raises(DatabaseError) as err:
        await Persistence.open(tmp_path)
    assert str(err.value) == (
        f"Database schema {LATEST_VERSION + 4} is newer than this risk-manager ({LATEST_VERSION}). "
        "Upgrade the program or restore a backup."
    )
    assert (tmp_path / "risk.db").exists()  # never touched


def test_a_later_migration_backs_up_first_and_records_itself(tmp_path: Path) -> None:
    open_database(tmp_path, now=T0, product_version="0.1.0").conn.close()
    extra = (
        *MIGRATIONS,
        Migration(LATEST_VERSION + 1, "add a column", ("ALTER TABLE accounts ADD COLUMN x TEXT",)),
    )
    from risk_manager.store.connection import connect_rw

    conn = connect_rw(tmp_path / "risk.db")
    try:
        applied = migrate(
            conn,
            db_path=tmp_path / "risk.db",
            backups_dir=tmp_path / "backups",
            product_version="0.2.0",
            now=T0,
            migrations=extra,
        )
        backup_file = conn.execute(
            "SELECT backup_file FROM schema_migrations WHERE version = ?", (LATEST_VERSION + 1,)
        ).fetchone()[0]
    finally:
        conn.close()
    assert applied == [LATEST_VERSION + 1]
    backup = Path(backup_file)
    assert backup.name == f"risk.db.v{LATEST_VERSION}.20261117T160000Z"
    assert backup.exists()
    with sqlite3.connect(backup) as b:  # the copy is at the old version
        assert b.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(
            LATEST_VERSION
        )


def test_a_failed_migration_is_rolled_back_and_names_the_backup(tmp_path: Path) -> None:
    open_database(tmp_path, now=T0, product_version="0.1.0").conn.close()
    bad = (
        *MIGRATIONS,
        Migration(LATEST_VERSION + 1, "broken", ("CREATE TABLE t (a)", "SELECT * FROM nowhere")),
    )
    from risk_manager.store.connection import connect_rw

    conn = connect_rw(tmp_path / "risk.db")
    try:
        with pytest.raises(MigrationError, match=f"backup: .*risk.db.v{LATEST_VERSION}"):
            migrate(
                conn,
                db_path=tmp_path / "risk.db",
                backups_dir=tmp_path / "backups",
                product_version="0.2.0",
                now=T0,
                migrations=bad,
            )
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchone() is None
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(
            LATEST_VERSION
        )
    finally:
        conn.close()


async def test_garbage_file_is_moved_aside_and_a_fresh_database_created(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "risk.db"
    garbage = b"this is not a database " * 300
    db.write_bytes(garbage)
    (tmp_path / "risk.db-wal").write_bytes(b"junk wal")
    caplog.set_level(logging.CRITICAL)
    p = await Persistence.open(tmp_path)
    try:
        moved = p.replaced_corrupt
        assert moved is not None and moved.name.startswith("risk.db.corrupt.")
        assert moved.read_bytes() == garbage  # kept, never deleted
        assert Path(str(moved) + "-wal").read_bytes() == b"junk wal"
        assert "Database was corrupt and has been replaced" in caplog.text
        assert str(moved) in caplog.text
        assert TABLES <= _tables(db)
        assert p.previous_run.first_start
    finally:
        await p.close(clean=True)


async def test_damaged_pages_fail_quick_check_and_are_moved_aside(tmp_path: Path) -> None:
    p = await Persistence.open(tmp_path)
    for i in range(300):
        await p.audit("config_reloaded", "ok", {"osUser": f"user{i}" * 20}, "config", "x" * 200)
    await p.close(clean=True)
    db = tmp_path / "risk.db"
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    for offset in range(3 * page, 6 * page):  # overwrite b-tree pages, keep the header intact
        data[offset] = 0x5A
    db.write_bytes(bytes(data))
    p2 = await Persistence.open(tmp_path)
    try:
        assert p2.replaced_corrupt is not None
        assert p2.opened.corruption is not None
    finally:
        await p2.close(clean=True)


async def test_active_lockouts_of_the_newest_backup_are_reapplied_after_corruption(tmp_path: Path) -> None:
    p = await Persistence.open(tmp_path)
    await p._writer.call(
        lambda conn: conn.execute(
            "INSERT INTO lockouts (account_id, rule_id, scope, kind, created_at, clears_on, reason, engine_id) "
            "VALUES (123, 'RULE-003', 'account', 'hard', '2026-11-17T15:00:00.000Z', 'reset', 'loss', 'L1')"
        )
    )
    await p.run_maintenance()  # writes backups/risk.db.daily.<date>
    await p.close(clean=True)
    assert list((tmp_path / "backups").glob("risk.db.daily.*"))
    (tmp_path / "risk.db").write_bytes(b"\x00garbage" * 1000)
    for side in ("risk.db-wal", "risk.db-shm"):
        (tmp_path / side).unlink(missing_ok=True)
    p2 = await Persistence.open(tmp_path)
    try:
        assert p2.opened.recovered_lockouts == 1
        with sqlite3.connect(tmp_path / "risk.db") as conn:
            row = conn.execute("SELECT rule_id, active, engine_id, reason FROM lockouts").fetchone()
        assert row[:3] == ("RULE-003", 1, "L1")
        assert "restored from backup" in row[3]
    finally:
        await p2.close(clean=True)


async def test_unreadable_data_dir_is_a_database_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DatabaseError, match="data directory"):
        await Persistence.open(blocker / "data")
