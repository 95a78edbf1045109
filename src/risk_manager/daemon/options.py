"""How the daemon was asked to run: directories, mode and overrides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class DaemonOptions:
    config_dir: Path
    data_dir: Path
    log_dir: Path
    mode: Literal["console", "service"] = "console"
    observe_only: bool = False
    debug: bool = False
    console_log: bool = True
    api_port: int | None = None  # overrides daemon.yaml (tests, demo)
    tick_seconds: float = 1.0
    handle_signals: bool = True  # False when the daemon runs inside another program (tests)
    set_umask: bool = True  # decide the modes of created files (platform/file_modes.py)
