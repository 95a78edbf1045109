"""``risk-manager run --service``: the daemon with the service-side sinks (Linux systemd, and a
Windows service run by hand for debugging).

The daemon itself is the same entry point as the console's (``run_daemon``); only the sinks differ:
journal records and the systemd notify protocol on Linux, the Event Log on Windows. When the daemon
ends with an error without having reported a crash itself, one "daemon crashed" event (1002) is
written here, so a failing service always leaves a trace where administrators look.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from risk_manager.daemon.notify import Sink
from risk_manager.daemon.options import DaemonOptions
from risk_manager.exit_codes import EXIT_INTERRUPTED, EXIT_OK
from risk_manager.service.events import CRASHED, ERROR, ServiceEvent


def crash_event(code: int) -> ServiceEvent:
    return ServiceEvent(
        CRASHED, ERROR, f"Risk manager ended with exit code {code} at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC. "
        "See error.log and daemon.log in the log directory."
    )


def service_sinks(platform: str | None = None) -> list[Sink]:
    platform = platform or sys.platform
    if platform == "win32":  # pragma: no cover - Windows
        from risk_manager.service.eventlog import EventLogSink, Win32EventLog

        return [EventLogSink(Win32EventLog())]
    from risk_manager.service.journal import JournalSink
    from risk_manager.service.sd_notify import notify_sink_from_env

    sinks: list[Sink] = [JournalSink()]
    notify = notify_sink_from_env()
    if notify is not None:
        sinks.append(notify)
    return sinks


def report_crash(sinks: Sequence[Sink], code: int) -> None:
    """Write 1002 through the first sink that can, unless a crash was already reported."""
    if code in (EXIT_OK, EXIT_INTERRUPTED):
        return
    writers = [s for s in sinks if hasattr(s, "write_now")]
    if not writers or any(getattr(s, "crash_reported", False) for s in writers):
        return
    try:
        writers[0].write_now(crash_event(code))
    except OSError:
        pass


def run_service(options: DaemonOptions) -> int:
    from risk_manager.daemon.app import run_daemon

    if hasattr(signal, "SIGHUP"):
        # systemd's ExecReload sends SIGHUP, which the daemon turns into a reload once its loop runs.
        # Until then (imports, start-up) a SIGHUP must not end the process: the default action would,
        # and Restart=on-failure treats a SIGHUP death as clean, so the service would stay down.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sinks = service_sinks()
    code = run_daemon(options, sinks=sinks)
    report_crash(sinks, code)
    return code
