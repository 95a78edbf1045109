"""Admin password through a real pseudo-terminal (admin-cli.md §3, §15): first run, 3 wrong passwords,
lockout across launches and its reset, change, idle timeout, Ctrl+C. Real argon2id hashing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pexpect
import pytest
from argon2 import extract_parameters

from .env import PASSWORD, AdminEnv

NEW_PASSWORD = "a brand new secret"


def audit_actions(env: AdminEnv) -> list[str]:
    """Audit entries (the database when there is one, else the config directory's audit.log)."""
    db = env.data / "risk.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            return [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY id")]
    path = env.config / "audit.log"
    if not path.exists():
        return []
    return [json.loads(line)["action"] for line in path.read_text().splitlines()]


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None
    return child.exitstatus


@pytest.fixture
def fresh(tmp_path: Path) -> AdminEnv:
    env = AdminEnv(tmp_path / "fresh", with_password=False, daemon=False, sim=False)
    return env


@pytest.fixture
def secured(tmp_path: Path) -> AdminEnv:
    return AdminEnv(tmp_path / "secured", daemon=False, sim=False)


def test_first_run_setup_asks_twice_with_the_rules_then_saves_an_argon2id_hash(fresh: AdminEnv) -> None:
    child = fresh.spawn()
    child.expect_exact("First-time setup")
    child.expect_exact("New admin password: ")
    child.sendline("short")
    child.expect_exact("Repeat password:    ")
    child.sendline("short")
    child.expect_exact("Too short: at least 10 characters.")
    child.expect_exact("New admin password: ")
    child.sendline("          ")
    child.expect_exact("Repeat password:    ")
    child.sendline("          ")
    child.expect_exact("The password cannot be only whitespace.")
    child.expect_exact("New admin password: ")
    child.sendline(PASSWORD)
    child.expect_exact("Repeat password:    ")
    child.sendline(PASSWORD + "x")
    child.expect_exact("The passwords do not match.")
    child.expect_exact("New admin password: ")
    child.sendline(PASSWORD)
    child.expect_exact("Repeat password:    ")
    child.sendline(PASSWORD)
    child.expect_exact("Admin password saved.")
    child.expect_exact("Select [0-7]: ")
    transcript = child.before
    child.sendline("0")
    child.expect_exact("Goodbye.")
    assert finish(child) == 0
    assert PASSWORD not in transcript  # hidden prompts never echo
    encoded = (fresh.config / "admin_password.hash").read_text().strip()
    params = extract_parameters(encoded)
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert (params.memory_cost, params.time_cost, params.parallelism, params.salt_len) == (65536, 3, 4, 16)
    assert "password_set" in audit_actions(fresh)


def test_first_run_is_refused_for_a_setup_subcommand_when_a_password_exists(secured: AdminEnv) -> None:
    result = secured.run(
        "password", "setup", "--new-password-stdin", stdin="another password 1\n", password=False
    )
    assert result.returncode == 4, result.stdout + result.stderr
    assert "already set" in result.stderr


def test_three_wrong_passwords_exit_3_and_count(secured: AdminEnv) -> None:
    child = secured.spawn()
    for left in ("2 attempts left.", "1 attempt left."):
        child.expect_exact("Admin password: ")
        child.sendline("not the password")
        child.expect_exact(f"Wrong password. {left}")
    child.expect_exact("Admin password: ")
    child.sendline("still not it")
    child.expect_exact("Access denied: too many wrong passwords.")
    child.expect_exact('Forgot it? An OS administrator can run "risk-manager admin password reset".')
    assert finish(child) == 3
    state = json.loads((secured.config / "admin_auth_state.json").read_text())
    assert state == {"failures": 3, "locked_until": None}
    assert audit_actions(secured).count("login_failed") == 3


def test_ten_failures_across_launches_lock_and_reset_clears_it(secured: AdminEnv) -> None:
    # 9 failed launches of a scripted command (one attempt each) ...
    for _ in range(9):
        result = secured.run(
            "status", stdin="", password=False, env=secured.env(RISK_MANAGER_ADMIN_PASSWORD="nope nope")
        )
        assert result.returncode == 3
        assert "Wrong password." in result.stderr
    # ... the 10th locks the console for 15 minutes
    result = secured.run("status", password=False, env=secured.env(RISK_MANAGER_ADMIN_PASSWORD="nope nope"))
    assert result.returncode == 3
    assert "Admin console locked after repeated wrong passwords. Try again in 1" in result.stderr
    # while locked even the right password is not checked, and the menu does not prompt
    assert secured.run("status").returncode == 3
    child = secured.spawn()
    child.expect_exact("Admin console locked after repeated wrong passwords. Try again in ")
    child.expect_exact('or ask an OS administrator to run "risk-manager admin password reset".')
    assert "Admin password: " not in (child.before or "")
    assert finish(child) == 3
    assert "login_locked" in audit_actions(secured)
    # an OS administrator resets it (typed RESET, new password twice)
    child = secured.spawn("password", "reset")
    child.expect_exact("This replaces the admin password.")
    child.expect_exact("Type RESET to continue: ")
    child.sendline("RESET")
    child.expect_exact("New admin password: ")
    child.sendline(NEW_PASSWORD)
    child.expect_exact("Repeat password:    ")
    child.sendline(NEW_PASSWORD)
    child.expect_exact("Admin password reset.")
    assert finish(child) == 0
    assert json.loads((secured.config / "admin_auth_state.json").read_text())["failures"] == 0
    ok = secured.run(
        "accounts", "list", password=False, env=secured.env(RISK_MANAGER_ADMIN_PASSWORD=NEW_PASSWORD)
    )
    assert ok.returncode == 0, ok.stderr
    assert "password_reset" in audit_actions(secured)


def test_reset_needs_the_typed_word(secured: AdminEnv) -> None:
    child = secured.spawn("password", "reset")
    child.expect_exact("Type RESET to continue: ")
    child.sendline("reset")
    child.expect_exact("Cancelled: confirmation did not match.")
    assert finish(child) == 1
    assert secured.run("accounts", "list").returncode == 0  # unchanged


def test_change_password_from_the_menu(secured: AdminEnv) -> None:
    child = secured.spawn()
    child.expect_exact("Admin password: ")
    child.sendline(PASSWORD)
    child.expect_exact("Select [0-7]: ")
    child.sendline("7")
    child.expect_exact("Current password: ")
    child.sendline("wrong current one")
    child.expect_exact("Wrong password.")
    child.expect_exact("Press Enter to continue")
    child.sendline("")
    child.expect_exact("Select [0-7]: ")
    child.sendline("7")
    child.expect_exact("Current password: ")
    child.sendline(PASSWORD)
    child.expect_exact("New admin password: ")
    child.sendline(PASSWORD)
    child.expect_exact("Repeat password:    ")
    child.sendline(PASSWORD)
    child.expect_exact("The new password must differ from the current one.")
    child.expect_exact("New admin password: ")
    child.sendline(NEW_PASSWORD)
    child.expect_exact("Repeat password:    ")
    child.sendline(NEW_PASSWORD)
    child.expect_exact("Password changed.")
    child.expect_exact("Press Enter to continue")
    child.sendline("")
    child.expect_exact("Select [0-7]: ")
    child.sendline("0")
    assert finish(child) == 0
    assert (
        secured.run(
            "status", password=False, env=secured.env(RISK_MANAGER_ADMIN_PASSWORD=PASSWORD)
        ).returncode
        == 3
    )
    actions = audit_actions(secured)
    assert "password_changed" in actions and "login_failed" in actions


def test_idle_timeout_locks_the_screen_and_asks_again(secured: AdminEnv) -> None:
    child = secured.spawn(env=secured.env(RISK_MANAGER_ADMIN_IDLE_S="1"))
    child.expect_exact("Admin password: ")
    child.sendline(PASSWORD)
    child.expect_exact("Select [0-7]: ")
    child.expect_exact("the console is locked.")  # nothing typed for the (shortened) idle timeout
    child.expect_exact("Admin password: ")
    child.sendline(PASSWORD)
    child.expect_exact("Access granted.")
    child.expect_exact("Select [0-7]: ")
    child.sendline("0")
    assert finish(child) == 0


def test_ctrl_c_exits_130(secured: AdminEnv) -> None:
    child = secured.spawn()
    child.expect_exact("Admin password: ")
    child.sendline(PASSWORD)
    child.expect_exact("Select [0-7]: ")
    child.sendintr()
    child.expect_exact("Cancelled by user.")
    assert finish(child) == 130
