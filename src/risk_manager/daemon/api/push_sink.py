"""The local API's subscription to the notifier: every message a dashboard shows becomes a push
(spec/daemon.md §9.3). Alerts that are not dashboard matters (Event Log ids, webhook subjects) are
ignored here."""

from __future__ import annotations

from typing import Any, Protocol

from risk_manager.daemon.notify import (
    DaemonStopping,
    DashboardUpdate,
    EnforcementChanged,
    LockoutCleared,
    LockoutSet,
    Message,
    ProtectionChanged,
    RuleWarning,
    StatusChanged,
)


class Pusher(Protocol):
    def push(self, type_: str, data: dict[str, Any], account_id: int | None = None) -> None: ...


class ApiPushSink:
    name = "local-api"

    def __init__(self, api: Pusher, version: str) -> None:
        self._api = api
        self._version = version

    def deliver(self, message: Message) -> None:
        push = self._api.push
        account = message.account_id
        if isinstance(message, DashboardUpdate):
            push(message.type, dict(message.data), account)
        elif isinstance(message, EnforcementChanged):
            push("enforcement", dict(message.entry), account)
        elif isinstance(message, LockoutSet):
            push("lockout_set", dict(message.view), account)
        elif isinstance(message, LockoutCleared):
            push("lockout_cleared", dict(message.view), account)
        elif isinstance(message, ProtectionChanged):
            push("connection", dict(message.connection), account)
        elif isinstance(message, RuleWarning):
            push("warning", {"ruleId": message.rule, "message": message.message, **message.data}, account)
        elif isinstance(message, StatusChanged):
            push("status", dict(message.status))
        elif isinstance(message, DaemonStopping):
            push("status", {"state": "stopping", "version": self._version})
