"""The daemon's write statements: one function per kind of record, each run on the writer thread
inside the writer's transaction (``Writer.submit`` / ``post``). The read side is ``queries.py``; the
row shapes are ``rows.py``. Nothing here knows the daemon or the engine's objects.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from risk_manager.store.rows import insert_sql


# ----- meta --------------------------------------------------------------------------------------------
def set_meta(conn: sqlite3.Connection, items: Mapping[str, str | None]) -> None:
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        list(items.items()),
    )


# ----- day state and P&L -------------------------------------------------------------------------------
def upsert_day(conn: sqlite3.Connection, day: Mapping[str, Any]) -> None:
    conn.execute(insert_sql("day_state", day, conflict=("account_id",)), day)


def upsert_pnl(conn: sqlite3.Connection, pnl: Mapping[str, Any]) -> None:
    """The day's ``daily_pnl`` row; the day's extremes only ever widen."""
    conn.execute(
        insert_sql("daily_pnl", pnl, conflict=("account_id", "trading_day"), keep=("max_net", "min_net"))
        + ", max_net = CASE WHEN daily_pnl.max_net IS NULL OR CAST(excluded.max_net AS REAL) > "
        "CAST(daily_pnl.max_net AS REAL) THEN excluded.max_net ELSE daily_pnl.max_net END"
        ", min_net = CASE WHEN daily_pnl.min_net IS NULL OR CAST(excluded.min_net AS REAL) < "
        "CAST(daily_pnl.min_net AS REAL) THEN excluded.min_net ELSE daily_pnl.min_net END",
        pnl,
    )


def write_day(conn: sqlite3.Connection, day: Mapping[str, Any], pnl: Mapping[str, Any]) -> None:
    """Day state plus the (possibly new, zero) ``daily_pnl`` row of the current trading day."""
    upsert_day(conn, day)
    upsert_pnl(conn, pnl)


def pnl_sample(conn: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO pnl_samples (account_id, at, realized, unrealized) VALUES (?, ?, ?, ?)", row
    )


def rule_state(conn: sqlite3.Connection, rows: list[dict[str, Any]], eod: Mapping[str, Any] | None) -> None:
    """RULE-013/015 memory (one row per account and rule) and RULE-013's end-of-day sample."""
    for row in rows:
        conn.execute(insert_sql("rule_state", row, conflict=("account_id", "rule_id")), row)
    if eod is not None:
        conn.execute(insert_sql("eod_balances", eod, conflict=("account_id", "trading_day")), eod)


# ----- trades, positions, orders, contracts ------------------------------------------------------------
def trade(
    conn: sqlite3.Connection, values: Mapping[str, Any], pnl: Mapping[str, Any], day: Mapping[str, Any]
) -> None:
    """A fill together with the account's ``daily_pnl`` and day state (one transaction)."""
    upsert_trade(conn, values)
    upsert_pnl(conn, pnl)
    upsert_day(conn, day)


def upsert_trade(conn: sqlite3.Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert_sql("trades", values, conflict=("trade_id",), keep=("received_at",)), values)


def upsert_position(conn: sqlite3.Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert_sql("positions", values, conflict=("account_id", "contract_id")), values)


def delete_position(conn: sqlite3.Connection, account_id: int, contract_id: str) -> None:
    conn.execute("DELETE FROM positions WHERE account_id = ? AND contract_id = ?", (account_id, contract_id))


def upsert_order(conn: sqlite3.Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert_sql("orders", values, conflict=("order_id",), keep=("created_at",)), values)


def delete_order(conn: sqlite3.Connection, order_id: int) -> None:
    conn.execute("DELETE FROM orders WHERE order_id = ?", (order_id,))


def upsert_contract(conn: sqlite3.Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert_sql("contracts", values, conflict=("contract_id",)), values)


def upsert_accounts(conn: sqlite3.Connection, values: list[dict[str, Any]]) -> None:
    if values:
        conn.executemany(insert_sql("accounts", values[0], conflict=("account_id",)), values)


# ----- lockouts ----------------------------------------------------------------------------------------
def set_lockout(conn: sqlite3.Connection, values: Mapping[str, Any], day: Mapping[str, Any] | None) -> int:
    """A new lockout, or the extension of the active row of the same engine lockout; returns its id."""
    row = conn.execute(
        "SELECT id FROM lockouts WHERE account_id = ? AND engine_id = ? AND active = 1 ORDER BY id DESC LIMIT 1",
        (values["account_id"], values["engine_id"]),
    ).fetchone()
    if row is not None:
        conn.execute(
            "UPDATE lockouts SET kind = :kind, until = :until, clears_on = :clears_on, "
            "reason = :reason, observed = :observed, baseline = :baseline, engine_kind = :engine_kind "
            "WHERE id = :id",
            dict(values) | {"id": row[0]},
        )
        rid = int(row[0])
    else:
        rid = int(conn.execute(insert_sql("lockouts", values), values).lastrowid or 0)
    if day is not None:
        upsert_day(conn, day)
    return rid


def clear_lockout(
    conn: sqlite3.Connection,
    change: Mapping[str, Any],
    fallback: Mapping[str, Any],
    day: Mapping[str, Any] | None,
    pnl: Mapping[str, Any] | None,
) -> int:
    """The end of a lockout; returns the rows updated. When its set was never committed (a crash in
    between), the history row is written from ``fallback`` anyway."""
    cur = conn.execute(
        "UPDATE lockouts SET active = 0, cleared_at = :cleared_at, cleared_by = :cleared_by, "
        "clear_reason = :clear_reason, cleared_by_user = :cleared_by_user "
        "WHERE account_id = :account_id AND engine_id = :engine_id AND active = 1",
        change,
    )
    n = cur.rowcount
    if n == 0:
        row = dict(fallback) | {k: v for k, v in change.items() if k not in ("account_id", "engine_id")}
        conn.execute(insert_sql("lockouts", row), row)
    if day is not None:
        if pnl is not None:
            write_day(conn, day, pnl)
        else:
            upsert_day(conn, day)
    return n


def retire_lockouts(conn: sqlite3.Connection, stamp: str | None, superseded: Iterable[tuple[int, str]]) -> None:
    """Close duplicate active rows found at restore (a lost clear), naming the row kept."""
    conn.executemany(
        "UPDATE lockouts SET active = 0, cleared_at = ?, cleared_by = 'restore', clear_reason = ? WHERE id = ?",
        [(stamp, f"superseded by lockout {other} at restore", rid) for rid, other in superseded],
    )


# ----- enforcement log ---------------------------------------------------------------------------------
class KeySet(Protocol):
    def __contains__(self, key: object) -> bool: ...

    def add(self, key: str) -> None: ...


class RecentKeys:
    """The enforcement keys written by this run, bounded (a daemon runs for weeks): the newest
    ``limit``. A key forgotten this way belongs to an item finished long ago; should it be written
    once more, its old row is kept under a suffixed key and a new row starts, as for an earlier run."""

    def __init__(self, limit: int = 10_000) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._limit:
            self._keys.popitem(last=False)


def record_enforcement(
    conn: sqlite3.Connection,
    values: Mapping[str, Any],
    lockout_engine_id: str | None,
    run_keys: KeySet,
    completed_states: Iterable[str],
) -> int:
    """One row per idempotency key: insert, or update the row of this run; returns its id.

    A finished row with the same key from an earlier run (event numbers restart) keeps its history
    under a suffixed key and a new row starts."""
    key = values["key"]
    lockout_row = None
    if lockout_engine_id is not None:
        found = conn.execute(
            "SELECT id FROM lockouts WHERE account_id = ? AND engine_id = ? ORDER BY id DESC LIMIT 1",
            (values["account_id"], lockout_engine_id),
        ).fetchone()
        lockout_row = found[0] if found else None
    row = conn.execute("SELECT id, state FROM enforcement_log WHERE key = ?", (key,)).fetchone()
    if row is not None and key not in run_keys and row[1] in set(completed_states):
        conn.execute("UPDATE enforcement_log SET key = key || '#' || id WHERE id = ?", (row[0],))
        row = None
    run_keys.add(key)
    if row is None:
        full = dict(values) | {"lockout_id": lockout_row}
        return int(conn.execute(insert_sql("enforcement_log", full), full).lastrowid or 0)
    conn.execute(
        "UPDATE enforcement_log SET state = :state, attempts = :attempts, result = :result, "
        "first_request_ms = :first_request_ms, confirmed_ms = :confirmed_ms, "
        "completed_at = :completed_at, reason = :reason, seen = COALESCE(:seen, seen), "
        "lockout_id = COALESCE(:lockout_id, lockout_id) WHERE id = :id",
        dict(values) | {"lockout_id": lockout_row, "id": row[0]},
    )
    return int(row[0])


def mark_interrupted(conn: sqlite3.Connection, open_states: Iterable[str]) -> None:
    states = tuple(open_states)
    marks = ", ".join("?" for _ in states)
    conn.execute(f"UPDATE enforcement_log SET state = 'interrupted' WHERE state IN ({marks})", states)


# ----- audit -------------------------------------------------------------------------------------------
def insert_audit(conn: sqlite3.Connection, row: Mapping[str, Any]) -> int:
    return int(conn.execute(insert_sql("audit_log", row), row).lastrowid or 0)
