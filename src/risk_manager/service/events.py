"""Which daemon messages become Windows Event Log entries and journal records (daemon.md §7.3).

One table for both outputs: the event id, the level and the text. The journal gets the same events
with a ``MESSAGE_ID`` derived from the event id (``MESSAGE_ID_PREFIX`` + the id as 4 hex digits, e.g.
1010 -> ``...03f2``) and the syslog priority of the level.

Routine messages (dashboard updates, rule warnings, status changes, successful enforcement) are not
events: they are in ``daemon.log`` and ``enforcement.jsonl``. Two ids extend the §7.3 table, so an
administrator can see that a problem ended and who changed the rules: 1041 storage recovered, 1042
configuration reloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from risk_manager.daemon.notify import (
    ConfigReloaded,
    DaemonCrashed,
    DaemonStarted,
    DaemonStopped,
    DatabaseReplaced,
    EnforcementChanged,
    LockoutCleared,
    LockoutSet,
    Message,
    ProtectionChanged,
    ReloadRejected,
    RepeatedFailures,
    SignInRejected,
    StorageDegraded,
    StorageRecovered,
)

INFORMATION = "information"
WARNING = "warning"
ERROR = "error"

STARTED = 1000
STOPPED = 1001
CRASHED = 1002
REPEATED_FAILURES = 1003
NOT_PROTECTED = 1010
PROTECTED_AGAIN = 1011
SIGN_IN_REJECTED = 1012
LOCKOUT_SET = 1020
LOCKOUT_CLEARED = 1021
ENFORCEMENT_FAILED = 1030
WARNING_STORAGE_OR_CONFIG = 1040
STORAGE_RECOVERED = 1041
CONFIG_RELOADED = 1042

#: syslog priorities (journal PRIORITY=, the "<N>" stderr prefix)
PRIORITY = {ERROR: 3, WARNING: 4, INFORMATION: 6}
MESSAGE_ID_PREFIX = "5f3c1e2a9b8d4c07a6e1d2b3c4f5"  # + 4 hex digits = 128 bits


def message_id(event_id: int) -> str:
    return f"{MESSAGE_ID_PREFIX}{event_id:04x}"


@dataclass(frozen=True)
class ServiceEvent:
    event_id: int
    level: str
    text: str
    account_id: int | None = None

    @property
    def priority(self) -> int:
        return PRIORITY[self.level]

    @property
    def message_id(self) -> str:
        return message_id(self.event_id)


def _acct(message: Message) -> str:
    return f"Account {message.account_id}: " if message.account_id is not None else ""


def _seconds(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.0f} min"


def _until(view: Any) -> str:
    until = view.get("until") if hasattr(view, "get") else None
    return f"until {until}" if until else "until cleared"


def to_event(message: Message) -> ServiceEvent | None:
    """The Event Log / journal entry for ``message``, or None when it is not an event."""
    m = message
    a = m.account_id
    if isinstance(m, DaemonStarted):
        return ServiceEvent(
            STARTED,
            INFORMATION,
            f"Risk manager {m.version} started ({m.mode} mode): {m.protected} of {m.accounts} accounts "
            f"protected; local API {m.api_url}.",
        )
    if isinstance(m, DaemonStopped):
        return ServiceEvent(STOPPED, INFORMATION, f"Risk manager stopped ({m.reason}) after {_seconds(m.duration_s)}.")
    if isinstance(m, DaemonCrashed):
        return ServiceEvent(CRASHED, ERROR, f"Risk manager crashed: {m.summary}. See error.log.")
    if isinstance(m, RepeatedFailures):
        return ServiceEvent(
            REPEATED_FAILURES,
            ERROR,
            f"Risk manager ended uncleanly {m.unclean_ends} times within one hour; it keeps being restarted.",
        )
    if isinstance(m, ProtectionChanged):
        if m.not_protected:
            return ServiceEvent(
                NOT_PROTECTED,
                WARNING,
                f"{_acct(m)}NOT PROTECTED (login {m.login}): {m.reason}. {m.protected} of {m.total} accounts protected.",
                a,
            )
        if m.protected_again:
            return ServiceEvent(
                PROTECTED_AGAIN,
                INFORMATION,
                f"{_acct(m)}protected again (login {m.login}) after {_seconds(m.gap_s)} without protection.",
                a,
            )
        return None
    if isinstance(m, SignInRejected):
        return ServiceEvent(SIGN_IN_REJECTED, ERROR, f"Sign-in rejected for login {m.login}: {m.reason}.", a)
    if isinstance(m, LockoutSet):
        observed = " (observe-only: not enforced)" if m.observed else ""
        return ServiceEvent(
            LOCKOUT_SET, WARNING, f"{_acct(m)}lockout set by {m.rule} {_until(m.view)}: {m.reason}{observed}.", a
        )
    if isinstance(m, LockoutCleared):
        why = f": {m.reason}" if m.reason else ""
        return ServiceEvent(LOCKOUT_CLEARED, INFORMATION, f"{_acct(m)}lockout of {m.rule} cleared by {m.cleared_by}{why}.", a)
    if isinstance(m, EnforcementChanged):
        if not (m.final and m.failed):
            return None
        entry = m.entry
        what = entry.get("action") if hasattr(entry, "get") else None
        reason = entry.get("reason") if hasattr(entry, "get") else None
        return ServiceEvent(
            ENFORCEMENT_FAILED,
            ERROR,
            f"{_acct(m)}enforcement FAILED for {m.rule} ({what or 'action'}) after the bounded retry; "
            f"still open: {reason or 'see enforcement.jsonl'}. Check the account now.",
            a,
        )
    if isinstance(m, ReloadRejected):
        first = m.errors[0] if m.errors else {}
        where = " › ".join(str(first.get(k)) for k in ("file", "path") if first.get(k))
        detail = f" First error: {where}: {first.get('message')}" if first else ""
        return ServiceEvent(
            WARNING_STORAGE_OR_CONFIG,
            WARNING,
            f"Configuration reload rejected ({len(m.errors)} error(s)); the previous configuration stays.{detail}",
        )
    if isinstance(m, DatabaseReplaced):
        return ServiceEvent(
            WARNING_STORAGE_OR_CONFIG,
            WARNING,
            f"Database was corrupt and has been replaced (damaged file kept as {m.moved_to}); check the lockouts.",
        )
    if isinstance(m, StorageDegraded):
        return ServiceEvent(
            WARNING_STORAGE_OR_CONFIG,
            WARNING,
            f"Storage degraded: {m.reason}. Enforcement continues from memory.",
        )
    if isinstance(m, StorageRecovered):
        return ServiceEvent(STORAGE_RECOVERED, INFORMATION, "Storage is writable again.")
    if isinstance(m, ConfigReloaded):
        changes = ", ".join(m.changes) or "no changes"
        restart = f" Restart needed for: {', '.join(m.restart_required)}." if m.restart_required else ""
        return ServiceEvent(CONFIG_RELOADED, INFORMATION, f"Configuration reloaded: {changes}.{restart}")
    return None
