"""The service-side notification sinks, fed every daemon message directly (daemon.md §7.3, §10.2):
Windows Event Log ids (recording writer), journal records (a real datagram socket, and the stderr
fallback), and the systemd notify protocol (a real datagram socket, abstract names too)."""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from risk_manager.daemon import notify as N
from risk_manager.daemon.notify import Message
from risk_manager.service.entry import report_crash
from risk_manager.service.eventlog import EventLogSink
from risk_manager.service.events import MESSAGE_ID_PREFIX, to_event
from risk_manager.service.journal import JournalSink, NativeJournal, StderrJournal
from risk_manager.service.sd_notify import (
    SystemdNotifySink,
    notify_sink_from_env,
    socket_address,
    watchdog_interval,
)

from .recording import RecordingEventLog

AT = datetime(2025, 11, 20, 15, 4, 9, tzinfo=UTC)
CONN = {"userHub": "down", "marketHub": "down"}


def all_messages() -> list[tuple[Message, int | None]]:
    """One of every message the daemon publishes, with the event id it must produce (None: none)."""
    lock_view = {"lockoutId": 88, "until": "2025-11-20T23:00:00Z"}
    return [
        (N.DaemonStarted(at=AT, version="1.0", mode="service", accounts=3, protected=3, api_url="ws://127.0.0.1:8765"), 1000),
        (N.DaemonStopping(at=AT, reason="SIGTERM"), None),
        (N.DaemonStopped(at=AT, reason="SIGTERM", duration_s=1.8), 1001),
        (N.DaemonCrashed(at=AT, summary="ValueError: boom"), 1002),
        (N.RepeatedFailures(at=AT, unclean_ends=3), 1003),
        (N.StatusChanged(at=AT, status={"state": "running", "accounts": 3, "protected": 2}), None),
        (N.ProtectionChanged(at=AT, account_id=12345, login="t@x", state="disconnected", previous="protected",
                             reason="user hub silent for 30 s", not_protected=True, protected_again=False,
                             gap_s=None, connection=CONN, protected=2, total=3), 1010),
        (N.ProtectionChanged(at=AT, account_id=12345, login="t@x", state="protected", previous="disconnected",
                             reason="reconnected", not_protected=False, protected_again=True, gap_s=12.0,
                             connection=CONN, protected=3, total=3), 1011),
        (N.ProtectionChanged(at=AT, account_id=12345, login="t@x", state="reconciling", previous="disconnected",
                             reason="", not_protected=False, protected_again=False, gap_s=None,
                             connection=CONN, protected=2, total=3), None),
        (N.SignInRejected(at=AT, login="t@x", user_name="t@x", reason="invalid API key"), 1012),
        (N.LockoutSet(at=AT, account_id=12345, rule="RULE-003", reason="realized -512.40 < -500.00",
                      view=lock_view, record={}), 1020),
        (N.LockoutCleared(at=AT, account_id=12345, rule="RULE-003", cleared_by="admin", reason="reviewed",
                          view={}, record={}), 1021),
        (N.EnforcementChanged(at=AT, account_id=12345, rule="RULE-001", state="failed", final=True,
                              entry={"action": "close_all", "reason": "position still open"}, record={},
                              failed=True), 1030),
        (N.EnforcementChanged(at=AT, account_id=12345, rule="RULE-001", state="done", final=True,
                              entry={"action": "close_all"}, record={}), None),
        (N.RuleWarning(at=AT, account_id=12345, rule="RULE-003", message="at 82%"), None),
        (N.ConfigReloaded(at=AT, changes=("rules.RULE-003.limit",), restart_required=()), 1042),
        (N.ReloadRejected(at=AT, errors=({"file": "risk_config.yaml", "path": "x", "message": "bad"},)), 1040),
        (N.StorageDegraded(at=AT, reason="disk full"), 1040),
        (N.StorageRecovered(at=AT), 1041),
        (N.DatabaseReplaced(at=AT, moved_to="risk.db.corrupt.20251120T150409Z"), 1040),
        (N.DashboardUpdate(at=AT, account_id=12345, type="position", data={"size": 1}), None),
    ]


def test_every_message_type_is_covered() -> None:
    covered = {type(m) for m, _ in all_messages()}
    published = {getattr(N, name) for name in N.__all__} & set(Message.__subclasses__())
    assert published <= covered, published - covered


def test_event_table() -> None:
    for message, event_id in all_messages():
        event = to_event(message)
        assert (event.event_id if event else None) == event_id, type(message).__name__
    levels = {e.event_id: e.level for m, _ in all_messages() if (e := to_event(m))}
    assert levels[1010] == "warning" and levels[1012] == "error" and levels[1011] == "information"
    not_protected = to_event(all_messages()[6][0])
    assert not_protected is not None
    assert "12345" in not_protected.text and "NOT PROTECTED" in not_protected.text and "2 of 3" in not_protected.text


async def deliver_all(sink: N.QueuedSink, messages: list[Message]) -> None:
    await sink.start()
    for message in messages:
        sink.deliver(message)
    await sink.aclose()


async def test_event_log_sink_writes_the_section_7_3_ids() -> None:
    log = RecordingEventLog()
    sink = EventLogSink(log)
    messages = [m for m, _ in all_messages()]
    await deliver_all(sink, messages)
    assert log.ids == [i for _, i in all_messages() if i is not None]
    assert sink.crash_reported
    lockout = next(e for e in log.events if e.event_id == 1020)
    assert "RULE-003" in lockout.text and "2025-11-20T23:00:00Z" in lockout.text and lockout.level == "warning"


UNIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="unix datagram sockets (journal, systemd)")


@pytest.fixture
def dgram(tmp_path: Path) -> Iterator[tuple[socket.socket, Path]]:
    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(5)
    yield server, path
    server.close()


def parse_native(data: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode()
            i = nl + 1
        else:
            (size,) = struct.unpack("<Q", data[nl + 1 : nl + 9])
            fields[line.decode()] = data[nl + 9 : nl + 9 + size].decode()
            i = nl + 9 + size + 1
    return fields


@UNIX_ONLY
async def test_journal_sink_speaks_the_native_protocol(dgram: tuple[socket.socket, Path]) -> None:
    server, path = dgram
    expected = sum(1 for _, i in all_messages() if i) + 1
    received: list[bytes] = []
    # A reader like journald's, concurrent with the sink (a unix datagram queue holds few messages).
    reader = threading.Thread(target=lambda: received.extend(server.recv(65536) for _ in range(expected)))
    reader.start()
    sink = JournalSink(NativeJournal(path))
    crash = N.DaemonCrashed(at=AT, summary="Traceback line 1\nline 2")
    await sink.start()
    for message in [m for m, _ in all_messages()] + [crash]:
        sink.deliver(message)
    await asyncio.to_thread(reader.join, 10)
    await sink.aclose()
    records = [parse_native(data) for data in received]
    ids = [int(r["RISK_MANAGER_EVENT_ID"]) for r in records]
    assert ids == [i for _, i in all_messages() if i is not None] + [1002]
    not_protected = records[ids.index(1010)]
    assert not_protected["MESSAGE_ID"] == MESSAGE_ID_PREFIX + "03f2"
    assert not_protected["PRIORITY"] == "4"
    assert not_protected["SYSLOG_IDENTIFIER"] == "risk-manager"
    assert not_protected["RISK_MANAGER_ACCOUNT"] == "12345"
    assert records[-1]["MESSAGE"].endswith("line 1\nline 2. See error.log.")  # binary field form
    assert records[-1]["PRIORITY"] == "3"


async def test_journal_falls_back_to_priority_prefixed_stderr_lines() -> None:
    lines: list[str] = []
    sink = JournalSink(StderrJournal(lines.append))
    await deliver_all(sink, [m for m, _ in all_messages()][:8])
    assert lines[0].startswith("<6>risk-manager[1000]: Risk manager 1.0 started")
    assert lines[4].startswith("<4>risk-manager[1010]: Account 12345: NOT PROTECTED")
    assert all(line.endswith("\n") for line in lines)


def test_crash_is_reported_once_when_the_daemon_did_not() -> None:
    log = RecordingEventLog()
    sink = EventLogSink(log)
    report_crash([sink], 0)
    report_crash([sink], 130)
    assert log.ids == []
    report_crash([sink], 2)
    assert log.ids == [1002] and "exit code 2" in log.events[0].text
    sink.crash_reported = True
    report_crash([sink], 1)
    assert log.ids == [1002]


def recv_all(server: socket.socket, until: float = 0.3) -> list[str]:
    out = []
    server.settimeout(until)
    try:
        while True:
            out.append(server.recv(4096).decode())
    except TimeoutError:
        return out


@UNIX_ONLY
async def test_notify_sink_ready_status_stopping(dgram: tuple[socket.socket, Path]) -> None:
    server, path = dgram
    sink = SystemdNotifySink(str(path), watchdog_s=3600)
    messages = [m for m, _ in all_messages()]
    started, stopping, stopped, status = messages[0], messages[1], messages[2], messages[5]
    sink.deliver(started)
    sink.deliver(status)  # 2/3 from the daemon's status payload (it names nobody)
    sink.deliver(messages[6])  # NOT PROTECTED: 2/3 again, now with the account and its reason
    sink.deliver(messages[6])  # the same again: not repeated
    sink.deliver(messages[7])  # protected again: 3/3
    sink.deliver(messages[15])  # ConfigReloaded: nothing
    sink.deliver(N.StorageDegraded(at=AT, reason="disk full"))
    sink.deliver(N.StorageRecovered(at=AT))
    sink.deliver(stopping)
    sink.deliver(stopped)
    assert recv_all(server) == [
        "READY=1\nSTATUS=3/3 accounts protected",
        "STATUS=2/3 accounts protected",
        "STATUS=2/3 accounts protected; NOT PROTECTED 12345: user hub silent for 30 s",
        "STATUS=3/3 accounts protected",
        "STATUS=3/3 accounts protected; storage degraded: disk full",
        "STATUS=3/3 accounts protected",
        "STOPPING=1\nSTATUS=Stopping (SIGTERM)",
    ]


@UNIX_ONLY
async def test_notify_status_names_at_most_two_accounts_with_short_reasons(
    dgram: tuple[socket.socket, Path],
) -> None:
    server, path = dgram
    sink = SystemdNotifySink(str(path), watchdog_s=3600)
    long_reason = "NOT PROTECTED - broker state could not be reconciled after 5 tries (HTTP 500)"
    sink.deliver(
        N.StatusChanged(
            at=AT,
            status={
                "state": "running",
                "accounts": 4,
                "protected": 1,
                "unprotected": [
                    {"accountId": 7103, "protection": "disconnected", "reason": "user hub silent for 30 s"},
                    {"accountId": 7102, "protection": "reconcile_failed", "reason": long_reason},
                    {"accountId": 7104, "protection": "reconciling", "reason": ""},
                ],
                "storage": {"state": "degraded", "reason": "database or disk is full"},
            },
        )
    )
    (line,) = recv_all(server)
    assert line == (
        "STATUS=1/4 accounts protected; NOT PROTECTED 7102: NOT PROTECTED - broker state could not …, "
        "7103: user hub silent for 30 s, +1 more; storage degraded: database or disk is full"
    )
    await sink.aclose()


@UNIX_ONLY
async def test_watchdog_pings_come_from_the_loop_and_stop_with_it(dgram: tuple[socket.socket, Path]) -> None:
    server, path = dgram
    sink = SystemdNotifySink(str(path), watchdog_s=0.05)
    await sink.start()
    pings = []
    deadline = time.monotonic() + 5
    while len(pings) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
        pings += [m for m in recv_all(server, 0.001) if m == "WATCHDOG=1"]
    assert len(pings) >= 3
    # A blocked loop sends nothing: that is what lets systemd kill a hung daemon.
    recv_all(server, 0.01)
    time.sleep(0.3)  # blocks the event loop on purpose (the behaviour under test)
    before_unblock = recv_all(server, 0.01)
    assert before_unblock == []
    await sink.aclose()
    await asyncio.sleep(0.15)
    assert recv_all(server, 0.05) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux only")
async def test_abstract_notify_socket() -> None:
    name = f"rm-test-{uuid.uuid4().hex}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(b"\0" + name.encode())
    try:
        sink = notify_sink_from_env({"NOTIFY_SOCKET": f"@{name}"})
        assert sink is not None
        sink.deliver(all_messages()[0][0])
        assert recv_all(server) == ["READY=1\nSTATUS=3/3 accounts protected"]
        await sink.aclose()
    finally:
        server.close()
    assert socket_address("@x") == b"\0x" and socket_address("/run/x") == "/run/x"


def test_watchdog_interval_and_env() -> None:
    assert notify_sink_from_env({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}, 7) == 10.0  # spec: every 10 s
    assert watchdog_interval({"WATCHDOG_USEC": "4000000"}, 7) == 2.0  # half of a shorter WatchdogSec
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "8"}, 7) == 10.0  # not for us
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "7"}, 7) == 2.0
