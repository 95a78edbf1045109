"""How the previous run ended, read when the database opens (spec/daemon.md §2.3): a clean stop
writes ``meta.clean_shutdown_at``; anything else is an unclean end, and three within an hour are the
"repeated failures" alert."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from risk_manager import __version__
from risk_manager.store import queries, writes
from risk_manager.store.codec import parse_ts, ts

UNCLEAN_WINDOW = timedelta(hours=1)
REPEATED_FAILURES = 3


@dataclass(frozen=True, slots=True)
class PreviousRun:
    first_start: bool
    clean: bool
    started_at: datetime | None
    clean_shutdown_at: datetime | None
    last_heartbeat_at: datetime | None
    pid: int | None
    unclean_ends_last_hour: int

    @property
    def repeated_failures(self) -> bool:
        """Three unclean ends within an hour: the "repeated failures" alert."""
        return self.unclean_ends_last_hour >= REPEATED_FAILURES


def mark_start(conn: sqlite3.Connection, now: datetime) -> PreviousRun:
    """Read how the last run ended, then record this start (runs before the writer starts)."""
    meta = queries.meta(conn)
    started = meta.get("started_at")
    clean_at = meta.get("clean_shutdown_at")
    first = started is None
    clean = first or (clean_at is not None and started is not None and clean_at >= started)
    try:
        ends = [e for e in json.loads(meta.get("unclean_ends") or "[]") if isinstance(e, str)]
    except ValueError:
        ends = []
    if not clean:
        ends.append(ts(now) or "")
    horizon = ts(now - UNCLEAN_WINDOW) or ""
    ends = [e for e in ends if e >= horizon]
    pid_text = meta.get("daemon_pid")
    previous = PreviousRun(
        first_start=first,
        clean=clean,
        started_at=parse_ts(started),
        clean_shutdown_at=parse_ts(clean_at),
        last_heartbeat_at=parse_ts(meta.get("heartbeat_at")),
        pid=int(pid_text) if pid_text and pid_text.isdigit() else None,
        unclean_ends_last_hour=len(ends),
    )
    conn.execute("BEGIN IMMEDIATE")
    writes.set_meta(
        conn,
        {
            "started_at": ts(now),
            "heartbeat_at": ts(now),
            "daemon_pid": str(os.getpid()),
            "product_version": __version__,
            "unclean_ends": json.dumps(ends),
        },
    )
    conn.execute("COMMIT")
    return previous
