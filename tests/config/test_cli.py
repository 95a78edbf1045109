"""``risk-manager init`` and ``risk-manager config check`` as real subprocesses."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.config.conftest import write

SECRET = "sk-live-0123456789abcdefSECRET"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RISK_MANAGER_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "risk_manager", *args],
        capture_output=True,
        text=True,
        env=clean,
        timeout=60,
    )


def _line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if needle in line)


NAMES = ["risk_config.yaml", "accounts.yaml", "holidays.yaml", "daemon.yaml", "secrets.yaml"]


def test_init_then_check(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    result = run("init", "--config-dir", str(directory))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in directory.iterdir()) == sorted(NAMES)
    for name in NAMES:
        assert f"wrote    {name}" in result.stdout
    if os.name != "nt":
        assert stat.S_IMODE((directory / "secrets.yaml").stat().st_mode) == 0o600

    check = run("config", "check", "--config-dir", str(directory))
    assert check.returncode == 0, check.stderr
    assert "Configuration OK" in check.stdout
    assert '123456  "50K Combine"  login main  reset 17:00 America/Chicago' in check.stdout
    assert "RULE-001 max_contracts: limit 5 net, close_all" in check.stdout
    assert "RULE-012" not in check.stdout  # trade management is off by default
    assert "Holidays: 3" in check.stdout
    assert "API key: missing" in check.stdout
    assert "warning: no API key for login trader@example.com" in check.stderr


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    assert run("init", "--config-dir", str(directory)).returncode == 0
    edited = "# my edits\n" + (directory / "accounts.yaml").read_text(encoding="utf-8")
    (directory / "accounts.yaml").write_text(edited, encoding="utf-8")
    (directory / "holidays.yaml").unlink()

    again = run("init", "--config-dir", str(directory))
    assert again.returncode == 0
    assert "skipped  accounts.yaml (already exists; --force overwrites it)" in again.stdout
    assert "wrote    holidays.yaml" in again.stdout
    assert (directory / "accounts.yaml").read_text(encoding="utf-8") == edited

    forced = run("init", "--config-dir", str(directory), "--force")
    assert forced.returncode == 0
    assert "replaced accounts.yaml" in forced.stdout
    assert not (directory / "accounts.yaml").read_text(encoding="utf-8").startswith("# my edits")


def test_init_uses_the_environment_directory(tmp_path: Path) -> None:
    directory = tmp_path / "from-env"
    result = run("init", env={"RISK_MANAGER_CONFIG_DIR": str(directory)})
    assert result.returncode == 0, result.stderr
    assert (directory / "risk_config.yaml").is_file()
    assert run("config", "check", env={"RISK_MANAGER_CONFIG_DIR": str(directory)}).returncode == 0


def test_init_into_an_impossible_place_fails_cleanly(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    result = run("init", "--config-dir", str(blocker / "cfg"))
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot write")
    assert "Traceback" not in result.stderr


def test_check_lists_every_error_and_exits_1(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    assert run("init", "--config-dir", str(directory)).returncode == 0
    text = (directory / "risk_config.yaml").read_text(encoding="utf-8")
    write(directory, "risk_config.yaml", text.replace("    limit: 5\n", "    limt: 5\n"))
    text = (directory / "accounts.yaml").read_text(encoding="utf-8")
    write(directory, "accounts.yaml", text.replace("timezone: America/Chicago", "timezone: America/Chicag"))

    limt_line = _line_of(directory / "risk_config.yaml", "limt: 5")
    zone_line = _line_of(directory / "accounts.yaml", "America/Chicag")

    result = run("config", "check", "--config-dir", str(directory))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Invalid configuration in") and lines[0].endswith("2 problems")
    assert (
        lines[1]
        .strip()
        .startswith(f"risk_config.yaml:{limt_line}: rules.max_contracts.limt: unknown key 'limt'")
    )
    assert (
        lines[2]
        .strip()
        .startswith(
            f"accounts.yaml:{zone_line}: logins[0].accounts[0].timezone: unknown time zone 'America/Chicag'"
        )
    )

    as_json = run("config", "check", "--config-dir", str(directory), "--json")
    assert as_json.returncode == 1
    payload = json.loads(as_json.stdout)
    assert payload["ok"] is False
    assert [(e["file"], e["line"]) for e in payload["errors"]] == [
        ("risk_config.yaml", limt_line),
        ("accounts.yaml", zone_line),
    ]


def test_check_json_summary(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    assert run("init", "--config-dir", str(directory)).returncode == 0
    result = run("config", "check", "--config-dir", str(directory), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["ok"] is True
    assert payload["accounts"][0]["id"] == 123456
    assert payload["accounts"][0]["reset_time"] == "17:00"
    assert [r["rule"] for r in payload["accounts"][0]["rules"]] == [f"RULE-{n:03d}" for n in range(1, 12)]
    assert payload["holidays"]["count"] == 3
    assert payload["missing_api_keys"] == ["trader@example.com"]


def test_check_on_a_missing_directory(tmp_path: Path) -> None:
    result = run("config", "check", "--config-dir", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert "configuration directory not found" in result.stderr


@pytest.mark.parametrize("valid", [True, False])
def test_secrets_never_appear_in_check_output(tmp_path: Path, valid: bool) -> None:
    directory = tmp_path / "cfg"
    assert run("init", "--config-dir", str(directory)).returncode == 0
    write(directory, "secrets.yaml", f'api_keys:\n  "trader@example.com": "{SECRET}"\n')
    (directory / "secrets.yaml").chmod(0o600)
    if not valid:
        write(directory, "daemon.yaml", "logging: {level: LOUD}\n")
    env = {"RISK_MANAGER_API_KEYS": json.dumps({"trader@example.com": SECRET + "env"})}
    for args in (("config", "check"), ("config", "check", "--json")):
        result = run(*args, "--config-dir", str(directory), env=env)
        assert result.returncode == (0 if valid else 1)
        assert SECRET not in result.stdout + result.stderr
        if valid and "--json" not in args:
            assert "API key: set" in result.stdout
