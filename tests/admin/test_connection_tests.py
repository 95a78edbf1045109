"""Connection Testing (admin-cli.md §9, §15): every test passes against the simulator, and each one
fails with its reason under the simulator's faults (or a broken file, a missing database, no daemon)."""

from __future__ import annotations

import re
import sys

import pytest

from risk_manager.store.migrations import LATEST_VERSION as SCHEMA_VERSION

from .env import USER, AdminEnv

OK = "✓"
FAIL = "✗"


def row(stdout: str, name: str, mark: str, detail: str = "") -> None:
    pattern = rf"{re.escape(name)}\s+{re.escape(mark)}\s+\S+(?: \S+)?\s+.*{re.escape(detail)}"
    flat = re.sub(r"\s+", " ", stdout)  # a long detail may wrap in the table
    assert re.search(pattern, flat), f"no row {name!r} {mark} {detail!r} in:\n{stdout}"


def test_every_test_passes_against_the_simulator_and_daemon(live: AdminEnv) -> None:
    result = live.run("test")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    row(out, "Config", OK, "3 files valid")
    row(out, "Database", OK, f"schema {SCHEMA_VERSION}")
    row(out, "Daemon", OK, "protocol 1")
    row(out, f"REST sign-in {USER}", OK, "3 accounts visible")
    row(out, f"User hub {USER}", OK, "subscribed 1001, 1003")
    row(out, f"Market hub {USER}", OK, "quote received")
    assert "0 failed, 0 warnings, 6 passed" in out
    assert "key-1" not in out  # never a key


POSIX_MODES = pytest.mark.skipif(
    sys.platform == "win32", reason="file modes; Windows uses ACLs set by the installer"
)


@POSIX_MODES
def test_local_tests_fail_with_their_reasons(offline: AdminEnv) -> None:
    accounts = offline.config / "accounts.yaml"
    accounts.write_text(accounts.read_text().replace("- id: 1001", "- id: abc"))
    (offline.config / "secrets.yaml").chmod(0o644)
    result = offline.run("test", "--only", "config,database,daemon")
    assert result.returncode == 8, result.stdout + result.stderr
    row(
        result.stdout,
        "Config",
        FAIL,
        "accounts.yaml › logins[0].accounts[0].id (line 14): expected an integer",
    )
    row(result.stdout, "Database", FAIL, "file not found")
    row(result.stdout, "Daemon", FAIL, "connection refused (daemon not running)")
    assert "3 failed, 0 warnings, 0 passed" in result.stdout


@POSIX_MODES
def test_secrets_readable_by_everybody_fails_the_config_test(offline: AdminEnv) -> None:
    (offline.config / "secrets.yaml").chmod(0o644)
    result = offline.run("test", "--only", "config")
    assert result.returncode == 8
    row(result.stdout, "Config", FAIL, "secrets.yaml is readable by every user (mode 0644)")
    assert "run install again to fix permissions" in result.stdout


def test_rejected_sign_in_skips_the_hubs(offline: AdminEnv) -> None:
    assert offline.sim is not None
    offline.sim.control(
        "POST", "/faults", {"kind": "fail_rest", "path": "/api/Auth/loginKey", "mode": "http_401"}
    )
    result = offline.run("test", "--only", "rest,user-hub,market-hub")
    assert result.returncode == 8, result.stdout + result.stderr
    row(
        result.stdout, f"REST sign-in {USER}", FAIL, "the broker rejected the user name or API key (HTTP 401)"
    )
    row(result.stdout, f"User hub {USER}", "–", "skipped (sign-in failed)")
    row(result.stdout, f"Market hub {USER}", "–", "skipped (sign-in failed)")


def test_rate_limited_sign_in(offline: AdminEnv) -> None:
    assert offline.sim is not None
    offline.sim.control(
        "POST", "/faults", {"kind": "rate_limit", "path": "/api/Auth/loginKey", "retry_after_s": 30}
    )
    result = offline.run("test", "--only", "rest")
    assert result.returncode == 8
    row(result.stdout, f"REST sign-in {USER}", FAIL, "rate limited (HTTP 429)")


def test_account_the_broker_does_not_list(offline: AdminEnv) -> None:
    accounts = offline.config / "accounts.yaml"
    accounts.write_text(accounts.read_text().replace("- id: 1003", "- id: 9999"))
    result = offline.run("test", "--only", "rest")
    assert result.returncode == 8
    row(
        result.stdout,
        f"REST sign-in {USER}",
        FAIL,
        "account 9999 not returned by the broker (inactive or other login)",
    )


def test_user_hub_outage(offline: AdminEnv) -> None:
    assert offline.sim is not None
    offline.sim.control("POST", "/faults", {"kind": "hub_outage", "hub": "user", "duration_s": 60})
    result = offline.run("test", "--only", "rest,user-hub")
    assert result.returncode == 8, result.stdout + result.stderr
    row(result.stdout, f"REST sign-in {USER}", OK)
    row(result.stdout, f"User hub {USER}", FAIL, "negotiate: HTTP 503")


def test_market_hub_outage_and_a_silent_market(offline: AdminEnv) -> None:
    assert offline.sim is not None
    fault = offline.sim.control("POST", "/faults", {"kind": "hub_outage", "hub": "market", "duration_s": 60})
    result = offline.run("test", "--only", "market-hub")
    assert result.returncode == 8, result.stdout + result.stderr
    row(result.stdout, f"Market hub {USER}", FAIL, "negotiate: HTTP 503")
    offline.sim.control("DELETE", f"/faults/{fault['id']}")
    # a closed market: no quote on subscription, no market events
    offline.sim.control("POST", "/settings", {"quote_on_subscribe": False})
    offline.sim.control("POST", "/faults", {"kind": "pause_market_data", "duration_s": 60})
    result = offline.run("test", "--only", "market-hub")
    assert result.returncode == 0, result.stdout + result.stderr  # a warning only
    row(result.stdout, f"Market hub {USER}", "!", "connected, no quote in 5 s (market may be closed)")
    assert "0 failed, 1 warning, 0 passed" in result.stdout
