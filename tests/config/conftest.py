"""Helpers for the config tests: real files in a temporary directory, loaded the way the daemon loads them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from risk_manager.config.issues import ConfigError, ConfigIssue
from risk_manager.config.loader import AppConfig, load_config
from risk_manager.config.scaffold import write_templates

ACCOUNTS = """\
version: 1
gateway:
  environment: topstepx
logins:
  - name: main
    user_name: trader@example.com
    accounts:
      - id: 123456
        name: "50K Combine"
        reset_time: "17:00"
        timezone: America/Chicago
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(directory: Path, env: dict[str, str] | None = None) -> AppConfig:
    return load_config(directory, env=env or {})


def issues(directory: Path, env: dict[str, str] | None = None) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        load_config(directory, env=env or {})
    return caught.value.issues


def only_issue(directory: Path, env: dict[str, str] | None = None) -> ConfigIssue:
    found = issues(directory, env)
    assert len(found) == 1, [str(i) for i in found]
    return found[0]


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    """A directory holding the packaged templates (valid), to be edited by each test."""
    directory = tmp_path / "config"
    write_templates(directory)
    return directory


@pytest.fixture
def minimal(tmp_path: Path) -> Path:
    """Only the required files: an empty risk_config.yaml (all defaults) and one account."""
    directory = tmp_path / "minimal"
    directory.mkdir()
    write(directory, "risk_config.yaml", "version: 1\n")
    write(directory, "accounts.yaml", ACCOUNTS)
    return directory
