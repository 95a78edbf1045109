"""What the Windows service does, without pywin32 (daemon.md §10.1), so it runs and is tested anywhere.

``windows_service.RiskManagerService`` (the pywin32 ``ServiceFramework``) only forwards to this:

- ``run`` (SvcDoRun): ``START_PENDING`` (wait hint 10 s, a new checkpoint every 2 s while starting),
  the daemon on its own thread with its own event loop (the same ``Daemon`` as ``risk-manager run``,
  mode ``service``), ``RUNNING`` at readiness (the daemon's ``DaemonStarted``), then wait for the end.
  A non-zero daemon exit code is reported as ``STOPPED`` with ``ERROR_SERVICE_SPECIFIC_ERROR`` and
  that code, and the process ends at once, so the SCM's recovery actions fire.
- ``stop`` (SvcStop, SvcShutdown): ``STOP_PENDING`` (wait hint 10 s, a checkpoint every second), the
  stop flag set through ``call_soon_threadsafe`` (the only way another thread touches the daemon),
  then wait for the graceful shutdown (at most 5 s, daemon.md §2.2).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from risk_manager.daemon.notify import DaemonStarted, Message, Sink
from risk_manager.daemon.options import DaemonOptions
from risk_manager.exit_codes import EXIT_OK, EXIT_RUNTIME
from risk_manager.service import win32_constants as W
from risk_manager.service.entry import report_crash
from risk_manager.service.layout import Layout

log = logging.getLogger("risk_manager.service")

START_WAIT_HINT_MS = 10_000
START_CHECKPOINT_S = 2.0
STOP_WAIT_HINT_MS = 10_000
STOP_CHECKPOINT_S = 1.0
STOP_LIMIT_S = 10.0


class StatusReporter(Protocol):
    """``ServiceFramework.ReportServiceStatus`` (it numbers the checkpoints of pending states)."""

    def __call__(
        self, state: int, *, wait_hint_ms: int = 0, win32_exit_code: int = 0, service_exit_code: int = 0
    ) -> None: ...


class ReadinessSink:
    """Sets a thread event when the daemon reports readiness (daemon.md §2.1 step 12)."""

    name = "service-readiness"

    def __init__(self, wake: threading.Event) -> None:
        self.ready = threading.Event()
        self._wake = wake

    def deliver(self, message: Message) -> None:
        if isinstance(message, DaemonStarted):
            self.ready.set()
            self._wake.set()


def options_from_argv(argv: list[str]) -> DaemonOptions:
    """The daemon's options from the registered command line (explicit directories, §8.1)."""
    parser = argparse.ArgumentParser(prog="risk_manager.service.windows_service", add_help=False)
    parser.add_argument("--config-dir", type=Path)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--log-dir", type=Path)
    args, _unknown = parser.parse_known_args(argv)
    default = Layout.for_service()
    return DaemonOptions(
        config_dir=(args.config_dir or default.config_dir).resolve(),
        data_dir=(args.data_dir or default.data_dir).resolve(),
        log_dir=(args.log_dir or default.log_dir).resolve(),
        mode="service",
        console_log=False,  # no console: the log files and the Event Log
    )


def _daemon_factory(options: DaemonOptions, sinks: Sequence[Sink]) -> Any:
    from risk_manager.daemon.app import Daemon

    return Daemon(options, sinks=sinks)


class ServiceHost:
    def __init__(
        self,
        options: DaemonOptions,
        report: StatusReporter,
        sinks: Sequence[Sink] = (),
        *,
        daemon_factory: Callable[[DaemonOptions, Sequence[Sink]], Any] = _daemon_factory,
        exit_process: Callable[[int], object] = os._exit,
    ) -> None:
        self.options = options
        self.report = report
        self.sinks = list(sinks)
        self._factory = daemon_factory
        self._exit = exit_process
        self._wake = threading.Event()  # readiness or the daemon's end, whichever comes first
        self._readiness = ReadinessSink(self._wake)
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._daemon: Any = None
        self._stop_reason: str | None = None
        self._final = False
        self.exit_code: int | None = None

    # ----- SvcDoRun ----------------------------------------------------------------------------------
    def run(self) -> int:
        self.report(W.SERVICE_START_PENDING, wait_hint_ms=START_WAIT_HINT_MS)
        thread = threading.Thread(target=self._daemon_thread, name="risk-manager-daemon", daemon=True)
        thread.start()
        while not self._done.is_set():
            if self._wake.wait(START_CHECKPOINT_S):
                break
            with self._lock:
                if self._stop_reason is None and not self._done.is_set():
                    self.report(W.SERVICE_START_PENDING, wait_hint_ms=START_WAIT_HINT_MS)
        with self._lock:
            if self._readiness.ready.is_set() and self._stop_reason is None and not self._done.is_set():
                self.report(W.SERVICE_RUNNING)
        self._done.wait()
        thread.join(timeout=5)
        with self._lock:
            self._final = True
        code = EXIT_RUNTIME if self.exit_code is None else self.exit_code
        if code != EXIT_OK:
            report_crash(self.sinks, code)
            self.report(
                W.SERVICE_STOPPED, win32_exit_code=W.ERROR_SERVICE_SPECIFIC_ERROR, service_exit_code=code
            )
            self._exit(code)
        return code

    def _daemon_thread(self) -> None:
        try:
            daemon = self._factory(self.options, [self._readiness, *self.sinks])

            async def main() -> int:
                with self._lock:
                    self._loop = asyncio.get_running_loop()
                    self._daemon = daemon
                    reason = self._stop_reason
                if reason is not None:
                    daemon.request_stop(reason)
                return int(await daemon.run())

            # As run_daemon: a short GIL switch interval keeps the loop's wake-ups prompt.
            sys.setswitchinterval(0.0005)
            self.exit_code = asyncio.run(main())
        except BaseException:  # noqa: BLE001 - whatever ends the daemon, the service must report it
            log.exception("the daemon failed")
            self.exit_code = EXIT_RUNTIME
        finally:
            self._done.set()
            self._wake.set()

    # ----- SvcStop / SvcShutdown ---------------------------------------------------------------------
    def stop(self, reason: str = "service stop") -> None:
        self.report(W.SERVICE_STOP_PENDING, wait_hint_ms=STOP_WAIT_HINT_MS)
        with self._lock:
            if self._stop_reason is None:
                self._stop_reason = reason
            loop, daemon = self._loop, self._daemon
        if loop is not None and daemon is not None:
            try:
                loop.call_soon_threadsafe(daemon.request_stop, reason)
            except RuntimeError:
                pass  # the loop already ended: the daemon is stopping or stopped
        deadline = time.monotonic() + STOP_LIMIT_S
        while not self._done.wait(STOP_CHECKPOINT_S) and time.monotonic() < deadline:
            with self._lock:
                if self._final:
                    break
                self.report(W.SERVICE_STOP_PENDING, wait_hint_ms=STOP_WAIT_HINT_MS)

    @property
    def ready(self) -> bool:
        return self._readiness.ready.is_set()
