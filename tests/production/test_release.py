"""Release packaging (issue 13 item 3): ``python -m build`` makes an sdist and a wheel that ``twine
check`` accepts, the wheel carries install.bat and uninstall.bat, and it installs with all its
dependencies into a fresh virtual environment with ``pip install dist/*.whl``. The version is written
in one place (``risk_manager.__version__``) and CHANGELOG.md starts with it.

Built from a temporary copy of the source tree (so parallel tests never see a half-written build/).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import risk_manager

from .release import REPO, build, source_copy

pytestmark = pytest.mark.slow
VERSION = risk_manager.__version__


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("release")
    out = root / "dist"
    build(source_copy(root / "src"), out)
    yield out


def test_version_is_written_in_one_place() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "risk_manager.__version__"}
    literal = re.compile(re.escape(f'"{VERSION}"'))
    written = [p for p in (REPO / "src").rglob("*.py") if literal.search(p.read_text(encoding="utf-8"))]
    assert written == [REPO / "src" / "risk_manager" / "__init__.py"]
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    first = re.search(r"^## \[?(\d+\.\d+\.\d+[^\]\s]*)", changelog, re.M)
    assert first is not None and first.group(1) == VERSION  # the newest entry is this version


def test_sdist_and_wheel_pass_twine_check(dist: Path) -> None:
    names = sorted(p.name for p in dist.iterdir())
    assert names == [f"risk_manager-{VERSION}-py3-none-any.whl", f"risk_manager-{VERSION}.tar.gz"]
    proc = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_wheel_and_sdist_contents(dist: Path) -> None:
    with zipfile.ZipFile(next(dist.glob("*.whl"))) as whl:
        files = set(whl.namelist())
        metadata = whl.read(f"risk_manager-{VERSION}.dist-info/METADATA").decode()
        entry_points = whl.read(f"risk_manager-{VERSION}.dist-info/entry_points.txt").decode()
    for needed in (
        "risk_manager/service/scripts/install.bat",
        "risk_manager/service/scripts/uninstall.bat",
        "risk_manager/config/templates/risk_config.yaml",
        "risk_manager/py.typed",
        f"risk_manager-{VERSION}.dist-info/licenses/LICENSE",
    ):
        assert needed in files, needed
    assert not [f for f in files if f.startswith(("tests/", "docs/")) or "__pycache__" in f]
    assert f"Version: {VERSION}" in metadata and "Requires-Python: >=3.11" in metadata
    assert "risk-manager = risk_manager.cli.main:main" in entry_points
    with tarfile.open(next(dist.glob("*.tar.gz"))) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    for needed in ("CHANGELOG.md", "LICENSE", "README.md", "docs/INSTALLATION_GUIDE.md", "pyproject.toml"):
        assert needed in members, needed


def test_the_wheel_installs_into_a_fresh_environment(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    wheel = next(dist.glob("*.whl"))
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    check = subprocess.run([str(venv / "bin" / "pip"), "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    version = subprocess.run(
        [str(venv / "bin" / "risk-manager"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert version.stdout.splitlines()[0] == f"risk-manager {VERSION}"
    scripts = tmp_path / "scripts"
    subprocess.run(
        [str(venv / "bin" / "risk-manager"), "service", "copy-scripts", "--dest", str(scripts)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert (scripts / "install.bat").read_bytes().startswith(b"@echo off")
    assert (scripts / "uninstall.bat").exists()
