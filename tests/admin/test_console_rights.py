"""The rights gate (admin-cli.md §2, §3.4) with a real unprivileged user: the tests run as root and
start the console as ``nobody`` (POSIX only; skipped when not root)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .env import PASSWORD, AdminEnv

NOBODY = 65534

SETPRIV = shutil.which("setpriv")  # util-linux: drops to another user, as sudo's opposite
pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or SETPRIV is None,
    reason="needs root and setpriv to start the console as another user",
)


@pytest.fixture
def shared() -> Iterator[AdminEnv]:
    """An environment whose directories other users may enter (pytest's temp root is private)."""
    root = Path(tempfile.mkdtemp(prefix="rm-admin-rights-"))
    root.chmod(0o755)
    env = AdminEnv(root / "env", daemon=False)
    for path in (root / "env", env.config):
        path.chmod(0o755)
    for name in ("risk_config.yaml", "accounts.yaml"):
        (env.config / name).chmod(0o644)
    yield env
    env.close()
    shutil.rmtree(root, ignore_errors=True)


def as_nobody(env: AdminEnv, *args: str, api_url: str | None = None) -> subprocess.CompletedProcess[str]:
    assert SETPRIV is not None
    drop = [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    argv = [
        *drop,
        sys.executable,
        "-m",
        "risk_manager.cli.admin",
        *env.base_args(api_url),
        *args,
        "--password-stdin",
    ]
    return subprocess.run(
        argv,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=env.env(HOME="/tmp"),
        cwd="/tmp",
    )


def test_read_only_screens_work_and_writes_are_refused_without_rights(shared: AdminEnv) -> None:
    (shared.config / "admin_password.hash").chmod(0o644)  # a developer's readable hash
    listed = as_nobody(shared, "rules", "list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "Daily realized loss" in listed.stdout
    before = (shared.config / "risk_config.yaml").read_bytes()
    refused = as_nobody(shared, "rules", "set", "3", "loss_limit", "450")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "Administrator rights required to change the configuration." in refused.stderr
    assert 'Windows: close this window and start the terminal with "Run as administrator".' in refused.stderr
    assert "Linux:   run  sudo risk-manager admin" in refused.stderr
    assert (shared.config / "risk_config.yaml").read_bytes() == before
    status = as_nobody(shared, "status")
    assert "Admin ✗ read-only" in status.stdout
    install = as_nobody(shared, "service", "install")  # refused before anything on the machine changes
    assert install.returncode == 4, install.stdout + install.stderr


def test_without_the_hash_the_daemon_decides_and_needs_its_admin_token(shared: AdminEnv) -> None:
    assert stat.S_IMODE((shared.config / "admin_password.hash").stat().st_mode) in (0o600, 0o644)
    (shared.config / "admin_password.hash").chmod(0o600)  # installed: administrators only
    no_daemon = as_nobody(shared, "accounts", "list")
    assert no_daemon.returncode == 4
    assert "Cannot verify the admin password: run as administrator or start the service." in no_daemon.stderr
    shared.start_daemon()
    # A console-mode daemon keeps its files owner-only; a service install opens these two for reading.
    (shared.root / "data").chmod(0o755)
    shared.logs.chmod(0o755)
    token = as_nobody(shared, "accounts", "list")
    assert token.returncode == 4, token.stdout + token.stderr
    assert "The daemon's admin token is not readable: run the console as an administrator" in token.stderr
    assert stat.S_IMODE((shared.data / "admin.token").stat().st_mode) == 0o600
