"""Per-account protection state (spec/daemon.md §5.2): is this account actually being watched?

The ``ProtectionBoard`` is the one place the state changes; every change is published on the
notifier (``ProtectionChanged``), from which the dashboards, the log, the Event Log / journal, the
systemd status line and the alerts learn it.

Storage health is one daemon-wide flag shown in every account's connection view (``storage``,
``storageReason``): degraded storage does not stop enforcement (the account stays ``protected``),
but nothing of it is being saved, and every dashboard must say so (issue 8 §1). The board hears
``StorageDegraded`` / ``StorageRecovered`` as a notifier sink and re-announces each account's view.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from risk_manager.daemon.clock import Clock
from risk_manager.daemon.notify import Message, Notifier, ProtectionChanged, StorageDegraded, StorageRecovered
from risk_manager.engine.timefmt import iso


class ProtectionState(StrEnum):
    PROTECTED = "protected"
    DEGRADED = "degraded"  # watched, but without market data
    RECONCILING = "reconciling"
    RECONCILE_FAILED = "reconcile_failed"  # the broker's REST state could not be read or adopted; retrying
    DISCONNECTED = "disconnected"
    AUTH_FAILED = "auth_failed"

    @property
    def red(self) -> bool:
        """NOT PROTECTED: the daemon cannot see (or cannot yet trust) what happens in the account."""
        return self in _RED

    @property
    def banner(self) -> str:
        return _BANNERS[self]


_RED = frozenset(
    {
        ProtectionState.RECONCILING,
        ProtectionState.RECONCILE_FAILED,
        ProtectionState.DISCONNECTED,
        ProtectionState.AUTH_FAILED,
    }
)
_BANNERS = {
    ProtectionState.PROTECTED: "protected",
    ProtectionState.DEGRADED: "PARTIALLY PROTECTED",
    ProtectionState.RECONCILING: "NOT PROTECTED - reconciling",
    ProtectionState.RECONCILE_FAILED: "NOT PROTECTED - broker state could not be reconciled",
    ProtectionState.DISCONNECTED: "NOT PROTECTED - broker connection lost",
    ProtectionState.AUTH_FAILED: "NOT PROTECTED - sign-in failed",
}


@dataclass
class StorageFlag:
    """Daemon-wide: is what happens being saved? (``ok`` or ``degraded`` with the reason)."""

    degraded: bool = False
    reason: str | None = None


@dataclass
class Protection:
    account_id: int
    login: str
    since: datetime
    state: ProtectionState = ProtectionState.RECONCILING
    reason: str = "starting"
    user_hub: str = "down"
    market_hub: str = "down"
    last_event_at: datetime | None = None
    #: when NOT PROTECTED was announced (None: nothing announced since the account was last protected)
    unprotected_since: datetime | None = None
    storage: StorageFlag = field(default_factory=StorageFlag)

    def connection(self) -> dict[str, Any]:
        """The ``connection`` push / snapshot payload."""
        return {
            "login": self.login,
            "protection": str(self.state),
            "userHub": self.user_hub,
            "marketHub": self.market_hub,
            "since": iso(self.since),
            "reason": self.reason,
            "lastEventAt": iso(self.last_event_at),
            "storage": "degraded" if self.storage.degraded else "ok",
            "storageReason": self.storage.reason,
        }


class ProtectionBoard:
    """Protection of every watched account."""

    name = "protection"

    def __init__(self, notifier: Notifier, clock: Clock) -> None:
        self._notifier = notifier
        self._clock = clock
        self._accounts: dict[int, Protection] = {}
        self.storage = StorageFlag()

    def add(self, account_id: int, login: str) -> Protection:
        prot = Protection(account_id, login, since=self._clock.now(), storage=self.storage)
        self._accounts[account_id] = prot
        return prot

    def remove(self, account_id: int) -> None:
        self._accounts.pop(account_id, None)

    def get(self, account_id: int) -> Protection | None:
        return self._accounts.get(account_id)

    def __iter__(self) -> Iterator[Protection]:
        return iter(list(self._accounts.values()))

    def __len__(self) -> int:
        return len(self._accounts)

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._accounts

    def protected(self) -> int:
        return sum(1 for p in self._accounts.values() if p.state is ProtectionState.PROTECTED)

    # ----- storage (a notifier sink) ----------------------------------------------------------------
    def deliver(self, message: Message) -> None:
        if isinstance(message, StorageDegraded):
            self._storage(True, message.reason)
        elif isinstance(message, StorageRecovered):
            self._storage(False, None)

    def _storage(self, degraded: bool, reason: str | None) -> None:
        if self.storage.degraded == degraded and self.storage.reason == reason:
            return
        self.storage.degraded, self.storage.reason = degraded, reason
        now = self._clock.now()
        for prot in list(self._accounts.values()):  # every dashboard's connection view changes
            self._notifier.publish(
                ProtectionChanged(
                    at=now,
                    account_id=prot.account_id,
                    login=prot.login,
                    state=str(prot.state),
                    previous=str(prot.state),
                    reason=prot.reason,
                    not_protected=False,
                    protected_again=False,
                    gap_s=None,
                    connection=prot.connection(),
                    protected=self.protected(),
                    total=len(self._accounts),
                )
            )

    def event_seen(self, account_id: int) -> None:
        prot = self._accounts.get(account_id)
        if prot is not None:
            prot.last_event_at = self._clock.now()

    def set(
        self,
        account_id: int,
        state: ProtectionState,
        reason: str,
        *,
        user_hub: str | None = None,
        market_hub: str | None = None,
    ) -> bool:
        """Change an account's state; publishes and returns True when it changed."""
        prot = self._accounts.get(account_id)
        if prot is None:
            return False
        if user_hub is not None:
            prot.user_hub = user_hub
        if market_hub is not None:
            prot.market_hub = market_hub
        if state is prot.state and reason == prot.reason:
            return False
        now = self._clock.now()
        previous = prot.state
        prot.state, prot.reason, prot.since = state, reason, now
        # Announced once per episode: leaving a watched state, or failing to reach one at start (the
        # normal reconcile of a start-up is not an episode); "again" closes the announced episode.
        not_protected = prot.unprotected_since is None and state.red and (
            not previous.red or state is not ProtectionState.RECONCILING
        )
        protected_again = state is ProtectionState.PROTECTED and prot.unprotected_since is not None
        gap = (now - prot.unprotected_since).total_seconds() if prot.unprotected_since is not None else None
        if not_protected:
            prot.unprotected_since = now
        elif protected_again:
            prot.unprotected_since = None
        self._notifier.publish(
            ProtectionChanged(
                at=now,
                account_id=account_id,
                login=prot.login,
                state=str(state),
                previous=str(previous),
                reason=reason,
                not_protected=not_protected,
                protected_again=protected_again,
                gap_s=gap if protected_again else None,
                connection=prot.connection(),
                protected=self.protected(),
                total=len(self._accounts),
            )
        )
        return True
