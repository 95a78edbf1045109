"""The daemon: one process, one event loop, every configured account watched (daemon.md §1-§2).

``Daemon.run()`` is the single entry point behind ``risk-manager run``, the Windows service and the
systemd unit. It validates the configuration, opens the store, restores lockouts and today's P&L,
starts the local API, signs in every login, reconciles every account over REST (enforcing at once
what happened while nobody watched), then lets the pipeline run until a stop is requested.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any

from risk_manager import __version__
from risk_manager.config.loader import AppConfig, ConfigError, load_config
from risk_manager.daemon import protection as P
from risk_manager.daemon.broker_login import BrokerLogin
from risk_manager.daemon.dispatch import Dispatcher
from risk_manager.daemon.executor import Executor
from risk_manager.daemon.feed import DashboardFeed
from risk_manager.daemon.local_api import LocalApi, PortInUseError
from risk_manager.daemon.logs import LogSystem, setup_logging
from risk_manager.daemon.options import DaemonOptions
from risk_manager.daemon.persist import DatabaseError, Persistence
from risk_manager.daemon.pipeline import Pipeline
from risk_manager.daemon.provider import DaemonProvider
from risk_manager.daemon.urgency import Urgency
from risk_manager.engine import Engine
from risk_manager.engine.setup import account_settings
from risk_manager.exit_codes import (
    EXIT_DATABASE,
    EXIT_INTERRUPTED,
    EXIT_INVALID_CONFIG,
    EXIT_OK,
    EXIT_PORT_IN_USE,
    EXIT_RIGHTS,
    EXIT_RUNTIME,
)
from risk_manager.platform.filelock import AlreadyLockedError, InstanceLock

log = logging.getLogger("risk_manager.daemon.app")


class StartupError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def apply_observe_only(config: AppConfig, forced: bool) -> list[Any]:
    settings = account_settings(config)
    if forced:
        for s in settings:
            s.observe_only = True
    return settings


class Daemon:
    def __init__(self, options: DaemonOptions) -> None:
        self.options = options
        self.started_at = datetime.now(UTC)
        self.started_mono = time.monotonic()
        self.stop_requested = asyncio.Event()
        self.stop_reason = "stop requested"
        self.logs: LogSystem | None = None
        self.lock: InstanceLock | None = None
        self.config: AppConfig | None = None
        self.engine: Engine | None = None
        self.persist: Persistence | None = None
        self.api: LocalApi | None = None
        self.pipeline: Pipeline | None = None
        self.executor: Executor | None = None
        self.dispatch: Dispatcher | None = None
        self.feed: DashboardFeed | None = None
        self.logins: dict[str, BrokerLogin] = {}
        self.protection: dict[int, P.Protection] = {}
        self.account_login: dict[int, str] = {}
        self.state = "starting"
        self._tasks: list[asyncio.Task[Any]] = []
        self.ready = asyncio.Event()

    # ----- lifecycle --------------------------------------------------------------------------------
    async def run(self) -> int:
        try:
            await self._startup()
        except StartupError as exc:
            log.error("%s", exc)
            print(f"error: {exc}", file=sys.stderr, flush=True)
            if self.persist is not None:
                with contextlib.suppress(Exception):
                    await self.persist.close(clean=True)
            await self._close_partial()
            return exc.code
        except Exception:
            log.exception("daemon failed to start")
            await self._close_partial()
            return EXIT_RUNTIME
        try:
            await self.stop_requested.wait()
        finally:
            code = await self._shutdown()
        return code

    def request_stop(self, reason: str = "stop requested") -> None:
        self.stop_reason = reason
        self.stop_requested.set()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        names = ["SIGINT", "SIGTERM", "SIGBREAK"]
        for name in names:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                loop.add_signal_handler(sig, self.request_stop, name)
            except (NotImplementedError, RuntimeError):  # Windows: fall back to signal.signal
                signal.signal(sig, lambda *_, n=name: loop.call_soon_threadsafe(self.request_stop, n))

    async def _startup(self) -> None:
        o = self.options
        try:
            self.logs = setup_logging(o.log_dir, debug=o.debug, console=o.console_log)
        except OSError as exc:
            raise StartupError(EXIT_RUNTIME, f"cannot create the log directory {o.log_dir}: {exc}") from None
        log.info(
            "risk-manager %s starting (mode %s, pid %d, config %s, data %s, logs %s)",
            __version__,
            o.mode,
            os.getpid(),
            o.config_dir,
            o.data_dir,
            o.log_dir,
        )
        self._install_signals()
        self.lock = InstanceLock(o.data_dir / "daemon.lock")
        try:
            self.lock.acquire()
        except AlreadyLockedError as exc:
            self.lock = None
            raise StartupError(EXIT_RIGHTS, str(exc)) from None
        try:
            config = await asyncio.to_thread(load_config, o.config_dir)
        except ConfigError as exc:
            lines = "\n".join(f"  {issue}" for issue in exc.issues)
            raise StartupError(
                EXIT_INVALID_CONFIG, f"invalid configuration in {o.config_dir}:\n{lines}"
            ) from None
        missing = config.missing_api_keys()
        if missing:
            names = ", ".join(login.user_name for login in missing)
            raise StartupError(
                EXIT_INVALID_CONFIG, f"no API key for {names} (secrets.yaml or RISK_MANAGER_API_KEY)"
            )
        self.config = config
        for key in config.secrets.values() if hasattr(config.secrets, "values") else []:
            assert self.logs is not None
            self.logs.redactor.add(key)
        if o.observe_only:
            log.warning("--observe-only: no broker call will be made for any account in this run")
        try:
            self.persist = await Persistence.open(o.data_dir)
        except DatabaseError as exc:
            raise StartupError(EXIT_DATABASE, str(exc)) from None
        self.engine = Engine(apply_observe_only(config, o.observe_only))
        now = datetime.now(UTC)
        summary = await self.persist.restore(self.engine, now)
        log.info(
            "restored %d lockouts and %d of today's trades for %d accounts",
            summary.lockouts,
            summary.trades,
            summary.accounts,
        )
        if summary.unfinished:
            # Re-derived, not replayed: the first reconcile re-evaluates every account and issues
            # only what is still needed (daemon.md §2.3).
            log.warning(
                "%d enforcement actions were unfinished at the last stop; re-checking them",
                summary.unfinished,
            )
        for login, account in config.account_configs():
            if account.enabled:
                self.protection[account.id] = P.Protection(account.id, login.user_name)
                self.account_login[account.id] = login.name
        urgency = Urgency()
        self.executor = Executor(self._ops_for, on_update=self._on_work_update, urgency=urgency)
        self.dispatch = Dispatcher(self)
        self.feed = DashboardFeed(self)
        self.pipeline = Pipeline(
            self.engine, self.dispatch.on_actions, self.feed.wrap(self.dispatch.on_applied), urgency=urgency
        )
        self._tasks.append(asyncio.create_task(self.pipeline.run(), name="pipeline"))
        # Missed resets and expired lockouts first (step 7).
        self.pipeline.tick()
        provider = DaemonProvider(self)
        api = config.daemon.api
        port = o.api_port if o.api_port is not None else api.port
        self.api = LocalApi(api.host, port, provider, version=__version__, mode=o.mode)
        try:
            await self.api.start()
        except PortInUseError as exc:
            self.api = None
            raise StartupError(EXIT_PORT_IN_USE, str(exc)) from None
        log.info("local API listening on ws://%s:%d", api.host, self.api.port)
        await self._start_logins(config)
        self._tasks.append(asyncio.create_task(self._scheduler(), name="scheduler"))
        self.state = "running"
        self.api.push("status", provider.status())
        protected = sum(1 for p in self.protection.values() if p.state == P.PROTECTED)
        line = (
            f"Risk manager running - {protected} of {len(self.protection)} accounts protected - "
            f"local API ws://{api.host}:{self.api.port}"
        )
        log.info(line)
        if o.console_log:
            print(line, flush=True)
        self.ready.set()

    async def _start_logins(self, config: AppConfig) -> None:
        urls = config.accounts.gateway.urls()
        for login, account in config.account_configs():
            if not account.enabled:
                continue
            broker = self.logins.get(login.name)
            if broker is None:
                key = config.api_key(login.user_name)
                assert key is not None
                broker = BrokerLogin(self, login.name, login.user_name, key, urls, config.daemon.broker)
                self.logins[login.name] = broker
            broker.account_ids.append(account.id)
        first = [asyncio.create_task(b.start(), name=f"login-{name}") for name, b in self.logins.items()]
        if first:
            await asyncio.wait(first, timeout=30)

    async def _scheduler(self) -> None:
        assert self.pipeline is not None and self.persist is not None
        interval = self.options.tick_seconds
        next_tick = time.monotonic()
        beats = 0
        while True:
            next_tick += interval
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
            self.pipeline.tick()
            beats += 1
            if beats % 5 == 0:
                self.persist.heartbeat()

    def _ops_for(self, account_id: int) -> Any:
        login = self.account_login.get(account_id)
        broker = self.logins.get(login) if login else None
        return broker.ops if broker is not None else None

    def _on_work_update(self, item: Any) -> Any:
        assert self.dispatch is not None
        return self.dispatch.on_work_update(item)

    async def _shutdown(self) -> int:
        started = time.monotonic()
        log.info("Stopping (%s)", self.stop_reason)
        self.state = "stopping"
        if self.api is not None:
            with contextlib.suppress(Exception):
                self.api.push("status", {"state": "stopping", "version": __version__})
        if self.pipeline is not None:
            self.pipeline.stop()
        if self.executor is not None:
            left = await self.executor.drain(3.0)
            for item in left:
                log.warning(
                    "enforcement interrupted by shutdown: %s",
                    item.action.action,
                    extra={"acct": item.account_id},
                )
        await asyncio.gather(*(b.stop() for b in self.logins.values()), return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.api is not None:
            with contextlib.suppress(Exception):
                await self.api.stop()
        if self.persist is not None:
            with contextlib.suppress(Exception):
                await self.persist.close(clean=True)
        log.info("Stopped cleanly in %.1f s", time.monotonic() - started)
        await self._close_partial(logs_too=True)
        return EXIT_OK

    async def _close_partial(self, logs_too: bool = True) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        if logs_too and self.logs is not None:
            self.logs.stop()
            self.logs = None

    # ----- helpers for collaborators --------------------------------------------------------------------
    def uptime(self) -> float:
        return time.monotonic() - self.started_mono


def run_daemon(options: DaemonOptions) -> int:
    """Synchronous entry point: runs the daemon to completion and returns its exit code."""
    daemon = Daemon(options)
    # The event loop shares the GIL with the store's writer thread and the log writer. With the
    # default 5 ms switch interval a wake-up of the loop can wait that long for the GIL while one of
    # them runs; 0.5 ms bounds that wait (enforcement latency, bench/latency.py).
    sys.setswitchinterval(0.0005)
    try:
        return asyncio.run(daemon.run())
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
