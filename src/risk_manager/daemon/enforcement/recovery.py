"""Enforcement records an earlier run left unfinished (a crash, a kill, a power cut): each is resolved
against the broker's state once its account has been reconciled (spec/daemon.md §2.3).

A record is unfinished when its outcome was never known (``pending``, ``sent``, ``uncertain``,
``verifying``, ``retrying``, ``interrupted``). After the account's reconcile has re-evaluated every
rule (and handed the executor whatever is needed now), the record is resumed under its own key: the
executor reads the broker's state first and sends only what is still missing, and the outcome
(``done``, or ``failed`` after the bounded retry) is written to the same row. A record is resolved
once per run; nothing stays unfinished across restarts of an account that is reconciled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from risk_manager.daemon.enforcement.executor import Executor
from risk_manager.engine.actions import BROKER_KINDS, Action, ActionKind
from risk_manager.store.codec import parse_ts

log = logging.getLogger("risk_manager.daemon.executor")

ObserveOnly = Callable[[int], bool]


def action_from_record(row: Mapping[str, Any], observe_only: bool = False) -> Action | None:
    """The engine action a stored record carried out (None when the row cannot be one)."""
    try:
        kind = ActionKind(row["action"])
    except ValueError:
        return None
    if kind not in BROKER_KINDS:
        return None
    target = row.get("target")
    contract_id: str | None = None
    order_id: int | None = None
    if kind in (ActionKind.CANCEL_ORDER, ActionKind.MODIFY_STOP):
        if target is None or not str(target).isdigit():
            return None
        order_id = int(target)
    elif kind not in (ActionKind.CLOSE_ALL, ActionKind.CANCEL_ALL):
        if not target:
            return None
        contract_id = str(target)
    seen: dict[str, Any] = {}
    if row.get("seen"):
        try:
            loaded = json.loads(row["seen"])
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            seen = loaded
    return Action(
        account_id=int(row["account_id"]),
        rule=str(row.get("rule_id") or "?"),
        kind=kind,
        reason=str(row.get("reason") or ""),
        at=_created(row),
        contract_id=contract_id,
        order_id=order_id,
        observe_only=observe_only,
        extra=seen,
    )


def _created(row: Mapping[str, Any]) -> datetime:
    return parse_ts(row.get("created_at")) or datetime.now(UTC)


class Recovery:
    """The unfinished records found at start, resumed account by account after reconciliation."""

    def __init__(self, executor: Executor, rows: list[dict[str, Any]], observe_only: ObserveOnly) -> None:
        self._executor = executor
        self._observe_only = observe_only
        self._by_account: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            self._by_account.setdefault(int(row["account_id"]), []).append(row)

    @property
    def accounts(self) -> list[int]:
        """Accounts with records still to re-check."""
        return sorted(self._by_account)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._by_account.values())

    def account_reconciled(self, account_id: int) -> int:
        """Resume the account's unfinished records (once); returns how many were resumed."""
        rows = self._by_account.pop(account_id, [])
        resumed = 0
        for row in rows:
            action = action_from_record(row, self._observe_only(account_id))
            if action is None:
                log.warning(
                    "unfinished enforcement record %s (%s) cannot be resumed; left as it is",
                    row.get("id"),
                    row.get("action"),
                    extra={"acct": account_id},
                )
                continue
            item = self._executor.resume(
                action,
                key=str(row["key"]),
                cause=str(row.get("event_id") or "restart"),
                created=_created(row),
                attempts=int(row.get("attempts") or 0),
                record_id=int(row["id"]) if row.get("id") is not None else None,
            )
            if item is not None:
                resumed += 1
        if resumed:
            log.info(
                "re-checking %d enforcement action(s) left unfinished by the last run",
                resumed,
                extra={"acct": account_id},
            )
        return resumed
