"""Fixtures: one simulator + daemon shared by the console tests that need a running daemon, and
daemon-less environments for the password and fault tests (they change state others rely on)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .env import AdminEnv

if sys.platform == "win32":  # pexpect.spawn is POSIX-only (admin-cli.md §15: Linux runs the pty tests)
    collect_ignore_glob = ["test_console_*.py", "test_password_*.py"]


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminEnv]:
    """Simulator + daemon in console mode + config directory owned by the test user."""
    env = AdminEnv(tmp_path_factory.mktemp("admin-live"))
    yield env
    env.close()


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[AdminEnv]:
    """Simulator + config, no daemon."""
    env = AdminEnv(tmp_path / "offline", daemon=False)
    yield env
    env.close()
