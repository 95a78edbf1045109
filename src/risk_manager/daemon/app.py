"""The daemon: one process, one event loop, every configured account watched (spec/daemon.md §1-§2).

``Daemon.run()`` is the single entry point behind ``risk-manager run``, the Windows service and the
systemd unit. It validates the configuration, opens the store, restores lockouts and today's P&L,
starts the local API, signs in every login, reconciles every account over REST (enforcing at once
what happened while nobody watched), then lets the pipeline run until a stop is requested.

This module only wires the parts together; each part receives the collaborators it uses, never the
daemon itself (``docs/architecture.md`` draws the result).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Sequence
from typing import Any

from risk_manager import __version__, latency_trace
from risk_manager.api_address import publish as publish_api_url
from risk_manager.broker_ops import BrokerOps
from risk_manager.config.loader import AppConfig, ConfigError, load_config
from risk_manager.daemon import runtime
from risk_manager.daemon.api.connection import PortInUseError
from risk_manager.daemon.api.protocol import LocalApiError
from risk_manager.daemon.api.provider import DaemonProvider
from risk_manager.daemon.api.push_sink import ApiPushSink
from risk_manager.daemon.api.recent import RecentEnforcement
from risk_manager.daemon.api.server import LocalApi
from risk_manager.daemon.broker.contracts import ContractCatalog
from risk_manager.daemon.broker.logins import Logins
from risk_manager.daemon.broker.protection import ProtectionBoard
from risk_manager.daemon.clock import SYSTEM_CLOCK, Clock
from risk_manager.daemon.dispatch import Dispatcher
from risk_manager.daemon.enforcement.executor import Executor
from risk_manager.daemon.enforcement.recovery import Recovery
from risk_manager.daemon.enforcement.urgency import Urgency
from risk_manager.daemon.feed import DashboardFeed
from risk_manager.daemon.lifecycle import Lifecycle, RunState
from risk_manager.daemon.logs.files import LogSystem, setup_logging
from risk_manager.daemon.logs.sinks import EnforcementJournal, LogSink
from risk_manager.daemon.notify import (
    DaemonStarted,
    DaemonStopped,
    DaemonStopping,
    Notifier,
    RepeatedFailures,
    Sink,
    StatusChanged,
)
from risk_manager.daemon.notify.channels import AlertChannels
from risk_manager.daemon.options import DaemonOptions
from risk_manager.daemon.persist.persistence import DatabaseError, Persistence
from risk_manager.daemon.pipeline import Pipeline
from risk_manager.daemon.reload import ConfigReloader
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
from risk_manager.platform.console_close import on_console_close
from risk_manager.platform.file_modes import apply_modes, restrict_backup, set_umask, umask_for
from risk_manager.platform.filelock import AlreadyLockedError, InstanceLock
from risk_manager.platform.permissions import secret_file_problem
from risk_manager.security.admin_token import token_path

log = logging.getLogger("risk_manager.daemon.app")

SECRET_FILES = ("secrets.yaml", "admin_password.hash")
LOGIN_WAIT_S = 30.0  # start-up waits this long for the first sign-ins before saying "running"
DRAIN_S = 3.0  # in-flight enforcement gets this long at shutdown
# The rest of a stop is bounded too: a part that hangs is named in the log and left behind, so the
# process still ends (the service manager waits only so long) and the database is still closed.
STOP_LOGINS_S = 2.0
STOP_TASKS_S = 0.5
STOP_API_S = 1.0
HEARTBEAT_EVERY_TICKS = 5  # the store's heartbeat every 5 ticks of 1 s


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



async def _bounded(what: str, step: Awaitable[Any], timeout: float) -> None:
    """One step of the shutdown, given ``timeout`` seconds; ``asyncio.wait`` (not ``wait_for``), so a
    part that ignores its cancellation cannot hold the stop either."""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        log.warning("shutdown: %s did not finish within %.1f s; going on without it", what, timeout)
    elif not task.cancelled() and task.exception() is not None:
        log.error("shutdown: %s failed", what, exc_info=task.exception())

class Daemon:
    def __init__(
        self, options: DaemonOptions, *, clock: Clock = SYSTEM_CLOCK, sinks: Sequence[Sink] = ()
    ) -> None:
        self.options = options
        self.clock = clock
        self.lifecycle = Lifecycle(clock, options.mode)
        #: every announcement (pushes, enforcement.jsonl, alerts, service sinks) goes through here
        self.notifier = Notifier()
        self.notifier.subscribe(EnforcementJournal())
        self.notifier.subscribe(LogSink())
        self.recent = RecentEnforcement()
        self.notifier.subscribe(self.recent)
        for sink in sinks:
            self.notifier.subscribe(sink)
        self.board = ProtectionBoard(self.notifier, clock)
        self.notifier.subscribe(self.board)  # storage health shows in every connection view
        self.stop_requested = asyncio.Event()
        self.stop_reason = "stop requested"
        self.logs: LogSystem | None = None
        self.lock: InstanceLock | None = None
        self.engine: Engine | None = None
        self.persist: Persistence | None = None
        self.api: LocalApi | None = None
        self.pipeline: Pipeline | None = None
        self.executor: Executor | None = None
        self.dispatch: Dispatcher | None = None
        self.reloader: ConfigReloader | None = None
        self.catalog: ContractCatalog | None = None
        self.logins: Logins | None = None
        self.recovery: Recovery | None = None
        self.feed: DashboardFeed | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._provider: DaemonProvider | None = None
        self._signal_reload: asyncio.Task[None] | None = None
        self.channels = AlertChannels(self.notifier, self._learn_secret)
        self._previous_umask: int | None = None
        self._stopped = threading.Event()  # set when shutdown is complete (a closing console waits)
        self.ready = asyncio.Event()
        #: the process is the daemon's own (``run_daemon``): its collector is settled once running
        #: (``runtime.settle_gc``); a daemon hosted in-process by a test leaves the host's alone
        self.owns_process = False

    @property
    def config(self) -> AppConfig | None:
        return self.reloader.config if self.reloader is not None else None

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
        if threading.current_thread() is not threading.main_thread():
            # Hosted on a service thread (Windows SvcDoRun): signals only reach the main thread;
            # the service host stops the daemon through request_stop (spec/daemon.md §1).
            return
        loop = asyncio.get_running_loop()
        for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                loop.add_signal_handler(sig, self.request_stop, name)
            except (NotImplementedError, RuntimeError):  # Windows: fall back to signal.signal
                signal.signal(sig, lambda *_, n=name: loop.call_soon_threadsafe(self.request_stop, n))
        hup = getattr(signal, "SIGHUP", None)
        if hup is not None:  # POSIX: SIGHUP reloads the configuration (systemd's ExecReload)
            loop.add_signal_handler(hup, self._reload_on_signal)
        def closed() -> None:
            loop.call_soon_threadsafe(self.request_stop, "console closed")

        on_console_close(closed, self._stopped)

    def _reload_on_signal(self) -> None:
        """SIGHUP: reload as the authenticated command would (spec/daemon.md §8.3); only root and the
        service account can signal the daemon. Reloads already running absorb further signals."""
        if self._provider is None or (self._signal_reload is not None and not self._signal_reload.done()):
            return
        self._signal_reload = asyncio.get_running_loop().create_task(self._signal_reload_task(), name="sighup")

    async def _signal_reload_task(self) -> None:
        assert self._provider is not None
        actor = {"osUser": "SIGHUP", "peer": "signal", "session": False}
        try:
            result = await self._provider.reload_config(actor)
        except LocalApiError as exc:
            log.warning("reload on SIGHUP rejected: %s", exc.message)
            await self._provider.audit("reload_rejected", exc.code, actor, target="config", reason=exc.message)
            return
        except Exception:
            log.exception("reload on SIGHUP failed")
            await self._provider.audit("reload_rejected", "error", actor, target="config")
            return
        log.info("configuration reloaded on SIGHUP: %d change(s)", len(result.get("changes", [])))
        await self._provider.audit("config_reloaded", "ok", actor, target="config")

    async def _startup(self) -> None:
        o = self.options
        if o.set_umask:
            self._previous_umask = set_umask(umask_for(o.mode))
        if o.handle_signals:
            self._install_signals()  # first: a stop is honoured at any point of start-up
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
        if latency_trace.TRACE is not None:
            log.warning("latency tracing is on (%s): stamps are kept in memory", latency_trace.ENV)
        self.lock = InstanceLock(o.data_dir / "daemon.lock")
        try:
            self.lock.acquire()
        except AlreadyLockedError as exc:
            self.lock = None
            raise StartupError(EXIT_RIGHTS, str(exc)) from None
        config = await self._load_config()
        await self.notifier.start()
        await self.channels.apply(config.daemon.notifications)
        if o.observe_only:
            log.warning("--observe-only: no broker call will be made for any account in this run")
        try:
            self.persist = await Persistence.open(o.data_dir, clock=self.clock.now, notifier=self.notifier)
        except DatabaseError as exc:
            raise StartupError(EXIT_DATABASE, str(exc)) from None
        if o.set_umask:
            written = [*o.data_dir.glob("risk.db*"), *o.log_dir.glob("*")]
            apply_modes(written, umask_for(o.mode))
            for backup in [o.data_dir / "backups", *o.data_dir.glob("backups/*")]:
                restrict_backup(backup)
        if self.persist.previous_run.repeated_failures:
            self.notifier.publish(
                RepeatedFailures(at=self.clock.now(), unclean_ends=self.persist.previous_run.unclean_ends_last_hour)
            )
        engine = self.engine = Engine(apply_observe_only(config, o.observe_only))
        summary = await self.persist.restore(engine, self.clock.now())
        if summary.unfinished:
            # Re-derived, not replayed: the first reconcile re-evaluates every account and issues
            # only what is still needed (spec/daemon.md §2.3).
            log.warning(
                "%d enforcement actions were unfinished at the last stop; re-checking them",
                summary.unfinished,
            )
        for login, account in config.account_configs():
            if account.enabled:
                self.board.add(account.id, login.user_name)
        self._build_pipeline(engine, config)
        self._prepare_recovery(engine)
        await self._start_api(config)
        await self._start_logins(config)
        assert self.pipeline is not None and self.persist is not None
        self._tasks.append(asyncio.create_task(self._scheduler(self.pipeline, self.persist), name="scheduler"))
        if not self.stop_requested.is_set():
            self._announce_running(config)
            if self.owns_process:
                log.info("garbage collector settled after start-up: %s", runtime.settle_gc())

    async def _load_config(self) -> AppConfig:
        o = self.options
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
        self._refuse_readable_secrets()
        assert self.logs is not None
        for key in config.secrets.values():
            self.logs.redactor.add(key)
        return config

    def _refuse_readable_secrets(self) -> None:
        """spec/daemon.md §8.2: a ``secrets.yaml`` or ``admin_password.hash`` other users can read
        stops the start (exit 2, the fix in the message). A user's own config (console mode) must be
        owner-only; an installed service's may be read by the service group."""
        o = self.options
        console = o.mode == "console"
        # An installed service reads them through its group: the group the daemon itself runs with
        # (its name may live in an installation's own group database, e.g. one staged under a root).
        own_gid = os.getgid() if hasattr(os, "getgid") and not console else None
        for name in SECRET_FILES:
            path = o.config_dir / name
            problem = secret_file_problem(
                path,
                owner_only=console,
                service_gid=own_gid,
                fix=None if console else "run: risk-manager service install --repair-permissions",
            )
            if problem:
                raise StartupError(EXIT_INVALID_CONFIG, f"{path} {problem}")

    def _build_pipeline(self, engine: Engine, config: AppConfig) -> None:
        clock, notifier = self.clock, self.notifier
        urgency = Urgency()
        self.executor = Executor(self._ops_for, urgency=urgency, clock=clock)
        pipeline = self.pipeline = Pipeline(engine, self._on_actions, self._on_applied, urgency=urgency, clock=clock.now)
        self.dispatch = Dispatcher(
            engine,
            self.executor,
            self.persist,
            notifier,
            self.board,
            clock,
            defer=pipeline.later,
            on_contract_seen=self._contract_seen,
        )
        self.executor.set_update_hook(self.dispatch.on_work_update)
        self.feed = DashboardFeed(engine, notifier, clock, defer=pipeline.later, store=self.persist)
        self.catalog = ContractCatalog(engine, pipeline, self.persist, clock)
        self.reloader = ConfigReloader(
            self.options.config_dir,
            config,
            engine,
            pipeline,
            notifier,
            clock,
            observe_only=self.options.observe_only,
            apply=self._apply_config,
            audit=self.persist.audit if self.persist is not None else None,
        )
        self._tasks.append(asyncio.create_task(pipeline.run(), name="pipeline"))
        pipeline.tick()  # missed resets and expired lockouts first (spec/daemon.md §2.1 step 7)

    async def _start_api(self, config: AppConfig) -> None:
        assert self.engine is not None and self.pipeline is not None and self.reloader is not None
        provider = DaemonProvider(
            lifecycle=self.lifecycle,
            engine=self.engine,
            board=self.board,
            recent=self.recent,
            pipeline=self.pipeline,
            persist=self.persist,
            reloader=self.reloader,
            notifier=self.notifier,
            clock=self.clock,
            logins=lambda: list(self.logins or ()),
            config_dir=self.options.config_dir,
            rules=self.feed.rules if self.feed is not None else None,
        )
        self._provider = provider
        self.notifier.subscribe(provider)  # a fresh ``status`` push when storage health changes
        api = config.daemon.api
        port = self.options.api_port if self.options.api_port is not None else api.port
        self.api = LocalApi(
            api.host,
            port,
            provider,
            version=__version__,
            mode=self.options.mode,
            admin_token_path=token_path(self.options.data_dir),
            clock=self.clock.now,
            monotonic=self.clock.monotonic,
        )
        try:
            await self.api.start()
        except PortInUseError as exc:
            self.api = None
            raise StartupError(EXIT_PORT_IN_USE, str(exc)) from None
        self.notifier.subscribe(ApiPushSink(self.api, __version__))
        log.info("local API listening on ws://%s:%d", api.host, self.api.port)
        host = f"[{api.host}]" if ":" in api.host else api.host
        publish_api_url(self.options.data_dir, f"ws://{host}:{self.api.port}")

    def _prepare_recovery(self, engine: Engine) -> None:
        """Unfinished records of the last run, resumed per account once it is reconciled (§2.3)."""
        assert self.executor is not None and self.persist is not None
        self.recovery = Recovery(
            self.executor,
            self.persist.unfinished,
            lambda acct: acct in engine.state.accounts and engine.account(acct).settings.observe_only,
        )
        orphans = [a for a in self.recovery.accounts if a not in self.board]
        if orphans:
            log.warning(
                "unfinished enforcement records of accounts no longer monitored are left as they are: %s",
                ", ".join(str(a) for a in orphans),
            )

    async def _start_logins(self, config: AppConfig) -> None:
        assert self.pipeline is not None and self.engine is not None and self.catalog is not None
        self.logins = Logins(
            self.pipeline, self.engine, self.board, self.catalog, self.notifier, self.clock, self._reconciled
        )
        self.logins.build(config)
        # The first sign-ins are waited for (up to 30 s), but never past a stop request: with the
        # broker unreachable, SIGTERM must still end the daemon within the 5 s shutdown budget.
        starting = asyncio.ensure_future(self.logins.start(LOGIN_WAIT_S))
        stopping = asyncio.ensure_future(self.stop_requested.wait())
        try:
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not starting.done():
                starting.cancel()  # the logins go on retrying in their own tasks until the stop
            await asyncio.gather(starting, stopping, return_exceptions=True)

    def _announce_running(self, config: AppConfig) -> None:
        assert self.api is not None and self._provider is not None
        api = config.daemon.api
        self.lifecycle.state = RunState.RUNNING
        self.notifier.publish(StatusChanged(at=self.clock.now(), status=self._provider.status()))
        protected = self.board.protected()
        line = (
            f"Risk manager running - {protected} of {len(self.board)} accounts protected - "
            f"local API ws://{api.host}:{self.api.port}"
        )
        log.info(line)
        if self.options.console_log:
            print(line, flush=True)
        self.notifier.publish(
            DaemonStarted(
                at=self.clock.now(),
                version=__version__,
                mode=self.options.mode,
                accounts=len(self.board),
                protected=protected,
                api_url=f"ws://{api.host}:{self.api.port}",
            )
        )
        self.ready.set()

    async def _scheduler(self, pipeline: Pipeline, persist: Persistence) -> None:
        interval = self.options.tick_seconds
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        beats = 0
        while True:
            next_tick += interval
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            pipeline.tick()
            beats += 1
            if beats % HEARTBEAT_EVERY_TICKS == 0:
                persist.heartbeat()

    async def _apply_config(self, old: AppConfig, new: AppConfig, added: list[int], removed: list[int]) -> None:
        """After a reload swapped the engine's configuration: everything it reported as applied
        takes effect (spec/daemon.md §8.3) - new and removed accounts, logins and keys, the log
        redaction, the alert channels (webhook and Apprise URLs added, removed or changed)."""
        assert self.logs is not None and self.engine is not None and self.logins is not None
        for key in new.secrets.values():
            self.logs.redactor.add(key)
        for account_id in removed:
            self.board.remove(account_id)
            self.recent.forget(account_id)
        logins = {account.id: login for login, account in new.account_configs()}
        for account_id in added:
            self.board.add(account_id, logins[account_id].user_name)
        if added and self.persist is not None:
            await self.persist.restore_accounts(self.engine, added, self.clock.now())
        await self.logins.apply(new)
        await self.channels.apply(new.daemon.notifications)

    def _learn_secret(self, secret: str) -> None:
        """A notification URL's token or password: redacted from every log line from now on."""
        if self.logs is not None:
            self.logs.redactor.add(secret)

    # ----- routing between parts ---------------------------------------------------------------------
    def _on_actions(self, actions: list[Any], event: Any) -> None:
        assert self.dispatch is not None
        self.dispatch.on_actions(actions, event)

    def _on_applied(self, event: Any) -> None:
        assert self.dispatch is not None and self.feed is not None
        self.dispatch.on_applied(event)
        try:
            self.feed.on_event(event)
        except Exception:
            log.exception("dashboard feed failed on %s", event.name)

    def _ops_for(self, account_id: int) -> BrokerOps | None:
        return self.logins.ops_for(account_id) if self.logins is not None else None

    def _contract_seen(self, contract_id: str, account_id: int) -> None:
        if self.logins is not None:
            self.logins.contract_seen(contract_id, account_id)

    def _reconciled(self, account_id: int, snapshot: dict[str, Any]) -> None:
        """After a reconcile: the executor learns the broker's positions, dashboards the P&L; once
        the reconcile's own decisions are dispatched (the next pipeline step), the fills it caught
        up on are stored and the account's unfinished records of the last run are resumed."""
        assert self.executor is not None and self.engine is not None and self.dispatch is not None
        for pos in snapshot["positions"]:
            cid = pos.get("contractId")
            if isinstance(cid, str):
                self.executor.on_position(account_id, cid, int(pos.get("size") or 0))
        acct = self.engine.state.accounts.get(account_id)
        if acct is not None:
            self.dispatch.account_changed(acct)
        caught_up = list(snapshot.get("caught_up") or [])
        assert self.pipeline is not None
        self.pipeline.control(lambda: self._after_reconcile(account_id, caught_up), name=f"caught up {account_id}")

    def _after_reconcile(self, account_id: int, caught_up: list[Any]) -> list[Any]:
        # Queued after the reconcile's lockouts: a crash can never leave a stored fill whose lockout
        # was not stored (the fill would not be judged again at the next start). And after the
        # trade rows of the fills decided before it (deferred bookkeeping, run now): the streak it
        # stores with the caught-up fills counts those too (engine/rule_state.py).
        assert self.dispatch is not None and self.engine is not None and self.pipeline is not None
        acct = self.engine.state.accounts.get(account_id)
        if acct is not None and caught_up:
            self.pipeline.run_deferred()
            self.dispatch.trades_caught_up(acct, caught_up)
        if self.recovery is not None:
            self.recovery.account_reconciled(account_id)
        return []

    # ----- shutdown ---------------------------------------------------------------------------------------
    async def _shutdown(self) -> int:
        started = self.clock.monotonic()
        log.info("Stopping (%s)", self.stop_reason)
        self.lifecycle.state = RunState.STOPPING
        self.notifier.publish(DaemonStopping(at=self.clock.now(), reason=self.stop_reason))
        if self.pipeline is not None:
            self.pipeline.stop()
        if self.executor is not None:
            left = await self.executor.drain(DRAIN_S)
            for item in left:
                log.warning(
                    "enforcement interrupted by shutdown: %s", item.action.kind, extra={"acct": item.account_id}
                )
        if self.logins is not None:
            await _bounded("stopping the broker sessions", self.logins.stop(), STOP_LOGINS_S)
        for task in self._tasks:
            task.cancel()
        await _bounded("the daemon's tasks", asyncio.gather(*self._tasks, return_exceptions=True), STOP_TASKS_S)
        if self.api is not None:
            await _bounded("stopping the local API", self.api.stop(), STOP_API_S)
        if self.persist is not None:
            with contextlib.suppress(Exception):
                await self.persist.close(clean=True)
        log.info("Stopped cleanly in %.1f s", self.clock.monotonic() - started)
        self.notifier.publish(
            DaemonStopped(at=self.clock.now(), reason=self.stop_reason, duration_s=self.lifecycle.uptime())
        )
        await self.notifier.aclose()
        await self._close_partial(logs_too=True)
        self._stopped.set()
        return EXIT_OK

    async def _close_partial(self, logs_too: bool = True) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        if logs_too and self.logs is not None:
            self.logs.stop()
            self.logs = None
        if self._previous_umask is not None:
            set_umask(self._previous_umask)
            self._previous_umask = None

    def uptime(self) -> float:
        return self.lifecycle.uptime()


def run_daemon(options: DaemonOptions, sinks: Sequence[Sink] = (), clock: Clock = SYSTEM_CLOCK) -> int:
    """Synchronous entry point: runs the daemon to completion and returns its exit code.

    ``sinks`` are extra notification sinks (the service layer's Event Log / journal / systemd notify)."""
    daemon = Daemon(options, clock=clock, sinks=sinks)
    daemon.owns_process = True
    runtime.tune_process()
    tracer = latency_trace.from_env()
    try:
        return asyncio.run(daemon.run())
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        if tracer is not None:
            latency_trace.disable()
            with contextlib.suppress(OSError):
                tracer.dump()
