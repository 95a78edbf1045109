"""A database found corrupt while the daemon runs (spec/daemon.md §6.6, issue 8 §1): the real daemon
against a real simulator, its real ``risk.db`` overwritten with garbage under it. The damaged file is
moved aside (never deleted), a fresh one created, the alert raised, and what the daemon holds in
memory (the active lockout, today's trades and P&L) written to the fresh file."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

from risk_manager.daemon.notify import DatabaseReplaced
from risk_manager.daemon.notify.alerts import alert_for
from tests.daemon.conftest import until
from tests.daemon.recorder import Recorder
from tests.e2e.harness import ApiClient, Simulator

LOSS_RULE = {"daily_realized_loss": {"enabled": True, "loss_limit": 100, "lockout_until": "daily_reset"}}


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def corrupt(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every committed page into the main file
    finally:
        conn.close()
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.seek(100)  # keep the header: the file still opens, its pages are garbage
        f.write(b"\x5a" * (size - 100))


async def test_a_database_found_corrupt_while_running_is_replaced_and_memory_rewritten(
    sim: Simulator, start_daemon: Any
) -> None:
    seen = Recorder()
    run = await start_daemon({3001: LOSS_RULE}, sinks=(seen,))
    db = run.daemon.options.data_dir / "risk.db"
    async with ApiClient(run.api_url) as api:
        sim.quote("RTY", 2450.0, 2450.1)
        sim.order(3001, "RTY", "buy", 1)
        sim.quote("RTY", 2447.0, 2447.1)
        sim.order(3001, "RTY", "sell", 1)  # -155 < -100: RULE-003 lockout until the reset
        locked = await api.wait_for(lambda m: m.get("type") == "lockout_set", 10, "RULE-003 lockout")
        assert locked["data"].get("saved") is not False
        await until(lambda: len(rows(db, "SELECT trade_id FROM trades")) == 2, 5, "trades committed")
        corrupt(db)
        reply = await api.request("history.trades", {"accountId": 3001})
        assert reply.get("error", {}).get("code") == "internal", reply  # met the damage, said so
        (replaced,) = await until(lambda: seen.of(DatabaseReplaced), 10, "DatabaseReplaced")
        alert = alert_for(replaced)
        assert alert is not None and alert.subject == "database_replaced"
        moved = Path(replaced.moved_to)
        assert moved.exists() and moved.parent == db.parent and moved.name.startswith("risk.db.corrupt.")
        status = await api.wait_for(
            lambda m: m.get("type") == "status" and (m["data"].get("storage") or {}).get("replacedFile"),
            5,
            "status push naming the replaced file",
        )
        assert status["data"]["storage"]["state"] == "ok"
        await until(
            lambda: rows(db, "SELECT rule_id, active FROM lockouts") == [("RULE-003", 1)], 5, "lockout re-written"
        )
        assert len(rows(db, "SELECT trade_id FROM trades")) == 2
        (realized,) = rows(db, "SELECT realized FROM daily_pnl WHERE account_id = 3001")
        assert Decimal(realized[0]) == Decimal("-155")
        page = await api.request("history.trades", {"accountId": 3001})
        assert len(page["data"]["items"]) == 2, page
    assert await run.stop() == 0
