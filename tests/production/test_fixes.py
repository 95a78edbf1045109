"""Unit tests for what the production run found and fixed (each is also proven end to end there)."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from risk_manager.admin.context import api_url_from_config
from risk_manager.api_address import API_URL_FILE, publish, published
from risk_manager.cli.trader_cmd import DEFAULT_URL, default_url
from risk_manager.platform.file_modes import restrict_backup
from risk_manager.store.files import backup_database
from risk_manager.trader.widgets.connection import hubs_text

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX modes")


def test_published_api_address_round_trip_and_garbage(tmp_path: Path) -> None:
    assert published(tmp_path) is None
    publish(tmp_path, "ws://127.0.0.1:50123")
    assert published(tmp_path) == "ws://127.0.0.1:50123"
    (tmp_path / API_URL_FILE).write_text("http://evil.example/\n", encoding="utf-8")
    assert published(tmp_path) is None  # only a local ws:// address is taken
    publish(tmp_path / "missing", "ws://127.0.0.1:1")  # best effort: no exception


def test_trader_prefers_the_address_published_beside_its_database(tmp_path: Path) -> None:
    data, config = tmp_path / "data", tmp_path / "config"
    data.mkdir()
    config.mkdir()
    assert default_url(config, data / "risk.db") == DEFAULT_URL
    (config / "daemon.yaml").write_text("version: 1\napi: {port: 9001}\n", encoding="utf-8")
    assert default_url(config, data / "risk.db") == "ws://127.0.0.1:9001"
    publish(data, "ws://127.0.0.1:9002")
    assert default_url(config, data / "risk.db") == "ws://127.0.0.1:9002"


def test_admin_console_uses_the_published_address_when_daemon_yaml_is_unreadable(tmp_path: Path) -> None:
    data, config = tmp_path / "data", tmp_path / "config"
    data.mkdir()
    config.mkdir()
    publish(data, "ws://127.0.0.1:9003")
    assert api_url_from_config(config, data) == "ws://127.0.0.1:9003"  # no daemon.yaml
    (config / "daemon.yaml").write_text("version: 1\napi: {port: 9004}\n", encoding="utf-8")
    assert api_url_from_config(config, data) == "ws://127.0.0.1:9004"  # readable: it decides


@posix_only
def test_database_backups_are_closed_to_other_users(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the service's umask
    try:
        source = sqlite3.connect(tmp_path / "risk.db")
        source.execute("CREATE TABLE t (x)")
        target = tmp_path / "backups" / "risk.db.daily.2026-11-30"
        backup_database(source, target)
        source.close()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o750
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    loose = tmp_path / "loose"
    loose.write_text("x")
    loose.chmod(0o666)
    restrict_backup(loose)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o640


def test_hub_states_are_written_as_words() -> None:
    text = hubs_text({"demo": {"user": "connected", "market": "reconnecting"}, "other": "down"})
    assert text == "demo: user connected, market reconnecting; other: down"
