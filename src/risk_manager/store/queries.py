"""Read-side queries: the history pages of the local API (spec/daemon.md §9.4) and the state loaded at
start (§2.1 step 6). Pure functions over a connection; they run on the reader's worker thread.

Items use the local API's camelCase names; money stays decimal text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

from risk_manager.store.codec import loads

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class QueryError(ValueError):
    """A filter the client sent is unusable; the message names the field."""


# ----- filter parsing ---------------------------------------------------------------------------------
def _int(data: Mapping[str, Any], key: str, *, required: bool = False) -> int | None:
    value = data.get(key)
    if value is None:
        if required:
            raise QueryError(f"field 'data.{key}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise QueryError(f"field 'data.{key}' must be an integer")
    return value


def _day(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise QueryError(f"field 'data.{key}' must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise QueryError(f"field 'data.{key}' must be a date YYYY-MM-DD, got {value!r}") from None


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise QueryError(f"field 'data.{key}' must be a string")
    return value


def _limit(data: Mapping[str, Any]) -> int:
    limit = _int(data, "limit")
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"field 'data.limit' must be between 1 and {MAX_LIMIT}")
    return limit


def _page(rows: list[sqlite3.Row], limit: int, shape: Any) -> dict[str, Any]:
    return {"items": [shape(r) for r in rows[:limit]], "more": len(rows) > limit}


def _where(clauses: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
    if not clauses:
        return "", []
    return " WHERE " + " AND ".join(c for c, _ in clauses), [v for _, v in clauses]


# ----- shapes --------------------------------------------------------------------------------------
# The history items: API key <- column, with a conversion where the column is not already the value.
Shape = tuple[tuple[str, str, Callable[[Any], Any] | None], ...]


def shape(*fields: str | tuple[str, str] | tuple[str, str, Callable[[Any], Any]]) -> Shape:
    """Fields given as ``column`` (key is its camelCase), ``(key, column)`` or ``(key, column, convert)``."""
    out = []
    for f in fields:
        if isinstance(f, str):
            head, *rest = f.split("_")
            out.append((head + "".join(w.title() for w in rest), f, None))
        elif len(f) == 2:
            out.append((f[0], f[1], None))
        else:
            out.append(f)
    return tuple(out)  # type: ignore[arg-type]


def shape_row(r: sqlite3.Row, shape: Shape) -> dict[str, Any]:
    return {key: (conv(r[col]) if conv else r[col]) for key, col, conv in shape}


ENFORCEMENT_ITEM = shape(
    "id", "created_at", "account_id", "trading_day", "rule_id", "action", "target", "key", "state",
    "attempts", "reason", ("seen", "seen", loads), ("result", "result", loads), "first_request_ms",
    "confirmed_ms", "event_id", "lockout_id", "completed_at",
)  # fmt: skip
LOCKOUT_ITEM = shape(
    "id", ("lockoutId", "engine_id"), "account_id", "rule_id", "scope", "symbol", "kind", "created_at",
    "until", "clears_on", "trading_day", "reason", ("observed", "observed", bool),
    ("active", "active", bool), "cleared_at", "cleared_by", "clear_reason", "cleared_by_user",
)  # fmt: skip
TRADE_ITEM = shape(
    "trade_id", "account_id", "contract_id", "symbol", "trading_day", "side", "size", "price", "pnl",
    "fees", ("voided", "voided", bool), "executed_at",
)  # fmt: skip
PNL_ITEM = shape(
    "account_id", "trading_day", "realized", "fees", "trade_count", "winning", "losing", "max_net", "min_net"
)
SAMPLE_ITEM = shape("at", "realized", "unrealized")
ORDER_ITEM = shape(
    "order_id", "contract_id", "type", "side", "size", "limit_price", "stop_price", "status",
    ("placedAt", "created_at"),
    ("placedByRiskManager", "custom_tag", lambda tag: (tag or "").startswith("rm-")),
)  # fmt: skip


def enforcement_item(r: sqlite3.Row) -> dict[str, Any]:
    return shape_row(r, ENFORCEMENT_ITEM)


def lockout_item(r: sqlite3.Row) -> dict[str, Any]:
    return shape_row(r, LOCKOUT_ITEM)


def trade_item(r: sqlite3.Row) -> dict[str, Any]:
    return shape_row(r, TRADE_ITEM)


def pnl_item(r: sqlite3.Row) -> dict[str, Any]:
    return shape_row(r, PNL_ITEM)


def sample_item(r: sqlite3.Row) -> dict[str, Any]:
    return shape_row(r, SAMPLE_ITEM)


# ----- history pages -----------------------------------------------------------------------------------
def _history(
    conn: sqlite3.Connection,
    table: str,
    key: str,
    filters: tuple[tuple[str, Any], ...],
    limit: int,
    item: Any,
) -> dict[str, Any]:
    """One page of ``table`` newest first (by ``key``), filtered by the given ``(clause, value)``s."""
    where, args = _where([(col, value) for col, value in filters if value is not None])
    rows = conn.execute(
        f"SELECT * FROM {table}{where} ORDER BY {key} DESC LIMIT ?", (*args, limit + 1)
    ).fetchall()
    return _page(rows, limit, item)


def history_enforcement(conn: sqlite3.Connection, data: Mapping[str, Any]) -> dict[str, Any]:
    filters = (
        ("account_id = ?", _int(data, "accountId")),
        ("rule_id = ?", _str(data, "ruleId")),
        ("trading_day = ?", _day(data, "tradingDay")),
        ("id < ?", _int(data, "before")),
    )
    return _history(conn, "enforcement_log", "id", filters, _limit(data), enforcement_item)


def history_lockouts(conn: sqlite3.Connection, data: Mapping[str, Any]) -> dict[str, Any]:
    filters = (
        ("account_id = ?", _int(data, "accountId")),
        ("trading_day >= ?", _day(data, "from")),
        ("trading_day <= ?", _day(data, "to")),
        ("trading_day = ?", _day(data, "tradingDay")),
        ("id < ?", _int(data, "before")),
    )
    return _history(conn, "lockouts", "id", filters, _limit(data), lockout_item)


def history_trades(conn: sqlite3.Connection, data: Mapping[str, Any]) -> dict[str, Any]:
    filters = (
        ("account_id = ?", _int(data, "accountId")),
        ("trading_day = ?", _day(data, "tradingDay")),
        ("trade_id < ?", _int(data, "before")),
    )
    return _history(conn, "trades", "trade_id", filters, _limit(data), trade_item)


def history_pnl(conn: sqlite3.Connection, data: Mapping[str, Any], day_bounds: Any = None) -> dict[str, Any]:
    """Daily rows (newest first), or with ``intraday: true`` the samples of ``tradingDay``.

    ``day_bounds(account_id, day) -> (start_ts, end_ts)`` turns a trading day into UTC text bounds.
    """
    limit = _limit(data)
    account_id = _int(data, "accountId")
    if data.get("intraday"):
        day = _day(data, "tradingDay")
        if account_id is None or day is None:
            raise QueryError("intraday P&L needs 'data.accountId' and 'data.tradingDay'")
        if day_bounds is None:
            raise QueryError(f"account {account_id} is not monitored")
        start, end = day_bounds(account_id, day)
        rows = conn.execute(
            "SELECT * FROM pnl_samples WHERE account_id = ? AND at >= ? AND at < ? ORDER BY at LIMIT ?",
            (account_id, start, end, MAX_LIMIT * 4 + 1),
        ).fetchall()
        return _page(rows, MAX_LIMIT * 4, sample_item)
    clauses: list[tuple[str, Any]] = []
    for col, value in (
        ("account_id = ?", account_id),
        ("trading_day >= ?", _day(data, "from")),
        ("trading_day <= ?", _day(data, "to")),
        ("trading_day < ?", _day(data, "beforeDay")),
    ):
        if value is not None:
            clauses.append((col, value))
    where, args = _where(clauses)
    rows = conn.execute(
        f"SELECT * FROM daily_pnl{where} ORDER BY trading_day DESC, account_id LIMIT ?", (*args, limit + 1)
    ).fetchall()
    return _page(rows, limit, pnl_item)


HISTORY = {
    "history.enforcement": history_enforcement,
    "history.lockouts": history_lockouts,
    "history.trades": history_trades,
}


# ----- start-up loads ----------------------------------------------------------------------------------
def meta(conn: sqlite3.Connection) -> dict[str, str | None]:
    return {k: v for k, v in conn.execute("SELECT key, value FROM meta").fetchall()}


def active_lockouts(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM lockouts WHERE active = 1 ORDER BY id").fetchall()


def day_states(conn: sqlite3.Connection) -> dict[int, sqlite3.Row]:
    return {r["account_id"]: r for r in conn.execute("SELECT * FROM day_state").fetchall()}


def rule_states(conn: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    """account id -> {rule id: stored state}; an unreadable row is left out (the rule starts over)."""
    out: dict[int, dict[str, Any]] = {}
    for r in conn.execute("SELECT account_id, rule_id, state FROM rule_state").fetchall():
        try:
            value = loads(r["state"])
        except (TypeError, ValueError):
            continue
        out.setdefault(r["account_id"], {})[r["rule_id"]] = value
    return out


def daily_realized(conn: sqlite3.Connection, account_id: int, since_day: str) -> dict[str, str]:
    """trading day -> realized P&L of the account's ``daily_pnl`` rows from ``since_day`` on."""
    rows = conn.execute(
        "SELECT trading_day, realized FROM daily_pnl WHERE account_id = ? AND trading_day >= ?",
        (account_id, since_day),
    ).fetchall()
    return {r["trading_day"]: r["realized"] for r in rows}


def trades_since(conn: sqlite3.Connection, account_id: int, since: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM trades WHERE account_id = ? AND executed_at >= ? ORDER BY executed_at, trade_id",
        (account_id, since),
    ).fetchall()


def contracts(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM contracts").fetchall()


def enforcement_in_states(conn: sqlite3.Connection, states: Iterable[str]) -> list[sqlite3.Row]:
    """Enforcement rows in the given states (the daemon names its unfinished ones), oldest first."""
    wanted = tuple(states)
    marks = ", ".join("?" for _ in wanted)
    return conn.execute(
        f"SELECT * FROM enforcement_log WHERE state IN ({marks}) ORDER BY id", wanted
    ).fetchall()
