"""Storage that fails, hangs or turns out corrupt while the daemon runs (issue 8 §1), on real SQLite
files: ``PRAGMA query_only`` makes SQLite itself refuse every write (SQLITE_READONLY, as on a file
system remounted read-only; the end-to-end test fills a real tmpfs), a job that blocks stands for a
write that never returns, and the corrupt file is real garbage written over a real database."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from risk_manager.daemon.notify import DatabaseReplaced, Notifier, StorageDegraded, StorageRecovered
from risk_manager.daemon.persist.persistence import Persistence
from risk_manager.engine import Action, Engine, events
from risk_manager.engine.actions import ActionKind
from risk_manager.store.errors import StorageUnavailable
from tests.daemon.recorder import Recorder
from tests.store.conftest import ACCOUNT, MNQ, T0, Clock, make_engine, trade


async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def rows(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


async def opened(tmp_path: Path, clock: Clock, recorder: Recorder) -> tuple[Persistence, Engine]:
    notifier = Notifier()
    notifier.subscribe(recorder)
    p = await Persistence.open(tmp_path, clock=clock, notifier=notifier, retry_every=0.05, give_up_after=0.3)
    engine = make_engine()
    await p.restore(engine, T0)
    return p, engine


def lockouts_of(actions: list[Action]) -> list[Any]:
    return [a.lockout for a in actions if a.kind == ActionKind.LOCKOUT and a.lockout is not None]


async def losing_trades(p: Persistence, engine: Engine, first_id: int) -> list[Any]:
    """Two losses past the 500 limit: two trades and a RULE-003 lockout handed to the persistence."""
    found = []
    for n, pnl in enumerate((-300, -250)):
        at = T0 + timedelta(minutes=first_id + n)
        payload = trade(first_id + n, pnl, at)
        actions = engine.evaluate(events.TRADE, payload, at)
        await p.trade(engine.account(ACCOUNT), events.parse_trade(payload))
        for lockout in lockouts_of(actions):
            found.append(lockout)
            await p.lockout_set(lockout, observed=False)
    return found


def fill(p: Persistence) -> None:
    """From now on SQLite refuses every write on the writer's connection (SQLITE_READONLY)."""
    p._writer._conn.execute("PRAGMA query_only=1")


def free(p: Persistence) -> None:
    p._writer._conn.execute("PRAGMA query_only=0")


async def test_commits_fail_fast_while_degraded_and_are_written_when_storage_recovers(
    tmp_path: Path, clock: Clock
) -> None:
    seen = Recorder()
    p, engine = await opened(tmp_path, clock, seen)
    try:
        await p._writer.flush()
        fill(p)
        # Before storage is declared degraded a commit waits (at most the give-up time) ...
        started = time.monotonic()
        locks = await losing_trades(p, engine, 1)
        assert locks and p.degraded
        assert time.monotonic() - started < 2.0
        (degraded,) = seen.of(StorageDegraded)
        assert "readonly" in degraded.reason
        view = p.health_view()
        assert view["state"] == "degraded" and "readonly" in view["reason"] and view["unsaved"] >= 3
        # ... afterwards every commit fails fast (its record is kept for later).
        started = time.monotonic()
        await losing_trades(p, engine, 10)
        assert time.monotonic() - started < 0.2
        assert p._writer.backlog >= 5
        with_lost = p._writer.lost
        free(p)
        await until(lambda: seen.of(StorageRecovered), 5, "storage recovered")
        assert not p.degraded and p.health_view()["state"] == "ok" and with_lost == 0
        await p._writer.flush()
        db = tmp_path / "risk.db"
        assert {r[0] for r in rows(db, "SELECT trade_id FROM trades")} == {1, 2, 10, 11}
        assert len(rows(db, "SELECT id FROM lockouts WHERE active = 1")) == 1  # the extension updated it
        assert rows(db, "SELECT realized FROM daily_pnl") == [("-1100",)]
    finally:
        await p.close(clean=True)


async def test_a_full_backlog_drops_the_oldest_records_and_memory_is_written_back(
    tmp_path: Path, clock: Clock
) -> None:
    seen = Recorder()
    p, engine = await opened(tmp_path, clock, seen)
    try:
        p._writer._backlog.limit = 3
        await p._writer.flush()
        fill(p)
        locks = await losing_trades(p, engine, 1)
        await losing_trades(p, engine, 10)
        for _ in range(20):
            p.heartbeat()
            clock.advance(1)
        await until(lambda: p._writer.lost > 0, 5, "records dropped from the bounded backlog")
        assert p._writer.backlog <= 3 + 1
        free(p)
        await until(lambda: seen.of(StorageRecovered), 5, "storage recovered")
        db = tmp_path / "risk.db"
        # The trades and the lockout dropped from the backlog come back from the engine's memory.
        await until(
            lambda: {r[0] for r in rows(db, "SELECT trade_id FROM trades")} == {1, 2, 10, 11}, 5, "trades re-written"
        )
        assert rows(db, "SELECT engine_id FROM lockouts WHERE active = 1") == [(locks[0].id,)]
        assert rows(db, "SELECT realized, trade_count FROM daily_pnl") == [("-1100", 4)]
    finally:
        await p.close(clean=True)


async def test_a_write_that_never_returns_degrades_storage_and_nothing_waits_for_it(
    tmp_path: Path, clock: Clock
) -> None:
    seen = Recorder()
    p, engine = await opened(tmp_path, clock, seen)
    release = threading.Event()
    try:
        p._writer._queue.maxsize = 5
        hung = p._writer.submit(lambda conn: release.wait(30))  # a disk that does not answer
        await until(lambda: seen.of(StorageDegraded), 5, "the watchdog's degraded state")
        assert "not completed" in seen.of(StorageDegraded)[0].reason
        started = time.monotonic()
        results = [p._writer.submit(lambda conn: None) for _ in range(10)]
        for fut in results:
            assert fut.done() and isinstance(fut.exception(), StorageUnavailable)
        assert time.monotonic() - started < 0.1
        assert p._writer.lost >= 5  # the bounded queue refused the rest
        release.set()
        await asyncio.wait_for(hung, 5)
        await until(lambda: seen.of(StorageRecovered), 5, "recovered once the write came back")
    finally:
        release.set()
        await p.close(clean=True)


def corrupt(db: Path) -> None:
    """Move every committed page into the main file, then overwrite all but the header with garbage."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.seek(100)
        f.write(b"\xa5" * (size - 100))


async def test_corruption_found_while_running_replaces_the_file_and_writes_memory_back(
    tmp_path: Path, clock: Clock
) -> None:
    seen = Recorder()
    p, engine = await opened(tmp_path, clock, seen)
    try:
        p.contract(MNQ)
        locks = await losing_trades(p, engine, 1)
        await p._writer.flush()
        db = tmp_path / "risk.db"
        corrupt(db)
        try:
            await p.history("history.trades", {"accountId": ACCOUNT})
        except sqlite3.DatabaseError:
            pass  # the reader met the damage: the writer confirms it and replaces the file
        (replaced,) = await until(lambda: seen.of(DatabaseReplaced), 5, "database replaced")
        moved = Path(replaced.moved_to)
        assert moved.exists() and moved.name.startswith("risk.db.corrupt.")
        assert p.health_view().get("replacedFile") == str(moved)
        await until(lambda: rows(db, "SELECT trade_id FROM trades"), 5, "memory written to the fresh file")
        await p._writer.flush()
        assert {r[0] for r in rows(db, "SELECT trade_id FROM trades")} == {1, 2}
        assert rows(db, "SELECT engine_id, rule_id FROM lockouts WHERE active = 1") == [(locks[0].id, "RULE-003")]
        assert rows(db, "SELECT realized FROM daily_pnl") == [("-550",)]
        assert rows(db, "SELECT contract_id FROM contracts") == [(MNQ["id"],)]
        # The rule memory too (RULE-015's streak agrees with the trades written back with it).
        memory = rows(db, "SELECT rule_id, state FROM rule_state")
        assert [(rule, json.loads(state)["losses"]) for rule, state in memory] == [("RULE-015", 0)]
        page = await p.history("history.trades", {"accountId": ACCOUNT})
        assert len(page["items"]) == 2  # the reader works on the fresh file
        assert not p.degraded
    finally:
        await p.close(clean=True)
