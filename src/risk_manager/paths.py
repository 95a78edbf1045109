"""Where the configuration, data and logs live when no directory is given on the command line.

One place decides, so the service, the admin console and every command agree (spec/daemon.md §8.1):

- console mode (``run``, ``demo``, ``sim``, ``init``, ``config check``): the platformdirs user
  config, data and log directories of "risk-manager";
- service mode: Windows ``%ProgramData%\\risk-manager\\{config,data,logs}``, Linux ``/etc/risk-manager``,
  ``/var/lib/risk-manager``, ``/var/log/risk-manager``.

An environment variable (``RISK_MANAGER_CONFIG_DIR``, ``..._DATA_DIR``, ``..._LOG_DIR``) overrides both,
for tests, containers and a second instance; ``--config-dir`` and friends override everything.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import platformdirs

Mode = Literal["console", "service"]
Kind = Literal["config", "data", "logs"]

APP = "risk-manager"
CONFIG_ENV = "RISK_MANAGER_CONFIG_DIR"
DATA_ENV = "RISK_MANAGER_DATA_DIR"
LOG_ENV = "RISK_MANAGER_LOG_DIR"

_LINUX_SERVICE: dict[str, Path] = {
    "config": Path("/etc/risk-manager"),
    "data": Path("/var/lib/risk-manager"),
    "logs": Path("/var/log/risk-manager"),
}


def _service_default(kind: Kind, env: Mapping[str, str], platform: str) -> Path:
    if platform == "win32":
        program_data = env.get("ProgramData") or env.get("PROGRAMDATA") or r"C:\ProgramData"
        return Path(program_data) / APP / kind
    return _LINUX_SERVICE[kind]


def _console_default(kind: Kind) -> Path:
    if kind == "config":
        return Path(platformdirs.user_config_dir(APP, appauthor=False))
    if kind == "data":
        return Path(platformdirs.user_data_dir(APP, appauthor=False))
    return Path(platformdirs.user_log_dir(APP, appauthor=False))


def _resolve(
    variable: str, kind: Kind, env: Mapping[str, str] | None, platform: str | None, mode: Mode
) -> Path:
    env = os.environ if env is None else env
    override = env.get(variable, "").strip()
    if override:
        return Path(override).expanduser()
    if mode == "service":
        return _service_default(kind, env, platform or sys.platform)
    return _console_default(kind)


def default_config_dir(
    env: Mapping[str, str] | None = None, platform: str | None = None, mode: Mode = "console"
) -> Path:
    return _resolve(CONFIG_ENV, "config", env, platform, mode)


def default_data_dir(
    env: Mapping[str, str] | None = None, platform: str | None = None, mode: Mode = "console"
) -> Path:
    return _resolve(DATA_ENV, "data", env, platform, mode)


def default_log_dir(
    env: Mapping[str, str] | None = None, platform: str | None = None, mode: Mode = "console"
) -> Path:
    return _resolve(LOG_ENV, "logs", env, platform, mode)
