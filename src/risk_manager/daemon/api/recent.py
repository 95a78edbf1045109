"""The newest enforcement entries per account, for snapshots (spec/daemon.md §9.2 ``enforcement``).

A notifier subscriber: it keeps the last entries it was told about, one row per work item (a later
state of the same item replaces its row), so a snapshot never lists an item twice."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from risk_manager.daemon.notify import EnforcementChanged, Message

RECENT_PER_ACCOUNT = 50


class RecentEnforcement:
    name = "recent-enforcement"

    def __init__(self, keep: int = RECENT_PER_ACCOUNT) -> None:
        self._keep = keep
        self._by_account: dict[int, OrderedDict[str, dict[str, Any]]] = {}

    def deliver(self, message: Message) -> None:
        if not isinstance(message, EnforcementChanged) or message.account_id is None:
            return
        entry = dict(message.entry)
        rows = self._by_account.setdefault(message.account_id, OrderedDict())
        key = str(entry.get("key") or entry.get("id"))
        rows.pop(key, None)
        rows[key] = entry
        while len(rows) > self._keep:
            rows.popitem(last=False)

    def newest_first(self, account_id: int) -> list[dict[str, Any]]:
        return list(reversed(self._by_account.get(account_id, {}).values()))

    def forget(self, account_id: int) -> None:
        self._by_account.pop(account_id, None)
