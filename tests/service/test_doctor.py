"""``risk-manager doctor`` on a broken installation (daemon.md §12): every problem found, named, with a fix,
as text and as ``--json``; exit 1 when anything is an error."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from risk_manager.service import api
from risk_manager.service.layout import Layout

from .helpers import PY, not_root, staging_root, write_service_config

pytestmark = pytest.mark.skipif(bool(not_root()), reason=not_root() or "")

URLS = {"api_url": "http://127.0.0.1:9", "user_hub_url": "http://127.0.0.1:9/u", "market_hub_url": "http://127.0.0.1:9/m"}


@pytest.fixture
def installed() -> Iterator[Layout]:
    with staging_root() as root:
        layout = Layout.for_service(root)
        write_service_config(layout.config_dir, URLS, {"dave": ("key-dave-0004", [9401])}, api_port=9)
        assert api.install(no_start=True, root=root).exit_code == 0
        yield layout


def doctor(layout: Layout, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "risk_manager", "doctor", "--root", str(layout.root), *extra],
        capture_output=True, text=True, timeout=60, check=False,
    )


def findings(layout: Layout) -> tuple[int, dict[str, list[dict[str, str]]]]:
    proc = doctor(layout, "--json")
    report = json.loads(proc.stdout)
    grouped: dict[str, list[dict[str, str]]] = {}
    for f in report["findings"]:
        grouped.setdefault(f["check"], []).append(f)
    return proc.returncode, grouped


def statuses(grouped: dict[str, list[dict[str, str]]], check: str) -> set[str]:
    return {f["status"] for f in grouped[check]}


def test_fresh_install_only_lacks_the_running_daemon(installed: Layout) -> None:
    code, found = findings(installed)
    for check in ("directories", "permissions", "config", "secrets", "database"):
        assert statuses(found, check) == {"ok"}, found[check]
    assert statuses(found, "daemon") == {"error"}  # installed but not answering: NOT PROTECTED
    assert found["daemon"][0]["fix"] == "risk-manager service start"
    assert statuses(found, "clock") == {"warning"}  # nothing listens on the broker URL of this config
    assert code == 1


def test_broken_install(installed: Layout) -> None:
    layout = installed
    layout.secrets_path.chmod(0o644)  # secrets readable by everyone
    (layout.config_dir / "risk_config.yaml").write_text("version: 1\nrules:\n  max_contracts:\n    limit: -1\n")
    layout.db_path.write_bytes(b"this is not a database" * 200)  # corrupt
    os.chmod(layout.log_dir, 0o777)  # anyone may write the logs
    code, found = findings(layout)
    assert code == 1
    secrets = [f for f in found["secrets"] if f["message"].startswith("secrets.yaml")]
    assert secrets[0]["status"] == "error" and "readable by every user (mode 0644)" in secrets[0]["message"]
    perms = {f["message"].split(":")[0]: f for f in found["permissions"]}
    assert perms[str(layout.secrets_path)]["status"] == "error"
    assert perms[str(layout.log_dir)]["status"] == "error"
    assert all(f["fix"] == "run as administrator: risk-manager service install --repair-permissions"
               for f in found["permissions"])
    config = found["config"]
    assert config[0]["status"] == "error"
    assert config[0]["message"].startswith("risk_config.yaml › rules.max_contracts.limit (line 4): ")
    assert statuses(found, "database") == {"error"}
    assert "not a database" in found["database"][0]["message"] or "integrity" in found["database"][0]["message"]
    assert found["clock"][0]["status"] == "skipped"  # needs a valid configuration
    assert statuses(found, "daemon") == {"error"}
    # The human-readable form says the same, with the fixes.
    text = doctor(layout).stdout
    assert "✗ secrets       secrets.yaml is readable by every user (mode 0644)" in text
    assert "fix: run as administrator: risk-manager service install --repair-permissions" in text
    assert text.splitlines()[-1].endswith("error(s), 1 warning(s).")


def test_missing_directories_and_service_account(installed: Layout) -> None:
    passwd = installed.root / "etc" / "passwd"  # type: ignore[operator]
    passwd.write_text("".join(line + "\n" for line in passwd.read_text().splitlines() if not line.startswith("risk-manager:")))
    os.rename(installed.log_dir, installed.log_dir.with_name("moved"))
    code, found = findings(installed)
    assert code == 1
    assert {"status": "error", "message": f"logs directory missing: {installed.log_dir}"}.items() <= found["directories"][2].items()
    assert any("service user or group 'risk-manager' does not exist" in f["message"] for f in found["permissions"])


def test_vacuum_compacts_when_the_daemon_is_stopped(installed: Layout) -> None:
    proc = doctor(installed, "--vacuum", "--json")
    vacuum = [f for f in json.loads(proc.stdout)["findings"] if f["check"] == "vacuum"]
    assert vacuum and vacuum[0]["status"] == "ok" and "MB ->" in vacuum[0]["message"]
