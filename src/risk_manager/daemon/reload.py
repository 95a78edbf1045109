"""Hot reload (spec/daemon.md §8.3): the new configuration is read and validated off the loop; a
valid one is swapped in between two pipeline events and every account is evaluated at once; an
invalid one leaves the old in force and the caller gets every error (file, key, line)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from risk_manager.config.diff import diff_configs
from risk_manager.config.loader import AppConfig, ConfigError, load_config
from risk_manager.daemon.api.protocol import ConfigInvalidError
from risk_manager.daemon.clock import Clock
from risk_manager.daemon.notify import ConfigReloaded, Notifier, ReloadRejected
from risk_manager.daemon.pipeline import Pipeline
from risk_manager.engine import Action, Engine


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
    ) -> None:
        self._config_dir = config_dir
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
        changes, restart = diff_configs(self.config, new)
        done: asyncio.Future[list[Action]] = asyncio.get_running_loop().create_future()

        def swap() -> list[Action]:
            self.config = new
            actions = self._engine.reload(new, self._clock.now(), observe_only=self._observe_only)
            done.set_result(actions)
            return actions

        self._pipeline.control(swap, "reload")
        await done
        self._notifier.publish(
            ConfigReloaded(at=self._clock.now(), changes=tuple(changes), restart_required=tuple(restart))
        )
        return {"applied": True, "changes": changes, "restartRequired": restart}
