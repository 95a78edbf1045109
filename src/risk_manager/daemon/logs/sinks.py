"""The log files' subscriptions to the notifier: ``enforcement.jsonl`` (one line per decision, with
its final outcome) and the ``daemon.log`` lines of lifecycle, protection, lockouts, failures, reloads
and storage (spec/daemon.md §7.1). Both hand records to the logging queue: no disk I/O here."""

from __future__ import annotations

import logging

from risk_manager.daemon.logs.files import log_enforcement
from risk_manager.daemon.notify import (
    ConfigReloaded,
    DatabaseReplaced,
    EnforcementChanged,
    LockoutCleared,
    LockoutSet,
    Message,
    ProtectionChanged,
    ReloadRejected,
    RepeatedFailures,
    RuleWarning,
    SignInRejected,
    StorageDegraded,
    StorageRecovered,
)

rules_log = logging.getLogger("risk_manager.daemon.engine")
protection_log = logging.getLogger("risk_manager.daemon.protection")
executor_log = logging.getLogger("risk_manager.daemon.executor")
daemon_log = logging.getLogger("risk_manager.daemon.app")


class EnforcementJournal:
    """``enforcement.jsonl``: lockouts set and cleared, and each work item once, when final."""

    name = "enforcement.jsonl"

    def deliver(self, message: Message) -> None:
        if isinstance(message, LockoutSet | LockoutCleared):
            log_enforcement(dict(message.record))
        elif isinstance(message, EnforcementChanged) and message.final:
            log_enforcement(dict(message.record))


class LogSink:
    """``daemon.log`` lines for what the daemon announces (the account id and rule in their fields)."""

    name = "daemon.log"

    def deliver(self, message: Message) -> None:
        acct = message.account_id
        if isinstance(message, LockoutSet):
            view = message.view
            rules_log.warning(
                "lockout %s until %s: %s",
                view.get("lockoutKind"),
                view.get("until") or "lifted",
                message.reason,
                extra={"acct": acct, "rule": message.rule},
            )
        elif isinstance(message, LockoutCleared):
            rules_log.info(
                "lockout cleared (%s): %s",
                message.cleared_by,
                message.reason,
                extra={"acct": acct, "rule": message.rule},
            )
        elif isinstance(message, RuleWarning):
            rules_log.warning("%s", message.message, extra={"acct": acct, "rule": message.rule})
        elif isinstance(message, EnforcementChanged):
            self._enforcement(message)
        elif isinstance(message, ProtectionChanged):
            if message.not_protected:
                protection_log.warning("account NOT PROTECTED: %s", message.reason, extra={"acct": acct})
            elif message.protected_again:
                protection_log.info(
                    "account protected again after %.1f s (%s)",
                    message.gap_s or 0.0,
                    message.reason,
                    extra={"acct": acct},
                )
        elif isinstance(message, SignInRejected):
            daemon_log.error("Sign-in rejected for %s: %s", message.user_name, message.reason)
        elif isinstance(message, ConfigReloaded):
            daemon_log.info("configuration reloaded: %d change(s)", len(message.changes))
        elif isinstance(message, ReloadRejected):
            daemon_log.warning("configuration reload rejected: %d error(s)", len(message.errors))
        elif isinstance(message, StorageDegraded):
            daemon_log.critical("storage degraded: %s; enforcement continues from memory", message.reason)
        elif isinstance(message, StorageRecovered):
            daemon_log.warning("storage recovered: database writes succeed again")
        elif isinstance(message, DatabaseReplaced):
            daemon_log.critical("database replaced: the damaged file was kept as %s", message.moved_to)
        elif isinstance(message, RepeatedFailures):
            daemon_log.error("repeated failures: %d unclean ends within the last hour", message.unclean_ends)

    @staticmethod
    def _enforcement(message: EnforcementChanged) -> None:
        record = message.record
        extra = {"acct": message.account_id, "rule": message.rule}
        target = record.get("target") or ""
        if record.get("observed"):
            executor_log.info("observe-only: would %s %s (%s)", record["action"], target, record["reason"], extra=extra)
        elif message.failed:
            result = record.get("result") or {}
            executor_log.critical(
                "ENFORCEMENT FAILED - close manually: %s %s after %d attempts (%s)",
                record["action"],
                target,
                record.get("attempts") or 0,
                result.get("error", "broker state not confirmed"),
                extra=extra,
            )
        elif message.state == "done":
            executor_log.info(
                "%s %s confirmed after %d attempt(s)",
                record["action"],
                target,
                record.get("attempts") or 0,
                extra=extra,
            )
