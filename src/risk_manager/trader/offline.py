"""The offline view: the daemon's last saved state, read from ``risk.db`` read-only (trader-cli.md §4.4).

The database is opened with SQLite's ``mode=ro`` URI (``immutable=1`` when the daemon is stopped and
the WAL side files cannot be used), never created, never migrated, never written. The result has the
shape of a local-API snapshot, so the dashboard renders both the same way; what the database cannot
know (unrealized P&L, last prices) is absent and shown as ``n/a (offline)``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from risk_manager.store.connection import connect_ro
from risk_manager.store.queries import ORDER_ITEM, shape_row, trade_item

ENFORCEMENT_ROWS = 50
TYPE_NAMES = {"until_reset": "hard", "until_session_start": "hard", "indefinite": "hard", "permanent": "hard"}


class OfflineError(Exception):
    """No saved data can be shown; the message is the reason the banner gives."""


def read_snapshot(path: Path) -> dict[str, Any]:
    """Everything the offline view shows, as a snapshot-shaped dict; ``OfflineError`` when unusable."""
    if not path.exists():
        raise OfflineError(f"database not found: {path}")
    try:
        conn = connect_ro(path)
    except sqlite3.Error as exc:
        raise OfflineError(f"cannot open {path} read-only: {exc}") from None
    try:
        conn.row_factory = sqlite3.Row
        return _read(conn)
    except sqlite3.Error as exc:
        raise OfflineError(f"cannot read {path}: {exc}") from None
    finally:
        conn.close()


def _rows(conn: sqlite3.Connection, sql: str, *args: Any) -> list[sqlite3.Row]:
    return conn.execute(sql, args).fetchall()


def _read(conn: sqlite3.Connection) -> dict[str, Any]:
    meta = {r["key"]: r["value"] for r in _rows(conn, "SELECT key, value FROM meta")}
    symbols = {
        r["contract_id"]: r["symbol"] for r in _rows(conn, "SELECT contract_id, symbol FROM contracts")
    }
    days = {r["account_id"]: r for r in _rows(conn, "SELECT * FROM day_state")}
    accounts = []
    for acct in _rows(conn, "SELECT * FROM accounts WHERE enabled = 1 ORDER BY account_id"):
        account_id = acct["account_id"]
        day_row = days.get(account_id)
        day = day_row["trading_day"] if day_row is not None else None
        accounts.append(
            {
                "accountId": account_id,
                "name": acct["name"],
                "nickname": acct["nickname"],
                "login": acct["login"],
                "mode": "observe" if acct["observe_only"] else "enforce",
                "protection": "unknown",
                "canTrade": None if acct["can_trade"] is None else bool(acct["can_trade"]),
                "balance": acct["balance"],
                "tradingDay": day,
                "nextResetAt": day_row["next_reset_at"] if day_row is not None else None,
                "timezone": day_row["timezone"] if day_row is not None else None,
                "resetTime": day_row["reset_time"] if day_row is not None else None,
                "pnl": _pnl(conn, account_id, day),
                "positions": _positions(conn, account_id, symbols),
                "orders": [
                    _order(r)
                    for r in _rows(
                        conn, "SELECT * FROM orders WHERE account_id = ? ORDER BY order_id", account_id
                    )
                ],
                "trades": [
                    _trade(r)
                    for r in _rows(
                        conn,
                        "SELECT * FROM trades WHERE account_id = ? AND trading_day = ? AND voided = 0 ORDER BY trade_id",
                        account_id,
                        day,
                    )
                ],
                "rules": _rules(meta.get(f"rule_status:{account_id}")),
                "lockouts": [
                    _lockout(r)
                    for r in _rows(
                        conn,
                        "SELECT * FROM lockouts WHERE account_id = ? AND active = 1 ORDER BY id",
                        account_id,
                    )
                ],
                "lockoutHistory": [
                    _lockout(r)
                    for r in _rows(
                        conn,
                        "SELECT * FROM lockouts WHERE account_id = ? AND trading_day = ? ORDER BY id",
                        account_id,
                        day,
                    )
                ],
                "enforcement": [
                    _enforcement(r)
                    for r in _rows(
                        conn,
                        "SELECT * FROM enforcement_log WHERE account_id = ? ORDER BY id DESC LIMIT ?",
                        account_id,
                        ENFORCEMENT_ROWS,
                    )
                ],
                "connection": {"protection": "unknown", "userHub": "unknown", "marketHub": "unknown"},
            }
        )
    return {
        "offline": True,
        "version": meta.get("product_version"),
        "heartbeatAt": meta.get("heartbeat_at"),
        "startedAt": meta.get("started_at"),
        "cleanShutdownAt": meta.get("clean_shutdown_at"),
        "accounts": accounts,
    }


def _pnl(conn: sqlite3.Connection, account_id: int, day: str | None) -> dict[str, Any]:
    rows = _rows(conn, "SELECT * FROM daily_pnl WHERE account_id = ? AND trading_day = ?", account_id, day)
    if not rows:
        return {"realized": "0.00", "unrealized": None, "net": None, "fees": "0.00", "tradeCount": 0}
    r = rows[0]
    return {
        "realized": r["realized"],
        "unrealized": None,
        "net": None,
        "fees": r["fees"],
        "tradeCount": r["trade_count"],
    }


def _positions(conn: sqlite3.Connection, account_id: int, symbols: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "contractId": r["contract_id"],
            "symbol": symbols.get(r["contract_id"]) or r["contract_id"],
            "type": r["type"],
            "size": r["size"],
            "averagePrice": r["average_price"],
            "unrealized": None,
            "openedAt": r["opened_at"],
        }
        for r in _rows(conn, "SELECT * FROM positions WHERE account_id = ? ORDER BY contract_id", account_id)
    ]


def _order(r: sqlite3.Row) -> dict[str, Any]:
    return shape_row(r, ORDER_ITEM)


def _trade(r: sqlite3.Row) -> dict[str, Any]:
    return trade_item(r)  # the history query's shape: the dashboard reads the keys it knows


def _lockout(r: sqlite3.Row) -> dict[str, Any]:
    return {
        "lockoutId": r["engine_id"] or f"db{r['id']}",
        "ruleId": r["rule_id"],
        "scope": r["scope"],
        "symbol": r["symbol"],
        "kind": r["kind"],
        "createdAt": r["created_at"],
        "until": r["until"],
        "clearsOn": r["clears_on"],
        "reason": r["reason"],
        "observed": bool(r["observed"]),
        "active": bool(r["active"]),
        "clearedAt": r["cleared_at"],
        "clearedBy": r["cleared_by"],
        "clearReason": r["clear_reason"],
    }


def _enforcement(r: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": r["id"],
        "createdAt": r["created_at"],
        "ruleId": r["rule_id"],
        "action": r["action"],
        "target": r["target"],
        "state": r["state"],
        "attempts": r["attempts"],
        "reason": r["reason"],
        "firstRequestMs": r["first_request_ms"],
        "confirmedMs": r["confirmed_ms"],
    }


def _rules(text: str | None) -> list[dict[str, Any]]:
    if not text:
        return []
    try:
        items = json.loads(text)
    except ValueError:
        return []
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
