"""One real daemon run (simulator + ``risk-manager run`` subprocesses) whose database the export tests read.

Three accounts: 4001 breaches its daily realized loss (RULE-003: flatten and lock until the reset),
4002 holds more contracts than allowed (RULE-001: close all), 4003 trades at a profit under no rule.
A SIGHUP reload leaves an audit row. The daemon keeps running until a test asks for it stopped.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.harness import wait_until

LOSS = {"daily_realized_loss": {"enabled": True, "loss_limit": 100, "lockout_until": "daily_reset"}}
CONTRACTS = {"max_contracts": {"enabled": True, "limit": 1, "count_type": "net", "enforcement": "close_all"}}
ACCOUNTS = (4001, 4002, 4003)


@dataclass
class Recorded:
    stack: Stack
    db: Path
    config_dir: Path

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        conn = sqlite3.connect(f"{self.db.resolve().as_uri()}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        daemon = self.stack.daemon
        if daemon is not None and daemon.proc.p.poll() is None:
            assert daemon.stop() == 0


def fingerprint(db: Path) -> tuple[str, tuple[int, ...], list[str]]:
    """The bytes and mtimes of the database and of its write-ahead log (which holds records not yet
    copied into the main file), and the files next to them. The ``-shm`` file is SQLite's shared
    memory index, where every reader takes its read lock; it holds no data and is left out."""
    files = [db, db.with_name(db.name + "-wal")]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes() if f.exists() else b"-")
    mtimes = tuple(f.stat().st_mtime_ns if f.exists() else 0 for f in files)
    return digest.hexdigest(), mtimes, sorted(p.name for p in db.parent.iterdir())


def _trade(stack: Stack) -> None:
    sim = stack.sim
    sim.quote("RTY", 2450.0, 2450.1)
    sim.order(4001, "RTY", "buy", 1)
    sim.quote("RTY", 2447.0, 2447.1)
    sim.order(4001, "RTY", "sell", 1)  # -3.1 points x $50 = -155.00 < -100: RULE-003
    sim.quote("MGC", 2000.0, 2000.1)
    sim.order(4002, "MGC", "buy", 3)  # 3 > 1 contract: RULE-001 closes all
    sim.quote("M2K", 2100.0, 2100.1)
    sim.order(4003, "M2K", "buy", 1)
    sim.quote("M2K", 2104.0, 2104.1)
    sim.order(4003, "M2K", "sell", 1)  # +3.9 points: a winner, no rule involved


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    root = tmp_path_factory.mktemp("export")
    stack = Stack(root, {"exporter": ("export-key", list(ACCOUNTS))}, {4001: LOSS, 4002: CONTRACTS})
    try:
        stack.start_daemon()
        rec = Recorded(stack, root / "data" / "risk.db", stack.config_dir)
        _trade(stack)
        wait_until(lambda: rec.query("SELECT 1 FROM lockouts WHERE account_id = 4001"), 20, "RULE-003 lockout")
        wait_until(
            lambda: len(rec.query("SELECT 1 FROM enforcement_log WHERE state = 'done'")) >= 3, 20, "actions done"
        )
        wait_until(lambda: len(rec.query("SELECT 1 FROM trades")) >= 6, 20, "trades committed")
        if sys.platform != "win32":
            assert stack.daemon is not None
            os.kill(stack.daemon.proc.p.pid, signal.SIGHUP)  # an audited reload
            wait_until(lambda: rec.query("SELECT 1 FROM audit_log"), 20, "the reload's audit row")
        yield rec
    finally:
        stack.close()
