"""The systemd notify protocol end to end (daemon.md §10.2): ``risk-manager run --service`` against the
real simulator, with ``NOTIFY_SOCKET`` pointing at a datagram socket this test owns.

The simulator answers the reconcile's position query 1.5 s late, so there is a wide window in which
the accounts are not protected yet: READY=1 must not come inside it, and the watchdog must already
ping while the daemon starts.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from risk_manager.procs import daemon_command
from risk_manager.service.probe import ask_daemon
from tests.e2e.harness import Proc, Simulator
from tests.e2e.rulesets import users_file

from .helpers import free_port, write_service_config

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="systemd's notify protocol is Linux only")

USERS = {"alice": ("key-alice", [7101]), "bob": ("key-bob", [7102, 7103])}


class NotifyListener:
    """The systemd side: a datagram socket; every message with its arrival time."""

    def __init__(self, path: Path, api_url: str) -> None:
        self.path = path
        self.api_url = api_url
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self.changed = threading.Condition()
        self.on_ready: list[object] = []
        self._stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            text = data.decode()
            if text.startswith("READY=1"):
                # What systemd would see at this very moment: snapshot straight away.
                self.on_ready.append(self.snapshot_now())
            with self.changed:
                self.messages.append((time.monotonic(), text))
                self.changed.notify_all()

    def snapshot_now(self) -> object:
        answer = ask_daemon(self.api_url, 5.0)
        return answer.snapshot if answer else None

    def wait_for(self, predicate, timeout: float, what: str) -> list[tuple[float, str]]:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; got {[m for _, m in self.messages]}")
                self.changed.wait(left)
            return list(self.messages)

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    users = tmp_path / "users.json"
    users.write_text(json.dumps(users_file(USERS)), encoding="utf-8")
    simulator = Simulator(users)
    yield simulator
    simulator.close()


def test_ready_after_protection_watchdog_and_stopping(sim: Simulator, tmp_path: Path) -> None:
    port = free_port()
    config = write_service_config(tmp_path / "config", sim.urls, USERS)
    sim.control(
        "POST",
        "/faults",
        {"kind": "latency", "target": "rest", "path": "/api/Position/searchOpen", "ms": 1500, "duration_s": 60},
    )
    listener = NotifyListener(tmp_path / "notify.sock", f"ws://127.0.0.1:{port}")
    args = daemon_command(config, tmp_path, "--service")
    args[args.index("--api-port") + 1] = str(port)
    started = time.monotonic()
    daemon = Proc(args, env={"NOTIFY_SOCKET": str(listener.path), "WATCHDOG_USEC": "1000000"})
    try:
        messages = listener.wait_for(lambda ms: any(m.startswith("READY=1") for _, m in ms), 30, "READY=1")
        ready_at, ready = next((t, m) for t, m in messages if m.startswith("READY=1"))
        assert ready == "READY=1\nSTATUS=3/3 accounts protected"
        assert ready_at - started >= 1.5  # the slow reconcile was waited for
        before = [m for t, m in messages if t < ready_at]
        # While starting: watchdog pings and progress (STATUS=n/3 as accounts become protected); never
        # READY, and never STOPPING.
        assert "WATCHDOG=1" in before, before
        assert all(m == "WATCHDOG=1" or m.startswith("STATUS=") for m in before), before
        snapshot = listener.on_ready[0]
        assert isinstance(snapshot, dict), "the local API did not answer right after READY=1"
        assert [a["protection"] for a in snapshot["accounts"]] == ["protected"] * 3

        after_ready = lambda ms: sum(1 for t, m in ms if t > ready_at and m == "WATCHDOG=1") >= 3  # noqa: E731
        listener.wait_for(after_ready, 10, "three more WATCHDOG=1 after READY=1")

        assert daemon.terminate(timeout=15) == 0  # SIGTERM
        messages = listener.wait_for(lambda ms: any(m.startswith("STOPPING=1") for _, m in ms), 5, "STOPPING=1")
        stopping = [m for _, m in messages if m.startswith("STOPPING=1")]
        assert stopping == ["STOPPING=1\nSTATUS=Stopping (SIGTERM)"]
        # No journal socket on this machine: the same events as priority-prefixed stderr lines.
        stderr = "".join(daemon.stderr)
        assert re.search(r"^<6>risk-manager\[1000\]: Risk manager \S+ started \(service mode\): 3 of 3", stderr, re.M)
        assert re.search(r"^<6>risk-manager\[1001\]: Risk manager stopped \(SIGTERM\)", stderr, re.M)
    finally:
        daemon.kill()
        listener.close()
