"""The validations before ``service install`` / ``start`` (daemon.md §10.3): each failing check prints
its message and fix and ends the command with its exit code; earlier groups show ✓, later ones do not
run. Real files in a staging root; the Linux service manager and permissions (staged)."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from risk_manager.service import api
from risk_manager.service.layout import Layout
from risk_manager.service.outcome import Outcome
from risk_manager.store.migrations import LATEST_VERSION

from .helpers import (
    NOBODY_GID,
    NOBODY_UID,
    PY,
    as_user,
    can_run_as_nobody,
    not_root,
    staging_root,
    write_service_config,
)

URLS = {"api_url": "http://127.0.0.1:9", "user_hub_url": "http://127.0.0.1:9/u", "market_hub_url": "http://127.0.0.1:9/m"}
USERS = {"alice": ("key-alice-0001", [9101]), "bob": ("key-bob-0002", [9102])}

pytestmark = pytest.mark.skipif(bool(not_root()), reason=not_root() or "")


@pytest.fixture
def stage() -> Iterator[Layout]:
    with staging_root() as root:
        layout = Layout.for_service(root)
        write_service_config(layout.config_dir, URLS, USERS)
        yield layout


def install(layout: Layout, **kwargs: bool) -> Outcome:
    return api.install(no_start=True, root=layout.root, **kwargs)


def ticks(outcome: Outcome) -> list[str]:
    return [line for line in outcome.lines if line.startswith("✓")]


def test_all_checks_pass_then_install(stage: Layout) -> None:
    outcome = install(stage)
    assert outcome.exit_code == 0, outcome.lines
    assert [line.split(" (")[0] for line in ticks(outcome)[:5]] == [
        "✓ Administrator rights",
        "✓ Configuration valid",
        "✓ 2 enabled account(s); an API key for every login",
        "✓ secrets.yaml and admin_password.hash: administrators and the service only",
        "✓ Admin password set",
    ]


def test_missing_configuration(stage: Layout) -> None:
    (stage.config_dir / "accounts.yaml").unlink()
    outcome = install(stage)
    assert outcome.exit_code == 5
    assert outcome.message == (
        f"✗ accounts.yaml not found in {stage.config_dir}. Create the configuration with: risk-manager init "
        f'--config-dir "{stage.config_dir}", then edit it with "risk-manager admin"'
    )
    assert not stage.unit_path.exists() and not stage.data_dir.exists()


def test_invalid_configuration_lists_every_error_with_file_key_and_line(stage: Layout) -> None:
    (stage.config_dir / "risk_config.yaml").write_text(
        "version: 1\nrules:\n  daily_realized_loss:\n    enabled: true\n    loss_limit: -5\n"
        "  max_contracts:\n    limit: many\n",
        encoding="utf-8",
    )
    (stage.config_dir / "admin_password.hash").unlink()  # a later group: must not even be checked
    outcome = install(stage)
    assert outcome.exit_code == 5
    errors = [line for line in outcome.lines if line.startswith("✗")]
    assert len(errors) == 2, outcome.lines
    assert errors[0].startswith("✗ risk_config.yaml › rules.daily_realized_loss.loss_limit (line 5): ")
    assert errors[1].startswith("✗ risk_config.yaml › rules.max_contracts.limit (line 7): ")
    assert not any("admin password" in line for line in outcome.lines)
    assert ticks(outcome) == ["✓ Administrator rights"]


def test_missing_api_key_is_not_rescued_by_this_shells_environment(
    stage: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage.secrets_path.write_text('{"api_keys": {"alice": "key-alice-0001"}}', encoding="utf-8")
    monkeypatch.setenv("RISK_MANAGER_API_KEYS", '{"bob": "from-the-environment"}')
    outcome = install(stage)
    assert outcome.exit_code == 5
    assert outcome.message == (
        "✗ No API key for login bob in secrets.yaml. Add it with: risk-manager admin accounts set-key "
        "--user bob --api-key-stdin"
    )
    assert "from-the-environment" not in "\n".join(outcome.lines)


def test_no_enabled_account(stage: Layout) -> None:
    accounts = (stage.config_dir / "accounts.yaml").read_text()
    (stage.config_dir / "accounts.yaml").write_text(accounts.replace('"id": 9101', '"id": 9101, "enabled": false')
                                                    .replace('"id": 9102', '"id": 9102, "enabled": false'))
    outcome = install(stage)
    assert outcome.exit_code == 5
    assert outcome.message == '✗ No enabled account in accounts.yaml. Enable one with "risk-manager admin".'


def test_admin_password_missing_or_corrupt(stage: Layout) -> None:
    stage.admin_hash_path.unlink()
    outcome = install(stage)
    assert (outcome.exit_code, outcome.message) == (5, "✗ No admin password is set. Run: risk-manager admin password setup")
    stage.admin_hash_path.write_text("plaintext-password\n")
    outcome = install(stage)
    assert outcome.exit_code == 5
    assert outcome.message.startswith(f"✗ Admin password file is corrupt: {stage.admin_hash_path}.")


def test_database_newer_than_this_program(stage: Layout) -> None:
    stage.data_dir.mkdir(parents=True)
    conn = sqlite3.connect(stage.db_path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    conn.commit()
    conn.close()
    outcome = install(stage)
    assert outcome.exit_code == 3
    assert outcome.message == (
        f"✗ Database schema 99 is newer than this risk-manager ({LATEST_VERSION}). Upgrade the program or "
        "restore a backup."
    )
    assert not stage.unit_path.exists()


def test_service_state_installed_not_installed(stage: Layout) -> None:
    assert api.start(root=stage.root).exit_code == 9  # start: not installed
    assert install(stage).exit_code == 0
    again = install(stage)
    assert (again.exit_code, again.message) == (10, "! Service is already installed. Use --upgrade to upgrade it in place.")
    # start re-checks the secrets' permissions (install fixed them; someone loosened them since).
    stage.secrets_path.chmod(0o644)
    outcome = api.start(root=stage.root)
    assert outcome.exit_code == 5
    assert outcome.message == (
        "✗ secrets.yaml is readable by every user (mode 0644); run as administrator: "
        "risk-manager service install --repair-permissions"
    )
    repaired = install(stage, repair_permissions=True)
    assert repaired.exit_code == 0 and (stage.secrets_path.stat().st_mode & 0o777) == 0o640
    # Now every check passes; a staged service cannot be started (systemd is not used there).
    staged = api.start(root=stage.root)
    assert staged.exit_code == 1 and "systemd is not used there" in staged.message


@pytest.mark.skipif(bool(can_run_as_nobody()), reason=can_run_as_nobody() or "")
def test_without_administrator_rights(stage: Layout) -> None:
    proc = subprocess.run(
        as_user(NOBODY_UID, NOBODY_GID, [PY, "-m", "risk_manager", "service", "install", "--root", str(stage.root)]),
        capture_output=True, text=True, timeout=60, check=False, cwd="/",
    )
    assert proc.returncode == 4
    assert proc.stderr.splitlines()[-1] == "✗ Run with sudo."


def test_windows_wording_of_the_rights_check(tmp_path: Path) -> None:
    from risk_manager.service.installer import Installer
    from risk_manager.service.windows_access import WindowsAccess
    from risk_manager.service.windows_scm import WindowsServiceManager

    from .recording import RecordingAcl, RecordingScm

    layout = Layout(tmp_path / "config", tmp_path / "data", tmp_path / "logs")
    installer = Installer(layout, WindowsServiceManager(layout, RecordingScm()), WindowsAccess(RecordingAcl(elevated=False)),
                          command=lambda _: ["python.exe"])
    outcome = installer.install()
    assert outcome.exit_code == 4
    assert outcome.message == '✗ Administrator rights required. Right-click the terminal and choose "Run as administrator".'
