"""The daemon's own state, explicit and changed in one place (spec/daemon.md §2, §9.3 ``status``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from risk_manager import __version__
from risk_manager.daemon.clock import Clock


class RunState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"


@dataclass
class Lifecycle:
    """What every part may read about the process: state, version, mode, start time, uptime."""

    clock: Clock
    mode: str
    version: str = __version__
    state: RunState = RunState.STARTING
    started_at: datetime = field(init=False)
    _started_mono: float = field(init=False)

    def __post_init__(self) -> None:
        self.started_at = self.clock.now()
        self._started_mono = self.clock.monotonic()

    def uptime(self) -> float:
        return self.clock.monotonic() - self._started_mono
