"""Default directories (daemon.md §8.1): environment variable first, then the mode's location."""

from __future__ import annotations

from pathlib import Path

import platformdirs

from risk_manager.paths import default_config_dir, default_data_dir, default_log_dir


def test_environment_overrides(tmp_path: Path) -> None:
    env = {
        "RISK_MANAGER_CONFIG_DIR": str(tmp_path / "c"),
        "RISK_MANAGER_DATA_DIR": str(tmp_path / "d"),
        "RISK_MANAGER_LOG_DIR": str(tmp_path / "l"),
    }
    for mode in ("console", "service"):
        assert default_config_dir(env, mode=mode) == tmp_path / "c"
        assert default_data_dir(env, mode=mode) == tmp_path / "d"
        assert default_log_dir(env, mode=mode) == tmp_path / "l"


def test_linux_service_defaults() -> None:
    assert default_config_dir({}, "linux", "service") == Path("/etc/risk-manager")
    assert default_data_dir({}, "linux", "service") == Path("/var/lib/risk-manager")
    assert default_log_dir({}, "linux", "service") == Path("/var/log/risk-manager")


def test_windows_service_defaults_follow_programdata() -> None:
    env = {"ProgramData": "D:\\PD"}
    as_text = [
        str(f(env, "win32", "service")).replace("\\", "/")
        for f in (default_config_dir, default_data_dir, default_log_dir)
    ]
    assert as_text == ["D:/PD/risk-manager/config", "D:/PD/risk-manager/data", "D:/PD/risk-manager/logs"]
    assert str(default_config_dir({}, "win32", "service")).replace("\\", "/") == (
        "C:/ProgramData/risk-manager/config"
    )


def test_console_mode_uses_the_users_directories() -> None:
    assert default_config_dir({}) == Path(platformdirs.user_config_dir("risk-manager", appauthor=False))
    assert default_data_dir({}) == Path(platformdirs.user_data_dir("risk-manager", appauthor=False))
