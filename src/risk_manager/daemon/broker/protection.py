"""Per-account protection state (daemon.md §5.2): is this account actually being watched?"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

log = logging.getLogger("risk_manager.daemon.broker.protection")

PROTECTED = "protected"
DEGRADED = "degraded"
RECONCILING = "reconciling"
DISCONNECTED = "disconnected"
AUTH_FAILED = "auth_failed"
RED = frozenset({RECONCILING, DISCONNECTED, AUTH_FAILED})

BANNERS = {
    PROTECTED: "protected",
    DEGRADED: "PARTIALLY PROTECTED",
    RECONCILING: "NOT PROTECTED - reconciling",
    DISCONNECTED: "NOT PROTECTED - broker connection lost",
    AUTH_FAILED: "NOT PROTECTED - sign-in failed",
}


@dataclass
class Protection:
    account_id: int
    login: str
    state: str = RECONCILING
    reason: str = "starting"
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    user_hub: str = "down"
    market_hub: str = "down"
    last_event_at: datetime | None = None

    def set(self, state: str, reason: str) -> bool:
        """Change state; returns True when it changed (the caller announces it)."""
        if state == self.state and reason == self.reason:
            return False
        previous = self.state
        now = datetime.now(UTC)
        gap = (now - self.since).total_seconds()
        self.state, self.reason, self.since = state, reason, now
        if state in RED and previous not in RED:
            log.warning("account NOT PROTECTED: %s", reason, extra={"acct": self.account_id})
        elif state == PROTECTED and previous != PROTECTED:
            log.info(
                "account protected again after %.1f s (%s)", gap, reason, extra={"acct": self.account_id}
            )
        return True

    def connection(self) -> dict[str, object]:
        return {
            "login": self.login,
            "protection": self.state,
            "userHub": self.user_hub,
            "marketHub": self.market_hub,
            "since": self.since.isoformat().replace("+00:00", "Z"),
            "reason": self.reason,
            "lastEventAt": self.last_event_at.isoformat().replace("+00:00", "Z")
            if self.last_event_at
            else None,
        }
