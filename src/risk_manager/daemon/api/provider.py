"""The daemon's answers to the local API (snapshot, status, heartbeat, history, reload, unlock).

Built from explicit collaborators, never the whole daemon: the engine and the protection board for
state, the recent-enforcement feed, the logins' descriptions, the store for history and audit, the
reloader, and the pipeline through which an unlock reaches the engine between two events.

``status`` and the snapshot carry ``storage`` (``ok`` or ``degraded`` with the reason, spec/daemon.md
§6.6); as a notifier sink the provider pushes a fresh ``status`` when storage health changes.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from risk_manager.daemon.api.protocol import PROTOCOL_VERSION, LocalApiError
from risk_manager.daemon.api.recent import RecentEnforcement
from risk_manager.daemon.api.views import account_view
from risk_manager.daemon.broker.protection import ProtectionBoard, ProtectionState
from risk_manager.daemon.clock import Clock
from risk_manager.daemon.lifecycle import Lifecycle
from risk_manager.daemon.notify import (
    DatabaseReplaced,
    Message,
    Notifier,
    StatusChanged,
    StorageDegraded,
    StorageRecovered,
)
from risk_manager.daemon.persist.persistence import Persistence
from risk_manager.daemon.pipeline import Pipeline
from risk_manager.daemon.reload import ConfigReloader
from risk_manager.engine import Action, Engine
from risk_manager.engine.timefmt import iso
from risk_manager.store.queries import QueryError

RATE_WINDOW_S = 1.0  # events-per-second figure of the heartbeat: measured over at least this long


class LoginStatus(Protocol):
    name: str

    def describe(self) -> dict[str, Any]: ...

    def hub_states(self) -> dict[str, str]: ...


@dataclass(eq=False)
class DaemonProvider:
    lifecycle: Lifecycle
    engine: Engine
    board: ProtectionBoard
    recent: RecentEnforcement
    pipeline: Pipeline
    persist: Persistence | None
    reloader: ConfigReloader
    notifier: Notifier
    clock: Clock
    logins: Callable[[], Iterable[LoginStatus]]
    config_dir: Path
    #: every rule's status for an account (the dashboard feed), for snapshots
    rules: Callable[[int], list[dict[str, Any]]] | None = None
    _events_mark: tuple[int, float] = field(init=False)
    _rate: float = field(init=False, default=0.0)
    name = "status"

    def __post_init__(self) -> None:
        self._events_mark = (0, self.clock.monotonic())

    def deliver(self, message: Message) -> None:
        """Storage health changed: every client gets the new ``status``."""
        if isinstance(message, StorageDegraded | StorageRecovered | DatabaseReplaced):
            self.notifier.publish(StatusChanged(at=self.clock.now(), status=self.status()))

    def storage(self) -> dict[str, Any]:
        if self.persist is None:
            return {"state": "ok", "reason": None, "since": None, "unsaved": 0}
        return self.persist.health_view()

    # ----- views --------------------------------------------------------------------------------
    def _account(self, account_id: int) -> dict[str, Any]:
        now = self.clock.now()
        acct = self.engine.state.accounts[account_id]
        prot = self.board.get(account_id)
        return account_view(
            self.engine,
            acct,
            now,
            login=prot.login if prot else "-",
            protection=str(prot.state if prot else ProtectionState.RECONCILING),
            connection=prot.connection() if prot else {},
            enforcement=self.recent.newest_first(account_id),
            rules=self.rules(account_id) if self.rules is not None else None,
        )

    def snapshot(self, account_id: int | None) -> dict[str, Any]:
        ids = self.engine.account_ids()
        if account_id is not None:
            if account_id not in ids:
                raise LocalApiError("not_found", f"account {account_id} is not monitored")
            ids = [account_id]
        life = self.lifecycle
        return {
            "protocol": PROTOCOL_VERSION,
            "version": life.version,
            "mode": life.mode,
            "pid": os.getpid(),
            "startedAt": iso(life.started_at),
            "state": str(life.state),
            "storage": self.storage(),
            "accounts": [self._account(i) for i in ids],
        }

    def status(self) -> dict[str, Any]:
        board = self.board
        protected = board.protected()
        return {
            "state": str(self.lifecycle.state),
            "version": self.lifecycle.version,
            "accounts": len(board),
            "protected": protected,
            "notProtected": len(board) - protected,
            "unprotected": [
                {"accountId": p.account_id, "protection": str(p.state), "reason": p.reason}
                for p in board
                if p.state is not ProtectionState.PROTECTED
            ],
            "logins": [login.describe() for login in self.logins()],
            "startedAt": iso(self.lifecycle.started_at),
            "storage": self.storage(),
        }

    def heartbeat(self) -> dict[str, Any]:
        processed = self.pipeline.events_processed
        count, at = self._events_mark
        now = self.clock.monotonic()
        if now - at >= RATE_WINDOW_S:
            self._rate = (processed - count) / (now - at)
            self._events_mark = (processed, now)
        protected = self.board.protected()
        return {
            "uptimeS": round(self.lifecycle.uptime()),
            "eventsPerS": round(self._rate, 1),
            "protected": protected,
            "notProtected": len(self.board) - protected,
            "ruleErrors": self.engine.rule_errors(),
            "malformedEvents": self.pipeline.malformed,
            "hubs": {login.name: login.hub_states() for login in self.logins()},
        }

    # ----- queries ------------------------------------------------------------------------------
    async def history(self, op: str, data: dict[str, Any]) -> dict[str, Any]:
        if self.persist is None:
            return {"items": [], "more": False}
        try:
            return await self.persist.history(op, data)
        except QueryError as exc:
            raise LocalApiError("bad_request", str(exc)) from None
        except OverflowError:  # a date filter at the edge of the calendar (e.g. the day before 0001-01-01)
            raise LocalApiError("bad_request", "a date or number in 'data' is out of range") from None
        except sqlite3.DatabaseError as exc:  # corruption: the store is replacing the file right now
            raise LocalApiError("internal", f"history is unavailable for a moment ({exc}); try again") from None

    # ----- admin --------------------------------------------------------------------------------
    async def reload_config(self, actor: dict[str, Any]) -> dict[str, Any]:
        result = await self.reloader.reload()
        self.notifier.publish(
            StatusChanged(at=self.clock.now(), status=self.status() | {"configLoadedAt": iso(self.clock.now())})
        )
        return result

    async def unlock(self, data: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
        engine = self.engine
        account_id = data.get("accountId")
        if not isinstance(account_id, int) or account_id not in engine.account_ids():
            raise LocalApiError("not_found", f"account {account_id} is not monitored")
        records = engine.lockouts(account_id)
        if data.get("all"):
            chosen = records
        elif data.get("lockoutId") is not None:
            chosen = [r for r in records if str(r.id) == str(data["lockoutId"])]
        else:
            chosen = [r for r in records if r.rule == data.get("ruleId")]
        if not chosen:
            raise LocalApiError("not_found", "no matching active lockout")
        reason = str(data.get("reason"))
        who = actor.get("osUser") or "admin-session"
        done: asyncio.Future[tuple[list[str], bool]] = asyncio.get_running_loop().create_future()

        def remove() -> list[Action]:
            now = self.clock.now()
            out: list[Action] = []
            for record in chosen:
                action = engine.admin_unlock(
                    account_id, record.id, now, f"admin unlock by {who}: {reason}", actor=str(who)
                )
                if action is not None:
                    out.append(action)
            still = any(engine.condition_holds(account_id, r.rule, now) for r in chosen)
            done.set_result(([a.lockout.id for a in out if a.lockout is not None], still))
            return out

        self.pipeline.control(remove, "unlock")
        cleared, still = await done
        return {"cleared": cleared, "conditionStillTrue": still}

    async def audit(
        self,
        action: str,
        outcome: str,
        actor: dict[str, Any],
        target: str | None = None,
        reason: str | None = None,
    ) -> None:
        if self.persist is not None:
            await self.persist.audit(action, outcome, actor, target, reason)

    def admin_hash_path(self) -> Path:
        return self.config_dir / "admin_password.hash"

    async def load_auth_failures(self) -> tuple[int, Any]:
        if self.persist is None:
            return 0, None
        return await self.persist.auth_failures()

    async def save_auth_failures(self, failures: int, locked_until: Any) -> None:
        if self.persist is not None:
            await self.persist.save_auth_failures(failures, locked_until)
