"""What the installed daemon wrote, read the way a standard user may: the database read-only, the
enforcement log as JSON lines. Waits poll these files (conditions with deadlines, no sleeps)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from risk_manager.service.layout import Layout
from tests.e2e.harness import wait_until


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        return list(conn.execute(sql, args).fetchall())
    finally:
        conn.close()


def active_lockouts(layout: Layout, account: int) -> set[str]:
    rows = query(layout.db_path, "SELECT rule_id FROM lockouts WHERE account_id = ? AND active = 1", account)
    return {r[0] for r in rows}


def db_enforcement(layout: Layout, account: int) -> set[tuple[str, str, str]]:
    """(rule, action, state) of every enforcement record of the account."""
    rows = query(
        layout.db_path, "SELECT rule_id, action, state FROM enforcement_log WHERE account_id = ?", account
    )
    return {(r[0], r[1], r[2]) for r in rows}


def jsonl(layout: Layout) -> list[dict[str, Any]]:
    path = layout.log_dir / "enforcement.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def jsonl_done(layout: Layout, account: int) -> set[tuple[str, str]]:
    """(rule, action) of the account's enforcement lines that finished (done)."""
    return {
        (r["rule"], r["action"])
        for r in jsonl(layout)
        if r.get("account") == account and r.get("state") == "done"
    }


def wait_enforced(layout: Layout, account: int, rule: str, action: str, timeout: float = 15) -> None:
    """The rule's action on the account is done, in enforcement.jsonl and in the database."""
    wait_until(
        lambda: (
            (rule, action) in jsonl_done(layout, account)
            and (rule, action, "done") in db_enforcement(layout, account)
        ),
        timeout,
        f"{rule} {action} on {account} in enforcement.jsonl and the database",
        interval=0.05,
    )


def wait_lockout(
    layout: Layout, account: int, rule: str, *, active: bool = True, timeout: float = 15
) -> None:
    wait_until(
        lambda: (rule in active_lockouts(layout, account)) is active,
        timeout,
        f"{rule} lockout on {account} {'active' if active else 'cleared'} in the database",
    )


def daily_pnl(layout: Layout) -> dict[int, tuple[str, int]]:
    """account -> (realized, trade count) of the newest trading day in the database."""
    rows = query(
        layout.db_path,
        "SELECT account_id, realized, trade_count FROM daily_pnl d WHERE trading_day = "
        "(SELECT max(trading_day) FROM daily_pnl e WHERE e.account_id = d.account_id)",
    )
    return {int(r[0]): (str(r[1]), int(r[2])) for r in rows}


def schema_version(layout: Layout) -> int:
    return int(query(layout.db_path, "SELECT value FROM meta WHERE key = 'schema_version'")[0][0])
