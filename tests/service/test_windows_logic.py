"""The Windows service logic on Linux (daemon.md §10.1, §10.3, §7.3), through the recording seams:
the SCM (``RecordingScm``), ACLs (``RecordingAcl``), the Event Log (``RecordingEventLog``) and
``ReportServiceStatus`` (``RecordingReporter``). The daemon behind them is the real one, on its own
thread as in the Windows service, against the real simulator. The real SCM is exercised by
``test_windows_real.py`` on the Windows CI job.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from risk_manager.daemon.options import DaemonOptions
from risk_manager.service import win32_constants as W
from risk_manager.service.command import windows_command
from risk_manager.service.eventlog import EventLogSink
from risk_manager.service.installer import Installer
from risk_manager.service.layout import Layout
from risk_manager.service.probe import ask_daemon
from risk_manager.service.windows_access import (
    CONFIG_DIR_SDDL,
    CONFIG_FILE_SDDL,
    INHERIT_SDDL,
    SHARED_DIR_SDDL,
    WindowsAccess,
)
from risk_manager.service.windows_scm import SERVICE_SDDL, WindowsServiceManager, split_command_line
from risk_manager.service.winsvc_host import ServiceHost, options_from_argv
from tests.e2e.harness import Simulator
from tests.e2e.rulesets import users_file

from .helpers import free_port, write_service_config
from .recording import FakeService, RecordingAcl, RecordingEventLog, RecordingReporter, RecordingScm

USERS = {"winuser": ("key-win-0001", [9301, 9302])}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    users = tmp_path_factory.mktemp("winsim") / "users.json"
    users.write_text(json.dumps(users_file(USERS)), encoding="utf-8")
    simulator = Simulator(users)
    yield simulator
    simulator.close()


@pytest.fixture(autouse=True)
def keep_switch_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def wait_reports(reporter: RecordingReporter, predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    with reporter.changed:
        while not predicate(reporter.reports):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; reports {reporter.reports}")
            reporter.changed.wait(left)


def options(tmp: Path, config: Path) -> DaemonOptions:
    return DaemonOptions(config, tmp / "data", tmp / "logs", mode="service", console_log=False)


def test_svc_do_run_and_svc_stop_state_sequence(sim: Simulator, tmp_path: Path) -> None:
    port = free_port()
    config = write_service_config(tmp_path / "config", sim.urls, USERS, api_port=port)
    # Protection takes > 2 s, so START_PENDING must be renewed with a new checkpoint meanwhile.
    sim.control("POST", "/faults", {"kind": "latency", "target": "rest", "path": "/api/Position/searchOpen",
                                    "ms": 2500, "duration_s": 60})
    reporter, log, exits = RecordingReporter(), RecordingEventLog(), []
    host = ServiceHost(options(tmp_path, config), reporter, [EventLogSink(log)], exit_process=exits.append)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(host.run()))  # the SCM's service thread
    runner.start()
    try:
        wait_reports(reporter, lambda r: any(s == W.SERVICE_RUNNING for s, *_ in r), 30, "RUNNING")
        answer = ask_daemon(f"ws://127.0.0.1:{port}", 5)
        assert answer is not None and [a["protection"] for a in answer.accounts] == ["protected"] * 2
        starting = [r for r in reporter.reports if r[0] == W.SERVICE_START_PENDING]
        assert len(starting) >= 2  # first report, then a checkpoint every 2 s
        assert [cp for _, cp, *_ in starting] == list(range(1, len(starting) + 1))
        assert all(hint == 10_000 for _, _, hint, *_ in starting)
        stop_started = time.monotonic()
        host.stop("service stop")  # the SCM's control thread: returns once the daemon has ended
        assert time.monotonic() - stop_started < 5.0
        runner.join(10)
        assert result == [0] and exits == []
        assert reporter.states() == [W.SERVICE_START_PENDING, W.SERVICE_RUNNING, W.SERVICE_STOP_PENDING]
        stopping = [r for r in reporter.reports if r[0] == W.SERVICE_STOP_PENDING]
        assert stopping[0][2] == 10_000
        # The framework reports STOPPED (exit 0) when SvcDoRun returns; the Event Log has both ends.
        assert log.ids == [1000, 1001]
        assert "2 of 2 accounts protected" in log.events[0].text
    finally:
        host.stop("test cleanup")
        runner.join(10)


def test_a_failing_daemon_stops_the_service_with_its_exit_code(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "accounts.yaml").write_text("version: 1\nlogins: nonsense\n")
    (config / "risk_config.yaml").write_text("version: 1\n")
    reporter, log, exits = RecordingReporter(), RecordingEventLog(), []
    host = ServiceHost(options(tmp_path, config), reporter, [EventLogSink(log)], exit_process=exits.append)
    assert host.run() == 2  # invalid configuration
    assert reporter.states() == [W.SERVICE_START_PENDING, W.SERVICE_STOPPED]
    assert reporter.reports[-1] == (W.SERVICE_STOPPED, 0, 0, W.ERROR_SERVICE_SPECIFIC_ERROR, 2)
    assert exits == [2]  # the process ends right there: the SCM's recovery actions fire
    assert log.ids == [1002] and "exit code 2" in log.events[0].text


class PlayedService:
    """What the SCM does when starting our service: run its registered command line, i.e. the
    ServiceHost with the options parsed from it, on a thread; SvcStop on another thread."""

    def __init__(self, scm: RecordingScm, log: RecordingEventLog) -> None:
        self.scm, self.log = scm, log
        self.hosts: list[ServiceHost] = []
        self.threads: list[threading.Thread] = []
        scm.on_start, scm.on_stop = self.start, self.stop

    def start(self, svc: FakeService) -> None:
        argv = split_command_line(svc.command_line)
        reporter = RecordingReporter(svc, self.scm.lock)

        def body() -> None:
            code = host.run()
            if code == 0:  # pywin32's service_main reports STOPPED after SvcDoRun returns
                reporter(W.SERVICE_STOPPED)

        host = ServiceHost(options_from_argv(argv[1:]), reporter, [EventLogSink(self.log)], exit_process=lambda c: None)
        self.hosts.append(host)
        thread = threading.Thread(target=body)
        self.threads.append(thread)
        thread.start()

    def stop(self, svc: FakeService) -> None:
        threading.Thread(target=self.hosts[-1].stop, args=("service stop",)).start()

    def close(self) -> None:
        for host in self.hosts:
            host.stop("test cleanup")
        for thread in self.threads:
            thread.join(10)


def test_installer_on_windows_through_the_recording_scm_and_acls(sim: Simulator, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "ProgramData" / "config", tmp_path / "ProgramData" / "data", tmp_path / "ProgramData" / "logs")
    write_service_config(layout.config_dir, sim.urls, USERS, api_port=free_port())
    scm, acl, log = RecordingScm(), RecordingAcl(), RecordingEventLog()
    played = PlayedService(scm, log)
    installer = Installer(layout, WindowsServiceManager(layout, scm), WindowsAccess(acl), command=windows_command)
    try:
        outcome = installer.install()
        assert outcome.exit_code == 0, outcome.lines
        assert outcome.message == "✓ Service RiskManager installed (auto-start) and running — 2 accounts protected."
        create = next(c for c in scm.calls if c[0] == "create_service")
        assert create[1:4] == ("RiskManager", "Risk Manager (TopstepX)", W.SERVICE_AUTO_START)
        argv = split_command_line(create[4])
        assert argv[argv.index("--config-dir") + 1] == str(layout.config_dir)
        assert argv[argv.index("--data-dir") + 1] == str(layout.data_dir)
        config2 = scm.config2_calls()
        assert config2[W.SERVICE_CONFIG_DELAYED_AUTO_START_INFO] is True
        assert config2[W.SERVICE_CONFIG_FAILURE_ACTIONS_FLAG] is True
        actions = config2[W.SERVICE_CONFIG_FAILURE_ACTIONS]
        assert actions["ResetPeriod"] == 86_400
        assert actions["Actions"] == [(W.SC_ACTION_RESTART, 10_000), (W.SC_ACTION_RESTART, 30_000), (W.SC_ACTION_RESTART, 60_000)]
        assert "Stopping it removes all protection" in config2[W.SERVICE_CONFIG_DESCRIPTION]
        assert scm.services["RiskManager"].sddl == SERVICE_SDDL and "(A;;LCLORC;;;IU)" in SERVICE_SDDL
        assert scm.event_sources == {"RiskManager"}
        assert acl.applied[layout.config_dir] == CONFIG_DIR_SDDL
        assert acl.applied[layout.secrets_path] == CONFIG_FILE_SDDL
        assert acl.applied[layout.admin_hash_path] == CONFIG_FILE_SDDL
        assert acl.applied[layout.data_dir] == SHARED_DIR_SDDL == acl.applied[layout.log_dir]
        assert acl.applied[layout.db_path] == INHERIT_SDDL

        status = installer.status()
        assert (status.installed, status.state, status.start_type, status.pid) == (True, "running", "delayed-auto", 4242)
        assert status.recovery == "restart after 10 s, 30 s, 60 s; failure count reset after 24 h"
        assert status.daemon is not None and status.daemon["protected"] == 2

        stopped = installer.stop()
        assert stopped.message == "✓ Service stopped. Accounts are NOT protected."
        assert installer.stop().message == "! Service is not running."
        assert log.ids == [1000, 1001]

        removed = installer.uninstall()
        assert removed.exit_code == 0 and removed.message.startswith("✓ Service removed. Config and data kept in ")
        assert "RiskManager" not in scm.services and scm.event_sources == set()
        assert installer.status().state == "not_installed"
    finally:
        played.close()


def test_windows_service_class_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    """windows_service.py itself, with stand-ins for the pywin32 modules (not importable on Linux)."""

    class ServiceFramework:
        def __init__(self, args: list[str]) -> None:
            self.reported: list[Any] = []

        def ReportServiceStatus(self, state: int, waitHint: int = 5000, win32ExitCode: int = 0, svcExitCode: int = 0) -> None:  # noqa: N802, N803
            self.reported.append((state, waitHint, win32ExitCode, svcExitCode))

        def SvcRun(self) -> None:  # noqa: N802 - pywin32 reports RUNNING here before SvcDoRun
            self.ReportServiceStatus(W.SERVICE_RUNNING)
            self.SvcDoRun()  # type: ignore[attr-defined]

    fake_util = types.ModuleType("win32serviceutil")
    fake_util.ServiceFramework = ServiceFramework  # type: ignore[attr-defined]
    fake_manager = types.ModuleType("servicemanager")
    fake_evt = types.ModuleType("win32evtlogutil")
    fake_evt.ReportEvent = lambda *a, **k: None  # type: ignore[attr-defined]
    for name, module in (("win32serviceutil", fake_util), ("servicemanager", fake_manager), ("win32evtlogutil", fake_evt)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "risk_manager.service.windows_service", raising=False)
    monkeypatch.setattr(sys, "argv", ["x", "--config-dir", "C:/cfg", "--data-dir", "C:/data", "--log-dir", "C:/logs"])
    from risk_manager.service import windows_service

    cls = windows_service.RiskManagerService
    assert (cls._svc_name_, cls._svc_display_name_) == ("RiskManager", "Risk Manager (TopstepX)")
    assert not hasattr(cls, "SvcPause") and not hasattr(cls, "SvcContinue")  # no pause/continue
    service = cls(["RiskManager"])
    assert service.host.options.mode == "service" and service.host.options.config_dir.name == "cfg"
    calls: list[str] = []
    monkeypatch.setattr(service.host, "run", lambda: calls.append("run") or 0)
    monkeypatch.setattr(service.host, "stop", lambda reason: calls.append(reason))
    service.SvcRun()
    service.SvcStop()
    service.SvcShutdown()
    assert calls == ["run", "service stop", "system shutdown"]
    assert service.reported == []  # no early RUNNING: the host reports it at readiness
    service.host.report(W.SERVICE_STOP_PENDING, wait_hint_ms=10_000)
    assert service.reported == [(W.SERVICE_STOP_PENDING, 10_000, 0, 0)]
