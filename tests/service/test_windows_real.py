"""The real Windows service (daemon.md §10.1, §7.3): install, auto start and recovery settings, start,
Event Log entries, crash restart by the SCM, stop, uninstall. Windows only, as administrator (the
GitHub Actions windows-latest runner); skipped elsewhere. The service runs this checkout's daemon
against the simulator, with its directories in a temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "win32", reason="the real Windows service needs Windows")

USERS = {"wintrader": ("key-wintrader-01", [9501, 9502])}


def _is_admin() -> bool:
    from risk_manager.platform.permissions import is_administrator

    return is_administrator()


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[object, object, Path]]:
    if not _is_admin():
        pytest.skip("needs an elevated (administrator) session")
    from risk_manager.service.command import windows_command
    from risk_manager.service.installer import Installer
    from risk_manager.service.layout import Layout
    from risk_manager.service.windows_access import WindowsAccess
    from risk_manager.service.windows_scm import WindowsServiceManager
    from tests.e2e.harness import Simulator
    from tests.e2e.rulesets import users_file

    from .helpers import free_port, write_service_config

    base = Path(tempfile.mkdtemp(prefix="rm-winsvc-"))
    users = base / "users.json"
    users.write_text(json.dumps(users_file(USERS)), encoding="utf-8")
    sim = Simulator(users)
    layout = Layout(base / "config", base / "data", base / "logs")
    write_service_config(layout.config_dir, sim.urls, USERS, api_port=free_port())
    installer = Installer(layout, WindowsServiceManager(layout), WindowsAccess(), command=windows_command)
    try:
        yield installer, sim, base
    finally:
        installer.uninstall()
        sim.close()
        shutil.rmtree(base, ignore_errors=True)


def application_events(since: int) -> list[int]:
    import win32evtlog

    handle = win32evtlog.OpenEventLog(None, "Application")
    ids: list[int] = []
    try:
        flags = win32evtlog.EVENTLOG_FORWARDS_READ | win32evtlog.EVENTLOG_SEQUENTIAL_READ
        while True:
            records = win32evtlog.ReadEventLog(handle, flags, 0)
            if not records:
                break
            ids += [r.EventID & 0xFFFF for r in records if r.SourceName == "RiskManager" and r.RecordNumber >= since]
    finally:
        win32evtlog.CloseEventLog(handle)
    return ids


def next_record() -> int:
    import win32evtlog

    handle = win32evtlog.OpenEventLog(None, "Application")
    try:
        return int(win32evtlog.GetOldestEventLogRecord(handle)) + int(win32evtlog.GetNumberOfEventLogRecords(handle))
    finally:
        win32evtlog.CloseEventLog(handle)


def wait_for(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_real_service_lifecycle(service: tuple[object, object, Path]) -> None:
    import win32service

    from risk_manager.service.installer import Installer
    from risk_manager.service.names import SERVICE_NAME

    installer = service[0]
    assert isinstance(installer, Installer)
    first_record = next_record()
    outcome = installer.install()
    assert outcome.exit_code == 0, "\n".join(outcome.lines)
    assert outcome.message.endswith("running — 2 accounts protected.")

    # Auto start (delayed) and the recovery settings, read back from the SCM itself.
    scm = win32service.OpenSCManager(None, None, win32service.SC_MANAGER_CONNECT)
    handle = win32service.OpenService(scm, SERVICE_NAME, win32service.SERVICE_QUERY_CONFIG)
    try:
        assert win32service.QueryServiceConfig(handle)[1] == win32service.SERVICE_AUTO_START
        assert win32service.QueryServiceConfig2(handle, win32service.SERVICE_CONFIG_DELAYED_AUTO_START_INFO)
        actions = win32service.QueryServiceConfig2(handle, win32service.SERVICE_CONFIG_FAILURE_ACTIONS)
        assert actions["ResetPeriod"] == 86400
        assert [delay for _kind, delay in actions["Actions"]] == [10000, 30000, 60000]
        assert win32service.QueryServiceConfig2(handle, win32service.SERVICE_CONFIG_FAILURE_ACTIONS_FLAG)
    finally:
        win32service.CloseServiceHandle(handle)
        win32service.CloseServiceHandle(scm)

    status = installer.status()
    assert (status.state, status.start_type) == ("running", "delayed-auto")
    assert status.daemon is not None and status.daemon["protected"] == 2
    wait_for(lambda: 1000 in application_events(first_record), 30, "Event Log 1000 (started)")

    # A crash (the process killed): the SCM restarts it after 10 s.
    old_pid = status.pid
    assert old_pid
    os.kill(old_pid, signal.SIGTERM)  # TerminateProcess: no clean stop reported
    restarted = wait_for(
        lambda: (s := installer.status()).state == "running" and s.pid not in (None, old_pid) and s.daemon and s,
        60,
        "the SCM's recovery restart",
    )
    assert restarted.daemon["protected"] == 2

    stopped = installer.stop()
    assert stopped.message == "✓ Service stopped. Accounts are NOT protected."
    wait_for(lambda: 1001 in application_events(first_record), 30, "Event Log 1001 (stopped)")

    removed = installer.uninstall()
    assert removed.exit_code == 0
    assert installer.status().state == "not_installed"
