"""Start the simulator (demo scenario) and the daemon as child processes, wire them together, and
stop both cleanly. Used by ``risk-manager demo`` and by the end-to-end tests."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from risk_manager.demo.demo_config import write_demo_config
from risk_manager.procs import DAEMON_READY, ChildProcess, ChildProcessFailed, daemon_command, sim_command


class DemoError(RuntimeError):
    pass


@dataclass
class DemoStack:
    workdir: Path
    keep: bool = False
    seed: int = 0
    scenario: str = "demo"
    sim: ChildProcess | None = None
    daemon: ChildProcess | None = None
    urls: dict[str, str] = field(default_factory=dict)
    api_url: str = ""
    narration: deque[str] = field(default_factory=lambda: deque(maxlen=4))

    @classmethod
    def create(cls, *, keep: bool = False, seed: int = 0, scenario: str = "demo") -> DemoStack:
        return cls(
            Path(tempfile.mkdtemp(prefix="risk-manager-demo-")), keep=keep, seed=seed, scenario=scenario
        )

    def start(self, timeout: float = 30.0) -> None:
        try:
            self.sim = ChildProcess(
                sim_command(scenario=self.scenario, seed=self.seed),
                stderr_sink=self.narration,  # the scripted trader's "say" lines
            )
            self.urls = json.loads(self.sim.wait_line(None, timeout)[1])
            config_dir = self.workdir / "config"
            write_demo_config(
                config_dir, self.urls["api_url"], self.urls["user_hub_url"], self.urls["market_hub_url"]
            )
            self.daemon = ChildProcess(daemon_command(config_dir, self.workdir))
            line = self.daemon.wait_line(DAEMON_READY, timeout)[1]
        except ChildProcessFailed as exc:
            raise DemoError(str(exc)) from None
        match = DAEMON_READY.search(line)
        assert match is not None
        self.api_url = match.group(1)

    def stop(self) -> None:
        """Ctrl+C to both (the daemon first), then wait; whatever hangs is killed after 10 s."""
        for proc in (self.daemon, self.sim):
            if proc is not None:
                proc.interrupt()
        for proc in (self.daemon, self.sim):
            if proc is not None:
                proc.wait(timeout=10)
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
