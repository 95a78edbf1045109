"""The installed daemon run the way systemd runs the unit, without systemd.

``start`` reads the unit file the installer wrote and starts its ``ExecStart`` as ``User=``/``Group=``
(setpriv, no capabilities) with its ``UMask=``, on a notify socket, and waits for ``READY=1``:
exactly what ``systemctl start`` does for ``Type=notify``. ``stop`` is ``systemctl stop`` (SIGTERM),
``kill9`` is a crash.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from risk_manager.service.layout import Layout
from risk_manager.service.unit import exec_start, split_command
from tests.e2e.harness import Proc, wait_until
from tests.service.helpers import as_user


def service_ids(root: Path) -> tuple[int, int]:
    """uid and gid of the ``risk-manager`` account the installer created in the staging root."""
    for line in (root / "etc" / "passwd").read_text(encoding="utf-8").splitlines():
        parts = line.split(":")
        if parts[0] == "risk-manager":
            return int(parts[2]), int(parts[3])
    raise AssertionError("no risk-manager account in the staging root's passwd")


@dataclass
class Unit:
    argv: list[str]
    umask: int
    text: str

    @classmethod
    def read(cls, layout: Layout) -> Unit:
        text = layout.unit_path.read_text(encoding="utf-8")
        argv = split_command(exec_start(text) or "")
        umask = int(next(line for line in text.splitlines() if line.startswith("UMask="))[6:], 8)
        return cls(argv, umask, text)


@dataclass
class Running:
    proc: Proc
    pid: int
    spawned: float
    ready: float
    notify: list[str] = field(default_factory=list)

    @property
    def startup_s(self) -> float:
        return self.ready - self.spawned


def start(layout: Layout, *, timeout: float = 30) -> Running:
    """``systemctl start risk-manager``: the unit's ExecStart as its user, until READY=1."""
    assert layout.root is not None
    unit = Unit.read(layout)
    uid, gid = service_ids(layout.root)
    sock_path = layout.root / "run" / "notify.sock"
    sock_path.parent.mkdir(exist_ok=True)
    sock_path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    os.chmod(sock_path, 0o666)  # systemd's socket is writable by the service
    sock.settimeout(0.1)
    notify: list[str] = []
    previous = os.umask(unit.umask)  # inherited through setpriv: the unit's UMask=
    try:
        spawned = time.monotonic()
        proc = Proc(
            as_user(uid, gid, unit.argv),
            env={"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "30000000"},
            cwd=Path("/"),
        )
    finally:
        os.umask(previous)

    def ready() -> bool:
        try:
            notify.append(sock.recv(4096).decode())
        except TimeoutError:
            pass
        assert proc.running(), proc.tail()
        return any(m.startswith("READY=1") for m in notify)

    try:
        wait_until(ready, timeout, "READY=1 from the daemon started as the unit says", interval=0)
    finally:
        sock.close()
    return Running(proc, proc.p.pid, spawned, time.monotonic(), notify)


def stop(running: Running, timeout: float = 15) -> int:
    """``systemctl stop``: SIGTERM, then wait (``TimeoutStopSec=15``)."""
    running.proc.p.send_signal(signal.SIGTERM)
    return running.proc.p.wait(timeout)


def kill9(running: Running) -> int:
    os.kill(running.pid, signal.SIGKILL)
    return running.proc.p.wait(10)
