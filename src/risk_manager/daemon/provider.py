"""The daemon's answers to the local API (snapshot, status, history, reload, unlock)."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from risk_manager import __version__
from risk_manager.config.loader import ConfigError, load_config
from risk_manager.daemon import protection as P
from risk_manager.daemon.api_protocol import ApiError, ConfigInvalidError
from risk_manager.daemon.app_reload import diff_configs
from risk_manager.daemon.views import account_view
from risk_manager.engine import Action
from risk_manager.engine.actions import iso

if TYPE_CHECKING:
    from risk_manager.daemon.app import Daemon

PROTOCOL = 1


class DaemonProvider:
    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon
        self._events_mark = (0, datetime.now(UTC))
        self._rate = 0.0

    # ----- views --------------------------------------------------------------------------------
    def _account(self, account_id: int, now: datetime) -> dict[str, Any]:
        d = self.d
        assert d.engine is not None
        acct = d.engine.state.accounts[account_id]
        prot = d.protection.get(account_id) or P.Protection(account_id, "-")
        recent = d.dispatch.recent.get(account_id, []) if d.dispatch else []
        return account_view(
            d.engine,
            acct,
            now,
            login=prot.login,
            protection=prot.state,
            connection=prot.connection(),
            enforcement=list(reversed(recent)),
            rules=d.feed.rules(account_id) if d.feed is not None else None,
        )

    def snapshot(self, account_id: int | None) -> dict[str, Any]:
        d = self.d
        assert d.engine is not None
        now = datetime.now(UTC)
        ids = d.engine.account_ids()
        if account_id is not None:
            if account_id not in ids:
                raise ApiError("not_found", f"account {account_id} is not monitored")
            ids = [account_id]
        return {
            "protocol": PROTOCOL,
            "version": __version__,
            "mode": d.options.mode,
            "pid": os.getpid(),
            "startedAt": iso(d.started_at),
            "state": d.state,
            "accounts": [self._account(i, now) for i in ids],
        }

    def status(self) -> dict[str, Any]:
        d = self.d
        protected = sum(1 for p in d.protection.values() if p.state == P.PROTECTED)
        return {
            "state": d.state,
            "version": __version__,
            "accounts": len(d.protection),
            "protected": protected,
            "notProtected": len(d.protection) - protected,
            "unprotected": [
                {"accountId": p.account_id, "protection": p.state, "reason": p.reason}
                for p in d.protection.values()
                if p.state != P.PROTECTED
            ],
            "logins": [b.describe() for b in d.logins.values()],
            "startedAt": iso(d.started_at),
        }

    def heartbeat(self) -> dict[str, Any]:
        d = self.d
        now = datetime.now(UTC)
        processed = d.pipeline.events_processed if d.pipeline else 0
        count, at = self._events_mark
        span = (now - at).total_seconds()
        if span >= 1:
            self._rate = (processed - count) / span
            self._events_mark = (processed, now)
        protected = sum(1 for p in d.protection.values() if p.state == P.PROTECTED)
        return {
            "uptimeS": round(d.uptime()),
            "eventsPerS": round(self._rate, 1),
            "protected": protected,
            "notProtected": len(d.protection) - protected,
            "hubs": {name: b.hub_states() for name, b in d.logins.items()},
        }

    # ----- queries ------------------------------------------------------------------------------
    async def history(self, op: str, data: dict[str, Any]) -> dict[str, Any]:
        if self.d.persist is None:
            return {"items": [], "more": False}
        return await self.d.persist.history(op, data)

    # ----- admin --------------------------------------------------------------------------------
    async def reload_config(self, actor: dict[str, Any]) -> dict[str, Any]:
        d = self.d
        try:
            new = await asyncio.to_thread(load_config, d.options.config_dir)
        except ConfigError as exc:
            await self.audit("reload_rejected_detail", "rejected", actor, reason=f"{len(exc.issues)} errors")
            raise ConfigInvalidError([i.to_dict() for i in exc.issues]) from None
        missing = new.missing_api_keys()
        if missing:
            raise ConfigInvalidError(
                [
                    {
                        "file": "secrets.yaml",
                        "path": f"api_keys.{m.user_name}",
                        "line": None,
                        "message": "no API key for this login",
                    }
                    for m in missing
                ]
            )
        assert d.config is not None
        changes, restart = diff_configs(d.config, new)
        done: asyncio.Future[list[Action]] = asyncio.get_running_loop().create_future()

        def swap() -> list[Action]:
            assert d.engine is not None
            d.config = new
            actions = d.engine.reload(new, datetime.now(UTC), observe_only=d.options.observe_only)
            done.set_result(actions)
            return actions

        assert d.pipeline is not None
        d.pipeline.control(swap, "reload")
        await done
        if d.api is not None:
            d.api.push("status", self.status() | {"configLoadedAt": iso(datetime.now(UTC))})
        return {"applied": True, "changes": changes, "restartRequired": restart}

    async def unlock(self, data: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
        d = self.d
        assert d.engine is not None and d.pipeline is not None
        account_id = data.get("accountId")
        if account_id not in d.engine.account_ids():
            raise ApiError("not_found", f"account {account_id} is not monitored")
        records = d.engine.lockouts(account_id)
        if data.get("all"):
            chosen = records
        elif data.get("lockoutId") is not None:
            chosen = [r for r in records if str(r.id) == str(data["lockoutId"])]
        else:
            chosen = [r for r in records if r.rule == data.get("ruleId")]
        if not chosen:
            raise ApiError("not_found", "no matching active lockout")
        reason = str(data.get("reason"))
        who = actor.get("osUser") or "admin-session"
        done: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()

        def remove() -> list[Action]:
            assert d.engine is not None
            out: list[Action] = []
            for record in chosen:
                action = d.engine.admin_unlock(
                    account_id, record.id, datetime.now(UTC), f"admin unlock by {who}: {reason}"
                )
                if action is not None:
                    out.append(action)
            done.set_result([a.lockout.id for a in out if a.lockout is not None])
            return out

        d.pipeline.control(remove, "unlock")
        cleared = await done
        still = any(r.rule in ("RULE-010",) for r in chosen)
        return {"cleared": cleared, "conditionStillTrue": still}

    async def audit(
        self,
        action: str,
        outcome: str,
        actor: dict[str, Any],
        target: str | None = None,
        reason: str | None = None,
    ) -> None:
        if self.d.persist is not None:
            await self.d.persist.audit(action, outcome, actor, target, reason)

    def admin_hash_path(self) -> Path:
        return self.d.options.config_dir / "admin_password.hash"

    async def load_auth_failures(self) -> tuple[int, datetime | None]:
        if self.d.persist is None:
            return 0, None
        return await self.d.persist.auth_failures()

    async def save_auth_failures(self, failures: int, locked_until: datetime | None) -> None:
        if self.d.persist is not None:
            await self.d.persist.save_auth_failures(failures, locked_until)
