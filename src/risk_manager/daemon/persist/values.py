"""The rows of the daemon's own records, taken on the event loop at the moment they are handed over
(the objects keep changing; the writer thread runs later): enforcement rows, audit rows, and the
bounds of a trading day for ``history.pnl``. Engine records map to rows in ``store/rows.py``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from risk_manager.daemon.enforcement.work import WorkItem, WorkState
from risk_manager.engine.state import AccountState
from risk_manager.engine.trading_day import local_instant
from risk_manager.store import rows
from risk_manager.store.codec import dumps, ts


def enforcement_values(
    item: WorkItem, record: Mapping[str, Any], acct: AccountState | None, now: datetime
) -> tuple[dict[str, Any], str | None]:
    """The ``enforcement_log`` row of a work item's state, and the engine id of its lockout."""
    action = item.action
    created = item.created
    state = WorkState(item.state)
    lock = record.get("lockout")
    values = {
        "created_at": ts(created),
        "account_id": item.account_id,
        "trading_day": rows.day_label(acct, created) if acct is not None else created.date().isoformat(),
        "rule_id": action.rule,
        "action": str(action.kind),
        "target": None if record.get("target") is None else str(record.get("target")),
        "key": item.key,
        "state": str(state),
        "attempts": item.attempts,
        "reason": action.reason,
        "seen": dumps(dict(action.extra)) if action.extra else None,
        "result": dumps(dict(item.result)) if item.result else None,
        "first_request_ms": item.first_request_ms,
        "confirmed_ms": item.confirmed_ms,
        "event_id": item.cause,
        "completed_at": ts(now) if state.completed else None,
    }
    lock_id = lock.get("id") if isinstance(lock, Mapping) else None
    return values, None if lock_id is None else str(lock_id)


def audit_row(
    action: str,
    outcome: str,
    actor: Mapping[str, Any] | str | None,
    target: str | None,
    reason: str | None,
    before: Any,
    after: Any,
    now: datetime,
) -> dict[str, Any]:
    if isinstance(actor, Mapping):
        who = actor.get("osUser") or ("admin-session" if actor.get("session") else None)
        peer = actor.get("peer")
    else:
        who, peer = actor, None
    return {
        "at": ts(now),
        "actor": None if who is None else str(who),
        "peer": None if peer is None else str(peer),
        "action": action,
        "target": target,
        "before": dumps(before),
        "after": dumps(after),
        "reason": reason,
        "outcome": outcome,
    }


def day_bounds(acct: AccountState | None, day: str) -> tuple[str, str]:
    """The instants a trading day ``day`` starts and ends for an account (UTC days when unknown)."""
    end_day = date.fromisoformat(day)
    if acct is None:
        start = datetime.combine(end_day - timedelta(days=1), datetime.min.time(), UTC)
        return ts(start) or "", ts(start + timedelta(days=1)) or ""
    s = acct.settings
    start = local_instant(end_day - timedelta(days=1), s.reset_time, s.timezone)
    end = local_instant(end_day, s.reset_time, s.timezone)
    return ts(start) or "", ts(end) or ""
