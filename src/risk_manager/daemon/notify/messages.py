"""What the daemon tells the world: one typed message per fact (spec/daemon.md §7.3, §7.4, §9.3).

The daemon never calls a dashboard, a log file or an alert channel directly: it publishes one of
these messages on the ``Notifier`` and every sink that cares turns it into its own output (a local
API push, an ``enforcement.jsonl`` line, a ``daemon.log`` line, a Windows Event Log entry or a journal
record, a webhook or Apprise alert, a systemd ``STATUS=`` line). Messages carry what the sinks need
already rendered (the push payloads come from ``views``), so no sink reaches back into daemon state.

Messages are frozen: a sink may keep one (in a queue, for a retry) without it changing underneath.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JsonMap = Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of every message: when it happened and, for account matters, which account."""

    at: datetime
    account_id: int | None = None


# ----- daemon lifecycle --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonStarted(Message):
    """Start-up finished: the accounts that could be reached are protected (readiness)."""

    version: str
    mode: str
    accounts: int
    protected: int
    api_url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonStopping(Message):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonStopped(Message):
    reason: str
    duration_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonCrashed(Message):
    summary: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RepeatedFailures(Message):
    unclean_ends: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChanged(Message):
    """The daemon's ``status`` payload changed (state, protected count, config reloaded)."""

    status: JsonMap


# ----- broker connectivity ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class ProtectionChanged(Message):
    """An account's protection state changed (spec/daemon.md §5.2)."""

    login: str
    state: str
    previous: str
    reason: str
    not_protected: bool
    protected_again: bool
    gap_s: float | None
    connection: JsonMap
    protected: int = 0  # accounts protected after this change (the systemd STATUS line)
    total: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SignInRejected(Message):
    login: str
    user_name: str
    reason: str


# ----- rules and enforcement ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class LockoutSet(Message):
    """A lockout was decided (pushed after its commit, or with a storage-degraded note)."""

    rule: str
    reason: str
    view: JsonMap  # the ``lockout_set`` push payload
    record: JsonMap  # the ``enforcement.jsonl`` line
    observed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LockoutCleared(Message):
    rule: str
    cleared_by: str
    reason: str | None
    view: JsonMap  # the ``lockout_cleared`` push payload
    record: JsonMap


@dataclass(frozen=True, slots=True, kw_only=True)
class EnforcementChanged(Message):
    """A work item was decided or changed state; ``final`` when it reached its outcome."""

    rule: str
    state: str
    final: bool
    entry: JsonMap  # the ``enforcement`` push payload
    record: JsonMap  # the ``enforcement.jsonl`` line (written once, when final)
    failed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleWarning(Message):
    rule: str
    message: str
    data: JsonMap = field(default_factory=dict)


# ----- configuration and storage ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigReloaded(Message):
    changes: tuple[str, ...]
    restart_required: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReloadRejected(Message):
    errors: tuple[JsonMap, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageDegraded(Message):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageRecovered(Message):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseReplaced(Message):
    moved_to: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TestNotification(Message):
    """Sent only by ``test_message`` (``risk-manager admin test notify``), never by the daemon."""

    __test__ = False  # not a pytest test class, despite the name
    text: str


# ----- live state for dashboards ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardUpdate(Message):
    """State a dashboard shows (``position``, ``order``, ``trade``, ``account``, ``rule_status``,
    ``daily_reset``, ``quote``): informational, never an alert."""

    type: str
    data: JsonMap
