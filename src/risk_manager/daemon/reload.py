"""Hot reload (spec/daemon.md §8.3): the new configuration is read and validated off the loop; a
valid one is swapped in between two pipeline events and every account is evaluated at once; an
invalid one leaves the old in force and the caller gets every error (file, key, line).

With the settings lock on (docs/rules-extra.md §5) a configuration that would loosen a limit of an
account whose trading day has started is refused the same way (``config_invalid``, one error per
loosening key: "loosening is locked until <next reset>"), and the refusal is written to the audit
log with every loosening it found."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from risk_manager.config.diff import diff_configs
from risk_manager.config.loader import AppConfig, ConfigError, load_config
from risk_manager.config.settings_lock import settings_lock_issues
from risk_manager.daemon.api.protocol import ConfigInvalidError, LocalApiError
from risk_manager.daemon.clock import Clock
from risk_manager.daemon.notify import ConfigReloaded, Notifier, ReloadRejected
from risk_manager.daemon.pipeline import Pipeline
from risk_manager.engine import Action, Engine

log = logging.getLogger("risk_manager.daemon.app")

SWAP_TIMEOUT_S = 10.0  # a reload request never hangs: the swap waits for the pipeline this long at most
# What the daemon does after the engine has the new configuration: start and stop sessions, restore
# added accounts, teach the log redaction new keys (old config, new config, added ids, removed ids).
ApplyHook = Callable[[AppConfig, AppConfig, list[int], list[int]], Awaitable[None]]
# Persistence.audit: (action, outcome, actor, target, reason, *, before, after) -> commit awaitable
AuditHook = Callable[..., Awaitable[object]]


class ConfigReloader:
    def __init__(
        self,
        config_dir: Path,
        config: AppConfig,
        engine: Engine,
        pipeline: Pipeline,
        notifier: Notifier,
        clock: Clock,
        *,
        observe_only: bool = False,
        apply: ApplyHook | None = None,
        audit: AuditHook | None = None,
    ) -> None:
        self._config_dir = config_dir
        self._apply = apply
        self._audit = audit
        #: the configuration in force
        self.config = config
        self._engine = engine
        self._pipeline = pipeline
        self._notifier = notifier
        self._clock = clock
        self._observe_only = observe_only

    async def reload(self) -> dict[str, Any]:
        """``{applied, changes, restartRequired}``; raises ``ConfigInvalidError`` when invalid."""
        try:
            new = await asyncio.to_thread(load_config, self._config_dir)
        except ConfigError as exc:
            errors = [i.to_dict() for i in exc.issues]
            self._notifier.publish(ReloadRejected(at=self._clock.now(), errors=tuple(errors)))
            raise ConfigInvalidError(errors) from None
        missing = new.missing_api_keys()
        if missing:
            errors = [
                {
                    "file": "secrets.yaml",
                    "path": f"api_keys.{m.user_name}",
                    "line": None,
                    "message": "no API key for this login",
                }
                for m in missing
            ]
            self._notifier.publish(ReloadRejected(at=self._clock.now(), errors=tuple(errors)))
            raise ConfigInvalidError(errors)
        old = self.config
        await self._check_lock(old, new)
        changes, restart = diff_configs(old, new)
        before = set(self._engine.account_ids())
        await self._swap(new)
        after = set(self._engine.account_ids())
        added, removed = sorted(after - before), sorted(before - after)
        if self._apply is not None:
            try:
                await self._apply(old, new, added, removed)
            except Exception as exc:
                log.exception("the new configuration could not be applied; the previous one is restored")
                await self._swap(old)
                raise LocalApiError(
                    "internal", f"the new configuration could not be applied ({type(exc).__name__}); "
                    "the previous configuration stays in force"
                ) from None
        self._notifier.publish(
            ConfigReloaded(at=self._clock.now(), changes=tuple(changes), restart_required=tuple(restart))
        )
        result: dict[str, Any] = {"applied": True, "changes": changes, "restartRequired": restart}
        if new.pending_from is not None:
            result["scheduledFrom"] = new.pending_from.isoformat()  # pending rules take effect then
        return result

    def _filled_today(self, account_id: int) -> bool:
        acct = self._engine.state.accounts.get(account_id)
        return acct is not None and acct.session_trades > 0

    async def _check_lock(self, old: AppConfig, new: AppConfig) -> None:
        """The settings lock: refuse (and audit) a loosening before the next reset."""
        now = self._clock.now()
        issues = settings_lock_issues(old, new, now, self._filled_today)
        if not issues:
            return
        errors = [i.to_dict() for i in issues]
        self._notifier.publish(ReloadRejected(at=now, errors=tuple(errors)))
        if self._audit is not None:
            await self._audit(
                "settings_lock_refused",
                "config_invalid",
                None,
                "config",
                f"{len(errors)} loosening change(s) refused until the next reset",
                before=None,
                after=[f"{e['file']}:{e['line'] or '-'}: {e['path']}: {e['message']}" for e in errors],
            )
        n = len(errors)
        raise ConfigInvalidError(
            errors,
            message=(
                f"settings lock: {n} change{'s' * (n != 1)} would loosen a limit before the next reset; "
                "the previous configuration stays active"
            ),
        )

    async def _swap(self, config: AppConfig) -> None:
        """Give the engine ``config`` between two pipeline events (every account evaluated at once)."""
        done: asyncio.Future[list[Action]] = asyncio.get_running_loop().create_future()
        abandoned = False

        def swap() -> list[Action]:
            if abandoned:
                return []  # the caller was told it did not happen: it must not happen later
            self.config = config
            actions = self._engine.reload(config, self._clock.now(), observe_only=self._observe_only)
            if not done.done():
                done.set_result(actions)
            return actions

        self._pipeline.control(swap, "reload")
        try:
            await asyncio.wait_for(asyncio.shield(done), SWAP_TIMEOUT_S)
        except TimeoutError:
            abandoned = True
            raise LocalApiError(
                "busy", f"the daemon did not take the new configuration within {SWAP_TIMEOUT_S:.0f} s; try again"
            ) from None
