"""The writer thread: group commit, per-job failure isolation, behaviour after close."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from risk_manager.daemon.persist.persistence import Persistence
from risk_manager.engine.lockouts import Lockout
from tests.store.conftest import ACCOUNT, T0, Clock


async def test_a_failing_job_does_not_take_its_batch_down(tmp_path: Path, clock: Clock) -> None:
    p = await Persistence.open(tmp_path, clock=clock)
    try:
        w = p._writer

        def good(n: int):  # type: ignore[no-untyped-def]
            return lambda conn: conn.execute("INSERT INTO audit_log (at, action) VALUES ('t', ?)", (f"a{n}",))

        def bad(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO audit_log (at, action) VALUES ('t', 'bad')")
            conn.execute("INSERT INTO audit_log (id, at, action) VALUES (1, 't', 'dup')")  # PK clash

        w.post(good(0))  # the first job is batched: the others join its transaction
        futures = [w.submit(good(1)), w.submit(bad), w.submit(good(2))]
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert isinstance(results[1], sqlite3.IntegrityError)
        with sqlite3.connect(tmp_path / "risk.db") as conn:
            actions = [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY id")]
        assert actions == ["a0", "a1", "a2"]  # 'bad' rolled back to its savepoint, nothing else lost
    finally:
        await p.close(clean=True)


async def test_many_concurrent_critical_writes_share_commits(tmp_path: Path, clock: Clock) -> None:
    p = await Persistence.open(tmp_path, clock=clock)
    try:
        before = p._writer.commits
        await asyncio.gather(*(p.audit("admin_login", "ok", {"osUser": f"u{i}"}) for i in range(200)))
        assert p._writer.commits - before < 200  # group commit
        with sqlite3.connect(tmp_path / "risk.db") as conn:
            assert conn.execute("SELECT COUNT(*) FROM audit_log").fetchone() == (200,)
    finally:
        await p.close(clean=True)


async def test_writes_after_close_are_refused_not_hung(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    p = await Persistence.open(tmp_path, clock=clock)
    await p.close(clean=True)
    lock = Lockout("L1", ACCOUNT, "RULE-003", "account", "until_reset", None, "loss", T0)
    assert await asyncio.wait_for(p.lockout_set(lock, observed=False), 5) is None
    assert "database is closed" in caplog.text
    p.heartbeat()  # no-op, no error
