"""``install.bat`` / ``uninstall.bat`` (daemon.md §10.4), shipped as package data.

``risk-manager service copy-scripts`` puts them next to the Python environment (its folder, which
holds ``Scripts\\python.exe`` for a venv or ``python.exe`` for an app-owned Python), because the
scripts use the environment they sit in.
"""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

SCRIPTS = ("install.bat", "uninstall.bat")


def script_text(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def copy_scripts(dest: Path | None = None) -> list[Path]:
    target = dest if dest is not None else Path(sys.prefix)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCRIPTS:
        with resources.as_file(resources.files(__name__).joinpath(name)) as source:
            shutil.copyfile(source, target / name)
        written.append(target / name)
    return written
