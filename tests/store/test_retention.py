"""Retention (daemon.md §6.7): old rows go in batches, active lockouts and open work never do."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from risk_manager.daemon.persist.persistence import Persistence
from risk_manager.store import LATEST_VERSION, retention
from risk_manager.store.codec import ts
from tests.store.conftest import T0, Clock


async def test_prunes_old_rows_in_batches_and_keeps_what_must_stay(tmp_path: Path, clock: Clock) -> None:
    p = await Persistence.open(tmp_path, clock=clock)
    old = ts(T0 - timedelta(days=800))
    recent = ts(T0 - timedelta(days=10))
    sample_old = ts(T0 - timedelta(days=31))

    def seed(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO pnl_samples (account_id, at, realized) VALUES (1, ?, '0')",
            [(ts(T0 - timedelta(days=31, minutes=i)),) for i in range(2500)],
        )
        conn.execute("INSERT INTO pnl_samples (account_id, at, realized) VALUES (1, ?, '0')", (recent,))
        conn.executemany(
            "INSERT INTO trades (trade_id, account_id, contract_id, executed_at) VALUES (?, 1, 'C', ?)",
            [(1, old), (2, recent)],
        )
        conn.executemany(
            "INSERT INTO daily_pnl (account_id, trading_day, realized, fees, trade_count, winning, losing) "
            "VALUES (1, ?, '0', '0', 0, 0, 0)",
            [("2024-09-01",), ("2026-11-01",)],
        )
        for active in (0, 1):
            conn.execute(
                "INSERT INTO lockouts (account_id, rule_id, scope, kind, created_at, clears_on, active) "
                "VALUES (1, 'RULE-003', 'account', 'hard', ?, 'admin', ?)",
                (old, active),
            )
        for i, state in enumerate(("done", "failed", "interrupted")):
            conn.execute(
                "INSERT INTO enforcement_log (created_at, account_id, action, key, state) VALUES (?, 1, 'x', ?, ?)",
                (old, f"k{i}", state),
            )
        conn.execute("INSERT INTO audit_log (at, action) VALUES (?, 'admin_login')", (old,))

    try:
        await p._writer.call(seed)
        commits = p._writer.commits
        deleted = await retention.prune(p._writer, T0)
        assert deleted == {
            "trades": 1,
            "daily_pnl": 1,
            "enforcement_log": 2,
            "lockouts": 1,
            "audit_log": 1,
            "pnl_samples": 2500,
        }
        assert p._writer.commits - commits >= 3 + 6  # 2,500 samples took three transactions
        with sqlite3.connect(tmp_path / "risk.db") as conn:
            assert conn.execute("SELECT active FROM lockouts").fetchall() == [(1,)]
            assert conn.execute("SELECT state FROM enforcement_log").fetchall() == [("interrupted",)]
            assert conn.execute("SELECT trade_id FROM trades").fetchall() == [(2,)]
            assert conn.execute(
                "SELECT COUNT(*) FROM pnl_samples WHERE at >= ?", (sample_old,)
            ).fetchone() == (1,)
    finally:
        await p.close(clean=True)


async def test_daily_backups_keep_the_newest_seven(tmp_path: Path, clock: Clock) -> None:
    p = await Persistence.open(tmp_path, clock=clock)
    try:
        for day in range(9):
            await p.run_maintenance(T0 + timedelta(days=day))
    finally:
        await p.close(clean=True)
    names = sorted(f.name for f in (tmp_path / "backups").glob("risk.db.daily.*"))
    assert len(names) == 7 and names[-1] == "risk.db.daily.2026-11-25"
    with sqlite3.connect(tmp_path / "backups" / names[-1]) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(LATEST_VERSION),
        )
