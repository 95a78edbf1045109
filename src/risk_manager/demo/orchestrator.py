"""Start the simulator (demo scenario) and the daemon as child processes, wire them together, and
stop both cleanly. Used by ``risk-manager demo`` and by the end-to-end tests."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from risk_manager.demo.demo_config import write_demo_config

_API_LINE = re.compile(r"local API (ws://\S+)")


class DemoError(RuntimeError):
    pass


def _reader(stream: IO[str], sink: queue.Queue[str | None], tail: deque[str] | None = None) -> None:
    for line in stream:
        sink.put(line)
        if tail is not None:
            tail.append(line.rstrip())
    sink.put(None)


def _wait_line(
    lines: queue.Queue[str | None], pattern: re.Pattern[str] | None, timeout: float, what: str
) -> str:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DemoError(f"{what} did not become ready within {timeout:.0f} s")
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            continue
        if line is None:
            raise DemoError(f"{what} exited before it was ready")
        if pattern is None or pattern.search(line):
            return line


@dataclass
class DemoStack:
    workdir: Path
    keep: bool = False
    seed: int = 0
    scenario: str = "demo"
    sim: subprocess.Popen[str] | None = None
    daemon: subprocess.Popen[str] | None = None
    urls: dict[str, str] = field(default_factory=dict)
    api_url: str = ""
    narration: deque[str] = field(default_factory=lambda: deque(maxlen=4))

    @classmethod
    def create(cls, *, keep: bool = False, seed: int = 0, scenario: str = "demo") -> DemoStack:
        return cls(
            Path(tempfile.mkdtemp(prefix="risk-manager-demo-")), keep=keep, seed=seed, scenario=scenario
        )

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ)
        env.pop("RISK_MANAGER_API_KEY", None)
        env.pop("RISK_MANAGER_API_KEYS", None)
        self.sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "risk_manager",
                "sim",
                "--port",
                "0",
                "--scenario",
                self.scenario,
                "--seed",
                str(self.seed),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.sim.stdout is not None and self.sim.stderr is not None
        sim_lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_reader, args=(self.sim.stdout, sim_lines), daemon=True).start()
        threading.Thread(
            target=_reader, args=(self.sim.stderr, queue.Queue(), self.narration), daemon=True
        ).start()
        self.urls = json.loads(_wait_line(sim_lines, None, timeout, "the simulator"))
        config_dir = self.workdir / "config"
        write_demo_config(
            config_dir, self.urls["api_url"], self.urls["user_hub_url"], self.urls["market_hub_url"]
        )
        self.daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "risk_manager",
                "run",
                "--config-dir",
                str(config_dir),
                "--data-dir",
                str(self.workdir / "data"),
                "--log-dir",
                str(self.workdir / "logs"),
                "--api-port",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.daemon.stdout is not None
        daemon_lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_reader, args=(self.daemon.stdout, daemon_lines), daemon=True).start()
        line = _wait_line(daemon_lines, _API_LINE, timeout, "the daemon")
        match = _API_LINE.search(line)
        assert match is not None
        self.api_url = match.group(1)

    def stop(self) -> None:
        for proc in (self.daemon, self.sim):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT if os.name != "nt" else signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
        for proc in (self.daemon, self.sim):
            if proc is None:
                continue
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
