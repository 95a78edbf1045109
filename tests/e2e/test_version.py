"""``risk-manager --version`` as a user runs it: a real subprocess of the installed command.

Each number must come from the one place that defines it, so the test compares the output with
those definitions (and the installed package metadata with the product version).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import risk_manager
from risk_manager.config.models import SUPPORTED_VERSION
from risk_manager.daemon.api.protocol import PROTOCOL_VERSION


def _commands() -> list[list[str]]:
    """``python -m risk_manager`` always; the console script too when it is installed beside python."""
    out = [[sys.executable, "-m", "risk_manager"]]
    script = shutil.which("risk-manager", path=str(Path(sys.executable).parent))
    if script is not None:
        out.append([script])
    return out


@pytest.mark.parametrize("command", _commands(), ids=lambda c: Path(c[-1]).name)
def test_version_prints_product_config_and_protocol_versions(command: list[str], tmp_path: Path) -> None:
    env = dict(os.environ, NO_COLOR="1")
    proc = subprocess.run(
        [*command, "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [
        f"risk-manager {risk_manager.__version__}",
        f"config schema version {SUPPORTED_VERSION}",
        f"local API protocol version {PROTOCOL_VERSION}",
    ]


def test_installed_metadata_is_the_product_version() -> None:
    """pyproject.toml reads the version from ``risk_manager.__version__``: one place, no drift."""
    assert importlib.metadata.version("risk-manager") == risk_manager.__version__
