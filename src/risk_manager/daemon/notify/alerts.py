"""Which messages are alerts (spec/daemon.md §7.4), and the subject and text an alert carries.

Shared by every alert channel (the webhook, each Apprise URL; the Event Log and the journal use the
same subjects), so "what deserves to wake somebody" is decided once. The subject names are the
config's vocabulary (``notifications.apprise[].subjects``), defined once in ``config.notify_urls``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from risk_manager.daemon.notify.messages import (
    DatabaseReplaced,
    EnforcementChanged,
    LockoutSet,
    Message,
    ProtectionChanged,
    RepeatedFailures,
    RuleWarning,
    SignInRejected,
    StorageDegraded,
    TestNotification,
)
from risk_manager.engine.timefmt import iso


@dataclass(frozen=True, slots=True)
class Alert:
    subject: str  # also the rate-limit key (with the account)
    text: str
    message: Message

    def payload(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "text": self.text,
            "accountId": self.message.account_id,
            "at": iso(self.message.at),
            "event": type(self.message).__name__,
        }


def alert_for(message: Message) -> Alert | None:
    acct = message.account_id
    where = f"account {acct}: " if acct is not None else ""
    if isinstance(message, ProtectionChanged) and message.not_protected:
        return Alert("not_protected", f"NOT PROTECTED - {where}{message.reason}", message)
    if isinstance(message, SignInRejected):
        return Alert("sign_in_rejected", f"Sign-in rejected for {message.user_name}: {message.reason}", message)
    if isinstance(message, EnforcementChanged) and message.failed:
        record = message.record
        return Alert(
            "enforcement_failed",
            f"ENFORCEMENT FAILED - close manually: {where}{record.get('action')} {record.get('target') or ''}"
            f" ({message.rule})",
            message,
        )
    if isinstance(message, LockoutSet) and not message.observed:
        until = message.view.get("until") or "further notice"
        return Alert("lockout_set", f"Locked until {until}: {where}{message.rule} {message.reason}", message)
    if isinstance(message, RepeatedFailures):
        return Alert(
            "repeated_failures", f"The daemon ended uncleanly {message.unclean_ends} times within 1 hour", message
        )
    if isinstance(message, DatabaseReplaced):
        return Alert("database_replaced", f"The database was corrupt and was replaced ({message.moved_to})", message)
    if isinstance(message, StorageDegraded):
        return Alert("storage_degraded", f"Storage degraded: {message.reason}", message)
    if isinstance(message, RuleWarning) and "threshold" in message.data:
        # The 80 % (configurable) warnings carry their numbers; other rule notes are not alerts.
        return Alert("limit_warning", f"Warning - {where}{message.rule} {message.message}", message)
    if isinstance(message, TestNotification):
        return Alert("test", message.text, message)
    return None
