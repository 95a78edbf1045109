"""Release artefacts built from a temporary copy of the source tree (the real tree is never changed)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "*.pyc",
)


def source_copy(target: Path) -> Path:
    """What a release is built from: the project files (no virtual environments, caches, builds)."""
    shutil.copytree(REPO, target, ignore=_IGNORED)
    return target


def build(source: Path, out: Path, *what: str, timeout: float = 300) -> list[Path]:
    """``python -m build [what] --outdir out source`` (isolated, as a release is built)."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "build", *what, "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return sorted(out.iterdir())


def build_wheel(source: Path, out: Path) -> Path:
    [wheel] = [p for p in build(source, out, "--wheel") if p.suffix == ".whl"]
    return wheel


def bumped(source: Path, version: str) -> str:
    """Make ``source`` the next release: the patch number + 1 and one more database migration."""
    parts = version.split(".")
    new = ".".join([*parts[:-1], str(int(re.match(r"\d+", parts[-1]).group()) + 1)])  # type: ignore[union-attr]
    init = source / "src" / "risk_manager" / "__init__.py"
    text, n = re.subn(r'__version__ = "[^"]+"', f'__version__ = "{new}"', init.read_text(encoding="utf-8"))
    assert n == 1
    init.write_text(text, encoding="utf-8")
    migrations = source / "src" / "risk_manager" / "store" / "migrations.py"
    text = migrations.read_text(encoding="utf-8")
    marker = "\n)\nLATEST_VERSION = MIGRATIONS[-1].version"
    assert marker in text, "the migrations table changed shape: update tests/production/release.py"
    latest = max(int(v) for v in re.findall(r"Migration\((\d+),", text))
    added = (
        f'\n    Migration({latest + 1}, "upgrade notes (added by the upgrade test)", '
        '("CREATE TABLE upgrade_notes (id INTEGER PRIMARY KEY, note TEXT)",)),'
    )
    migrations.write_text(text.replace(marker, added + marker), encoding="utf-8")
    return new
