"""Signals, hot reload and file permissions as spec/daemon.md §8 says (issue 8, section 7), with real
daemon processes against a real simulator."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from risk_manager.daemon.logs.files import log_enforcement, setup_logging
from risk_manager.exit_codes import EXIT_INVALID_CONFIG

from .conftest import Stack
from .harness import ApiClient, daemon_command, wait_until
from .rulesets import PER_ACCOUNT, accounts_for

MakeStack = Callable[..., Stack]
MAX_TWO = PER_ACCOUNT[2001]  # max_contracts limit 2, close_all


def _accounts_file(stack: Stack) -> dict[str, Any]:
    return json.loads((stack.config_dir / "accounts.yaml").read_text(encoding="utf-8"))


def _write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


async def _account_ids(api: ApiClient) -> list[int]:
    return sorted(a["accountId"] for a in (await api.snapshot())["accounts"])


async def test_sighup_reloads_and_hot_reload_applies_accounts_logins_and_keys(make_stack: MakeStack) -> None:
    users = {"first": ("first-key", [3201, 3202]), "second": ("second-key", [3203])}
    stack = make_stack(users, {3201: MAX_TWO, 3202: MAX_TWO, 3203: MAX_TWO})
    accounts = _accounts_file(stack)
    accounts["logins"] = [accounts["logins"][0]]  # start with the first login only...
    accounts["logins"][0]["accounts"] = accounts_for([3201], {3201: MAX_TWO})  # ...and one account
    _write(stack.config_dir / "accounts.yaml", accounts)
    secrets_path = stack.config_dir / "secrets.yaml"
    _write(secrets_path, {"api_keys": {"first": "first-key", "second": "wrong-key"}})
    daemon = stack.start_daemon()
    pid = daemon.proc.p.pid
    async with ApiClient(daemon.api_url) as api:
        assert await _account_ids(api) == [3201]
        # Add an account to the first login and the second login (with a key the broker refuses).
        accounts["logins"][0]["accounts"] = accounts_for([3201, 3202], {3201: MAX_TWO, 3202: MAX_TWO})
        accounts["logins"].append({"name": "second", "user_name": "second", "accounts": accounts_for([3203])})
        _write(stack.config_dir / "accounts.yaml", accounts)
        os.kill(pid, signal.SIGHUP)
        await api.wait_for(
            lambda m: m.get("type") == "connection" and m.get("accountId") == 3202 and m["data"]["protection"] == "protected",
            15,
            "the added account protected",
        )
        await api.wait_for(
            lambda m: m.get("type") == "connection" and m.get("accountId") == 3203 and m["data"]["protection"] == "auth_failed",
            15,
            "the new login refused with the wrong key",
        )
        assert await _account_ids(api) == [3201, 3202, 3203]
        # The added account is enforced.
        stack.sim.order(3202, "MNQ", "buy", 3)
        wait_until(lambda: stack.sim.positions(3202) == {}, 10, "3202 enforced after the reload")
        # Rotate the key of the second login: it signs in again with the new one.
        _write(secrets_path, {"api_keys": {"first": "first-key", "second": "second-key"}})
        os.kill(pid, signal.SIGHUP)
        await api.wait_for(
            lambda m: m.get("type") == "connection" and m.get("accountId") == 3203 and m["data"]["protection"] == "protected",
            15,
            "the second login signed in with the rotated key",
        )
        # Remove the first account: it is no longer watched.
        accounts["logins"][0]["accounts"] = accounts_for([3202], {3202: MAX_TWO})
        _write(stack.config_dir / "accounts.yaml", accounts)
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + 15  # status is not rate-limited; the condition is the daemon's own count
        while (await api.request("status"))["data"]["accounts"] != 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # polling interval, not synchronisation
        assert await _account_ids(api) == [3202, 3203]
    assert daemon.proc.p.poll() is None, "SIGHUP must reload, not end the daemon"
    logs = (daemon.workdir / "logs" / "daemon.log").read_text(encoding="utf-8")
    assert "configuration reloaded on SIGHUP" in logs
    assert "second-key" not in logs and "wrong-key" not in logs  # the redaction learned both keys
    assert daemon.stop() == 0
    db = sqlite3.connect(daemon.workdir / "data" / "risk.db")
    try:
        rows = db.execute("SELECT actor, outcome FROM audit_log WHERE action = 'config_reloaded'").fetchall()
    finally:
        db.close()
    assert rows == [("SIGHUP", "ok")] * 3


def _start_expecting_exit(stack: Stack, workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(daemon_command(stack.config_dir, workdir), capture_output=True, text=True, timeout=60)


def test_readable_secrets_or_password_hash_refuse_the_start(make_stack: MakeStack, tmp_path: Path) -> None:
    stack = make_stack({"perm": ("perm-key", [3211])}, {3211: MAX_TWO})
    secrets = stack.config_dir / "secrets.yaml"
    secrets.chmod(0o644)
    done = _start_expecting_exit(stack, tmp_path / "a")
    assert done.returncode == EXIT_INVALID_CONFIG, done.stderr
    assert "secrets.yaml" in done.stderr and f"chmod 600 {secrets}" in done.stderr
    secrets.chmod(0o600)
    hash_file = stack.config_dir / "admin_password.hash"
    hash_file.write_text("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g\n", encoding="utf-8")
    hash_file.chmod(0o640)
    done = _start_expecting_exit(stack, tmp_path / "b")
    assert done.returncode == EXIT_INVALID_CONFIG, done.stderr
    assert "admin_password.hash" in done.stderr and "readable by group" in done.stderr


def test_files_the_daemon_creates_are_owner_only_whatever_the_umask(make_stack: MakeStack) -> None:
    stack = make_stack({"modes": ("modes-key", [3221])}, {3221: MAX_TWO})
    old = os.umask(0o000)  # the most permissive umask a parent could pass on
    try:
        daemon = stack.start_daemon()
    finally:
        os.umask(old)
    assert daemon.stop() == 0
    created = [daemon.workdir / "data" / "risk.db", *(daemon.workdir / "logs").glob("*")]
    assert len(created) >= 3
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in created}
    assert all(mode == 0o600 for mode in modes.values()), modes


def test_enforcement_jsonl_is_redacted_like_the_other_logs(tmp_path: Path) -> None:
    system = setup_logging(tmp_path, console=False)
    try:
        system.redactor.add("sk-live-0123456789")
        log_enforcement({"reason": "broker said: key sk-live-0123456789 refused", "state": "failed"})
        logging.getLogger("risk_manager.test").info("plain line with sk-live-0123456789")
    finally:
        system.stop()
    jsonl = (tmp_path / "enforcement.jsonl").read_text(encoding="utf-8")
    assert "sk-live-0123456789" not in jsonl and "***" in jsonl
    assert "sk-live-0123456789" not in (tmp_path / "daemon.log").read_text(encoding="utf-8")


def test_yaml_aliases_are_refused_with_their_line(make_stack: MakeStack, tmp_path: Path) -> None:
    stack = make_stack({"bomb": ("bomb-key", [3231])}, {3231: MAX_TWO})
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    (stack.config_dir / "holidays.yaml").write_text("\n".join(levels) + "\n", encoding="utf-8")
    check = subprocess.run(
        [sys.executable, "-m", "risk_manager", "config", "check", "--config-dir", str(stack.config_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 1
    assert "holidays.yaml:2" in check.stdout + check.stderr and "alias '*a'" in check.stdout + check.stderr
    done = _start_expecting_exit(stack, tmp_path / "d")
    assert done.returncode == EXIT_INVALID_CONFIG and "alias" in done.stderr
