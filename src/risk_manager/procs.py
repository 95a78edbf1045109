"""Child processes whose output lines can be awaited: the demo's simulator and daemon, and the same
real processes in the end-to-end tests and the benchmarks.

Both children announce readiness with one stdout line (the simulator's JSON URLs, the daemon's
``local API ws://...``); waiting for that line with a deadline is the only synchronisation needed.
Reader threads collect the lines so a full pipe never blocks the child.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import MutableSequence
from pathlib import Path
from typing import IO

# The daemon's ready line names its local API; the simulator's is one JSON object (its URLs).
DAEMON_READY = re.compile(r"local API (ws://\S+)")


def sim_command(
    *, port: int = 0, users: Path | None = None, scenario: str | None = None, seed: int | None = None
) -> list[str]:
    """``risk-manager sim`` run by this interpreter."""
    args = [sys.executable, "-m", "risk_manager", "sim", "--port", str(port)]
    if users is not None:
        args += ["--users", str(users)]
    if scenario is not None:
        args += ["--scenario", scenario]
    if seed is not None:
        args += ["--seed", str(seed)]
    return args


def daemon_command(config_dir: Path, workdir: Path, *extra: str) -> list[str]:
    """``risk-manager run`` with its data and logs under ``workdir`` and the local API on any free port."""
    return [
        sys.executable,
        "-m",
        "risk_manager",
        "run",
        "--config-dir",
        str(config_dir),
        "--data-dir",
        str(workdir / "data"),
        "--log-dir",
        str(workdir / "logs"),
        "--api-port",
        "0",
        *extra,
    ]


# API keys in the parent's environment must never leak into a child that has its own config.
_SCRUBBED_ENV = ("RISK_MANAGER_API_KEY", "RISK_MANAGER_API_KEYS")


class ChildProcessFailed(RuntimeError):
    """The child exited, or did not print the awaited line in time (message includes its output tail)."""


def _pump(
    stream: IO[str], sink: queue.Queue[tuple[float, str] | None] | None, *keeps: MutableSequence[str]
) -> None:
    for line in stream:
        for keep in keeps:
            keep.append(line)
        if sink is not None:
            sink.put((time.perf_counter(), line))
    if sink is not None:
        sink.put(None)


class ChildProcess:
    """``args`` started with piped output; ``stderr_sink`` (e.g. a bounded deque) also gets stderr lines."""

    def __init__(
        self,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        stderr_sink: MutableSequence[str] | None = None,
    ) -> None:
        full_env = dict(os.environ)
        for name in _SCRUBBED_ENV:
            full_env.pop(name, None)
        full_env.update(env or {})
        self.args = args
        self.started = time.perf_counter()
        self.p = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=full_env,
            cwd=cwd,
            # Windows: a group of its own, so CTRL_BREAK reaches the child and not us.
            creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
        )
        assert self.p.stdout is not None and self.p.stderr is not None
        self.lines: queue.Queue[tuple[float, str] | None] = queue.Queue()
        self.stdout: deque[str] = deque(maxlen=2000)
        self.stderr: deque[str] = deque(maxlen=2000)
        threading.Thread(target=_pump, args=(self.p.stdout, self.lines, self.stdout), daemon=True).start()
        err_keeps = (self.stderr,) if stderr_sink is None else (self.stderr, stderr_sink)
        threading.Thread(target=_pump, args=(self.p.stderr, None, *err_keeps), daemon=True).start()

    def wait_line(self, pattern: re.Pattern[str] | None, timeout: float) -> tuple[float, str]:
        """``(perf_counter time it arrived, line)`` of the first stdout line matching ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildProcessFailed(
                    f"no matching line within {timeout:.0f} s from {self.name}:\n{self.tail()}"
                )
            try:
                item = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if item is None:
                raise ChildProcessFailed(
                    f"{self.name} exited ({self.p.poll()}) before it was ready:\n{self.tail()}"
                )
            if pattern is None or pattern.search(item[1]):
                return item

    @property
    def name(self) -> str:
        return " ".join(self.args[1:4]) if len(self.args) > 3 else " ".join(self.args)

    def running(self) -> bool:
        return self.p.poll() is None

    def tail(self) -> str:
        return "".join(list(self.stdout)[-10:]) + "".join(list(self.stderr)[-30:])

    def interrupt(self) -> None:
        """The console's Ctrl+C (Ctrl+Break on Windows): the child's graceful stop."""
        if self.running():
            self.p.send_signal(signal.CTRL_BREAK_EVENT if os.name == "nt" else signal.SIGINT)  # type: ignore[attr-defined,unused-ignore]

    def terminate(self, timeout: float = 10) -> int:
        """SIGTERM (Windows: TerminateProcess), then a kill after ``timeout``; returns the exit code."""
        if self.running():
            self.p.terminate()
        return self.wait(timeout)

    def wait(self, timeout: float = 10) -> int:
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        return self.p.returncode

    def kill(self) -> None:
        if self.running():
            self.p.kill()
            self.p.wait()
