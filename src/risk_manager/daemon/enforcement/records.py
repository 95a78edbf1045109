"""The shapes in which a decision is told: the ``enforcement.jsonl`` line (spec/daemon.md §4.3, §7.1)
and the ``enforcement`` push (§9.3). Built once, at the moment of the change, so a record never shows
a later state than the one it reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from risk_manager.daemon.enforcement.work import WorkItem
from risk_manager.engine.actions import Action
from risk_manager.engine.timefmt import iso


def decision_record(action: Action, state: str, at: datetime, item: WorkItem | None = None) -> dict[str, Any]:
    """One ``enforcement.jsonl`` line: the decision, its outcome and the numbers the rule saw."""
    out: dict[str, Any] = {
        "at": iso(at),
        "account": action.account_id,
        "rule": action.rule,
        "action": str(action.kind),
        "target": action.contract_id if action.order_id is None else action.order_id,
        "state": str(state),
        "reason": action.reason,
        "observed": action.observe_only,
    }
    if action.extra:
        out["seen"] = dict(action.extra)
    if action.lockout is not None:
        out["lockout"] = action.lockout.to_dict() | {"id": action.lockout.id}
    if action.cleared_by is not None:
        out["clearedBy"] = str(action.cleared_by)
    if action.actor is not None:
        out["actor"] = action.actor
    if item is not None:
        out.update(
            {
                "key": item.key,
                "attempts": item.attempts,
                "firstRequestMs": _ms(item.first_request_ms),
                "confirmedMs": _ms(item.confirmed_ms),
                "result": dict(item.result) or None,
            }
        )
    return out


def enforcement_entry(item: WorkItem, record: dict[str, Any]) -> dict[str, Any]:
    """The ``enforcement`` push / snapshot entry of a work item (``id`` is its database row)."""
    entry: dict[str, Any] = {
        "id": item.record_id,
        "key": item.key,
        "ruleId": item.action.rule,
        "action": str(item.action.kind),
        "target": record["target"],
        "state": record["state"],
        "attempts": record["attempts"],
        "reason": item.action.reason,
        "firstRequestMs": record["firstRequestMs"],
        "confirmedMs": record["confirmedMs"],
    }
    if "seen" in record:
        entry["seen"] = record["seen"]
    return entry


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
