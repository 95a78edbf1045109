"""The command line a service manager runs: this Python environment, with explicit directories.

The service is registered with the absolute path of the installing environment and explicit config,
data and log directories (daemon.md §8.1, §10.1), so the service, the admin console and ``doctor``
always agree on where things are.

Windows: a venv's ``python.exe`` is a redirector that starts the real interpreter as a child, and the
SCM only talks to the process it started (error 1063). The service therefore runs the *base*
interpreter and adds the venv's site-packages itself (``--site-packages``), see ``windows_service``.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from risk_manager.service.layout import Layout

WINDOWS_MODULE = "risk_manager.service.windows_service"


def _dirs(layout: Layout) -> list[str]:
    return [
        "--config-dir",
        str(layout.config_dir),
        "--data-dir",
        str(layout.data_dir),
        "--log-dir",
        str(layout.log_dir),
    ]


def environment_entry() -> list[str]:
    """``risk-manager`` of this environment (its console script, else ``python -m risk_manager``).

    The interpreter path is used as the environment names it: resolving a venv's ``bin/python``
    symlink would leave the venv."""
    bindir = Path(sys.executable).parent
    for name in ("risk-manager", "risk-manager.exe"):
        script = bindir / name
        if script.is_file():
            return [str(script)]
    return [sys.executable, "-m", "risk_manager"]


def linux_command(layout: Layout) -> list[str]:
    return [*environment_entry(), "run", "--service", *_dirs(layout)]


def windows_command(layout: Layout) -> list[str]:
    in_venv = sys.prefix != sys.base_prefix
    if not in_venv:
        return [sys.executable, "-m", WINDOWS_MODULE, *_dirs(layout)]
    base = getattr(sys, "_base_executable", sys.executable)
    script = Path(__file__).with_name("windows_service.py")
    purelib = sysconfig.get_paths()["purelib"]
    return [base, str(script), "--site-packages", purelib, *_dirs(layout)]


def option_value(command: list[str] | tuple[str, ...], option: str) -> str | None:
    """The value after ``option`` in a registered command line (None when absent)."""
    items = list(command)
    for i, item in enumerate(items[:-1]):
        if item == option:
            return items[i + 1]
    return None


def layout_from_command(command: list[str] | tuple[str, ...], root: Path | None = None) -> Layout | None:
    """The directories a registered service uses, read back from its command line."""
    config = option_value(command, "--config-dir")
    data = option_value(command, "--data-dir")
    logs = option_value(command, "--log-dir")
    if not (config and data and logs):
        return None
    return Layout(Path(config), Path(data), Path(logs), root)
