"""Retention and daily backups (spec/daemon.md §6.7).

Old rows are deleted in batches of 1,000, one transaction per batch, each batch queued on the writer
like any other job, so a critical commit waits for at most one small batch. Active lockouts and
unfinished enforcement rows are never pruned, however old.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from risk_manager.store.codec import ts
from risk_manager.store.files import backup_database, prune_files
from risk_manager.store.writer import Writer

log = logging.getLogger("risk_manager.store")

BATCH = 1000
TWO_YEARS = timedelta(days=730)
DAILY_BACKUPS_KEPT = 7
FINISHED = ("done", "failed", "observed")


@dataclass(frozen=True, slots=True)
class Policy:
    table: str
    column: str
    keep: timedelta
    #: the column holds a trading day (YYYY-MM-DD) rather than a timestamp
    is_day: bool = False
    extra: str = ""


POLICIES: tuple[Policy, ...] = (
    Policy("trades", "executed_at", TWO_YEARS),
    Policy("daily_pnl", "trading_day", TWO_YEARS, is_day=True),
    Policy("enforcement_log", "created_at", TWO_YEARS, extra=f"state IN {FINISHED!r}"),
    Policy("lockouts", "created_at", TWO_YEARS, extra="active = 0"),
    Policy("audit_log", "at", TWO_YEARS),
    Policy("pnl_samples", "at", timedelta(days=30)),
)


def cutoff(policy: Policy, now: datetime) -> str:
    edge = now - policy.keep
    if policy.is_day:
        return edge.date().isoformat()
    text = ts(edge)
    assert text is not None
    return text


def prune_batch(conn: sqlite3.Connection, policy: Policy, edge: str, limit: int = BATCH) -> int:
    """Delete up to ``limit`` rows older than ``edge``; returns how many went."""
    where = f"{policy.column} < ?" + (f" AND {policy.extra}" if policy.extra else "")
    cur = conn.execute(
        f"DELETE FROM {policy.table} WHERE rowid IN (SELECT rowid FROM {policy.table} WHERE {where} LIMIT ?)",
        (edge, limit),
    )
    return cur.rowcount


def _batch_job(policy: Policy, edge: str) -> Callable[[sqlite3.Connection], int]:
    return lambda conn: prune_batch(conn, policy, edge)


async def prune(writer: Writer, now: datetime, policies: tuple[Policy, ...] = POLICIES) -> dict[str, int]:
    """Apply every policy; returns rows deleted per table."""
    deleted: dict[str, int] = {}
    for policy in policies:
        edge = cutoff(policy, now)
        total = 0
        while True:
            n: int = await writer.call(_batch_job(policy, edge))
            total += n
            if n < BATCH:
                break
        deleted[policy.table] = total
    await writer.call(lambda conn: conn.execute("PRAGMA optimize"))
    if any(deleted.values()):
        log.info("retention: deleted %s", ", ".join(f"{k} {v}" for k, v in deleted.items() if v))
    return deleted


def daily_backup(source: sqlite3.Connection, backups_dir: Path, day: date, db_name: str = "risk.db") -> Path:
    """``backups/risk.db.daily.{date}`` through the backup API; keeps the newest 7."""
    target = backups_dir / f"{db_name}.daily.{day.isoformat()}"
    backup_database(source, target)
    prune_files(backups_dir, f"{db_name}.daily.*", keep=DAILY_BACKUPS_KEPT)
    return target
