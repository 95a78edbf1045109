"""The menus through a real pseudo-terminal against a real simulator and daemon (admin-cli.md §15):
adding an account from the broker's list, a key change with a wrong key, rule edits (re-asked
values, diff, backup, audit, live apply), a rejected reload with restore, and unlocking."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import pexpect

from risk_manager.admin.daemon_client import DaemonClient
from risk_manager.config.loader import load_config

from .env import PASSWORD, AdminEnv


def login(env: AdminEnv) -> pexpect.spawn:
    child = env.spawn()
    child.expect_exact("Admin password: ")
    child.sendline(PASSWORD)
    child.expect_exact("Access granted.")
    child.expect_exact("Select [0-7]: ")
    return child


def leave(child: pexpect.spawn, *backs: str) -> int:
    """Go back through the given prompts with 0, then exit the main menu."""
    for prompt in backs:
        child.expect_exact(prompt)
        child.sendline("0")
    child.expect_exact("Select [0-7]: ")
    child.sendline("0")
    child.expect_exact("Goodbye.")
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus or 0)


def snapshot(env: AdminEnv) -> dict[str, Any]:
    with DaemonClient(env.api_url).open() as client:
        return client.snapshot


def account(env: AdminEnv, account_id: int) -> dict[str, Any] | None:
    return next((a for a in snapshot(env).get("accounts", []) if a["accountId"] == account_id), None)


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)  # polling a real server is the condition, not a sleep
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def audit_rows(env: AdminEnv, action: str) -> list[sqlite3.Row]:
    with sqlite3.connect(env.data / "risk.db") as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM audit_log WHERE action = ? ORDER BY id", (action,)).fetchall()


def test_add_an_account_from_the_brokers_list_then_remove_it(live: AdminEnv) -> None:
    child = login(live)
    child.sendline("2")
    child.expect_exact("Account Management")
    child.expect_exact("Select [0-7]: ")
    child.sendline("2")
    child.expect_exact("Login # or n for a new login: ")
    child.sendline("1")
    child.expect_exact("Signed in")
    child.expect_exact("3 active accounts")
    child.expect_exact("Accounts to add (e.g. 1,3 or all): ")
    listing = child.before
    assert re.search(r"1001\s+SIM-50K-1001.*already added", listing)
    assert re.search(r"1002\s+SIM-50K-1002", listing) and not re.search(r"1002.*already added", listing)
    child.sendline("2")
    child.expect_exact("Nickname [SIM-50K-1002]: ")
    child.sendline("PA 100K")
    child.expect_exact("Mode: 1 enforce  2 observe-only [1]: ")
    child.sendline("2")
    child.expect_exact("Save? [y/N]: ")
    child.sendline("y")
    child.expect_exact("Saved (backup accounts.")
    child.expect_exact("Applied live at")
    child.expect_exact("Added 1002 (observe-only)")
    child.expect_exact("Press Enter to continue")
    child.sendline("")
    child.expect(r"1002\s+PA 100K\s+trader1")
    text = (live.config / "accounts.yaml").read_text()
    assert "# a short label for this login" in text  # comments survive
    assert re.search(r"- id: 1002\n\s+name: PA 100K\n\s+enabled: true\n\s+observe_only: true", text)
    live_account = wait_for(lambda: account(live, 1002), 10, "account 1002 in the daemon")
    assert live_account["mode"] == "observe"
    assert audit_rows(live, "account_added")
    # adding it again is refused
    child.expect_exact("Select [0-7]: ")
    child.sendline("7")
    child.expect_exact("Account # or ID: ")
    child.sendline("1002")
    child.expect_exact("Type the account ID to confirm: ")
    child.sendline("1003")
    child.expect_exact("Cancelled: confirmation did not match.")
    child.expect_exact("Press Enter to continue")
    child.sendline("")
    child.expect_exact("Select [0-7]: ")
    child.sendline("7")
    child.expect_exact("Account # or ID: ")
    child.sendline("1002")
    child.expect_exact("Type the account ID to confirm: ")
    child.sendline("1002")
    child.expect_exact("Account 1002 removed.")
    child.expect_exact("Press Enter to continue")
    child.sendline("")
    assert leave(child, "Select [0-7]: ") == 0
    assert "1002" not in (live.config / "accounts.yaml").read_text()
    assert audit_rows(live, "account_removed")


def test_a_new_key_that_fails_to_sign_in_is_not_saved(live: AdminEnv) -> None:
    before = (live.config / "secrets.yaml").read_bytes()
    child = login(live)
    child.sendline("2")
    child.expect_exact("Select [0-7]: ")
    child.sendline("3")
    child.expect_exact("Login #: ")
    child.sendline("1")
    child.expect_exact("API key: ••••cdef")
    child.expect_exact("1 change API key  2 change user name  0 back: ")
    child.sendline("1")
    child.expect_exact("New API key: ")
    child.sendline("wrong-key-123")
    child.expect_exact("Sign-in failed: the broker rejected the user name or API key")
    child.expect_exact("Save anyway? The daemon will not be able to protect these accounts. [y/N]: ")
    child.sendline("")
    child.expect_exact("The API key was not changed.")
    transcript = child.before
    child.expect_exact("Press Enter to continue")
    child.sendline("")
    assert leave(child, "Select [0-7]: ") == 0
    assert "wrong-key-123" not in transcript
    assert (live.config / "secrets.yaml").read_bytes() == before
    refused = audit_rows(live, "account_edited")
    assert refused and refused[-1]["outcome"] == "refused: sign-in failed"
    assert "wrong-key" not in str(dict(refused[-1]))


def test_rule_edit_reasks_invalid_values_saves_with_backup_and_audit_and_applies_live(live: AdminEnv) -> None:
    backups_before = (
        set((live.config / "backups").glob("risk_config.*.yaml"))
        if (live.config / "backups").exists()
        else set()
    )
    child = login(live)
    child.sendline("3")
    child.expect_exact("Rule Configuration — scope: Defaults")
    child.expect_exact("Select [0-6]: ")
    child.sendline("1")
    child.expect_exact("Rule # [1-15]: ")
    child.sendline("1")
    child.expect_exact("Rule 1 — Max contracts (scope: Defaults)")
    child.expect_exact("Field # to change, s = review & save, x = discard: ")
    child.sendline("2")
    child.expect_exact("Limit [5]: ")
    child.sendline("five")
    child.expect_exact("Rule 1 › limit: must be a whole number")
    child.expect_exact("Limit [5]: ")
    child.sendline("0")
    child.expect_exact("Rule 1 › limit: must be at least 1")
    child.expect_exact("Limit [5]: ")
    child.sendline("1")
    child.expect_exact("Field # to change, s = review & save, x = discard: ")
    child.sendline("s")
    child.expect_exact("Changes to risk_config.yaml (Defaults › max_contracts)")
    child.expect_exact("- limit: 5")
    child.expect_exact("+ limit: 1")
    child.expect_exact("Reason for this change (optional, kept in the audit log): ")
    child.sendline("tighter after Tuesday")
    child.expect_exact("Save 1 change? [y/N]: ")
    child.sendline("y")
    child.expect(r"Saved \(backup (risk_config\.\d{8}T\d{6}Z(?:-\d+)?\.yaml)\)")
    backup = child.match.group(1)
    child.expect_exact("Applied live at")
    child.expect_exact("Press Enter to continue")
    child.sendline("")
    assert leave(child, "Select [0-6]: ") == 0

    text = (live.config / "risk_config.yaml").read_text()
    assert re.search(r"limit: 1 +# keep this comment", text)  # the edited line keeps its comment
    assert text.startswith("# risk_config.yaml for the admin console tests")
    assert (live.config / "backups" / backup).exists()
    assert "limit: 5" in (live.config / "backups" / backup).read_text()
    assert set((live.config / "backups").glob("risk_config.*.yaml")) - backups_before
    row = audit_rows(live, "rule_changed")[-1]
    assert row["reason"] == "tighter after Tuesday"
    assert '"limit":"5"' in row["before"] and '"limit":"1"' in row["after"]
    assert backup in row["target"]
    load_config(live.config)  # what was saved validates

    # the daemon applies it live: 2 contracts now breach the limit of 1 and are closed
    live.sim.quote("MNQ", 24500.00, 24500.25)
    live.sim.order(1001, "MNQ", "buy", 2)
    wait_for(lambda: not live.sim.positions(1001), 10, "the daemon closing the 2 MNQ (limit now 1)")
    # restore the previous version (the console's own subcommand), the limit is 5 again
    result = live.run("config", "restore", "--previous", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Applied live at" in result.stdout
    assert re.search(r"limit: 5 +# keep this comment", (live.config / "risk_config.yaml").read_text())
    assert audit_rows(live, "config_restored")


def test_rejected_reload_keeps_the_old_config_and_offers_restore(live: AdminEnv) -> None:
    assert live.run("rules", "set", "3", "loss_limit", "450").returncode == 0  # a change with a backup
    path = live.config / "risk_config.yaml"
    path.write_text(path.read_text().replace("loss_limit: 450.00", "loss_limit: -5"))  # a bad manual edit
    child = login(live)
    child.sendline("3")
    child.expect_exact("The configuration on disk is invalid")
    child.expect_exact("Select [0-6]: ")
    child.sendline("5")
    child.expect_exact(
        "The daemon rejected the new configuration: risk_config.yaml › "
        "rules.daily_realized_loss.loss_limit (line "
    )
    child.expect_exact("It keeps running with the previous one.")
    child.expect_exact("Restore the previous version on disk? [Y/n]: ")
    child.sendline("")
    child.expect(r"-\s+loss_limit: -5\s+\+\s+loss_limit: 500\.00")
    child.expect_exact("Restore this version? [y/N]: ")
    child.sendline("y")
    child.expect_exact("Saved (backup risk_config.")
    child.expect_exact("Applied live at")
    child.expect_exact("Press Enter to continue")
    child.sendline("")
    assert leave(child, "Select [0-6]: ") == 0
    config = load_config(live.config)
    assert str(config.risk.rules.daily_realized_loss.loss_limit) in ("500.0", "500.00", "500")
    assert snapshot(live)["state"] == "running"
    assert audit_rows(live, "reload_rejected")
    assert audit_rows(live, "config_restored")


def test_unlock_with_a_reason_clears_the_lockout_and_is_logged(live: AdminEnv) -> None:
    sim = live.sim
    # RULE-011 on 1001 (RTY is blocked): the cause stays true
    sim.quote("RTY", 2450.0, 2450.1)
    sim.order(1001, "RTY", "buy", 1)
    # RULE-003 on 1003 (override: loss limit 5.00): a losing round trip
    sim.quote("MNQ", 24500.00, 24500.25)
    sim.order(1003, "MNQ", "buy", 1)
    sim.quote("MNQ", 24480.00, 24480.25)
    sim.order(1003, "MNQ", "sell", 1)
    wait_for(lambda: (account(live, 1001) or {}).get("lockouts"), 10, "RTY lockout on 1001")
    wait_for(lambda: (account(live, 1003) or {}).get("lockouts"), 10, "RULE-003 lockout on 1003")

    child = login(live)
    child.sendline("6")
    child.expect_exact("Lockouts")
    child.expect(r"1\s+1001\s+11 Symbol blocks\s+symbol RTY")
    child.expect(r"2\s+1003\s+3 Daily realized")
    child.expect_exact("Select [0-3]: ")
    child.sendline("1")
    child.expect_exact("Lockout # (or a for all of one account): ")
    child.sendline("1")
    child.expect_exact("The condition is still true; the rule will lock again at the next event.")
    child.expect_exact("Reason (required, at least 10 characters): ")
    child.sendline("too short")
    child.expect_exact("The reason must be at least 10 characters.")
    child.expect_exact("Reason (required, at least 10 characters): ")
    child.sendline("RTY allowed for the test")
    child.expect_exact("Unlock 1 lockout on 1001? Trading becomes possible immediately. [y/N]: ")
    child.sendline("y")
    child.expect_exact("Unlocked. Logged as manual unlock by ")
    child.expect_exact(': "RTY allowed for the test".')
    child.expect_exact("Press Enter to continue")
    child.sendline("")
    child.expect(r"1\s+1003\s+3 Daily realized")
    child.expect_exact("Select [0-3]: ")
    child.sendline("1")
    child.expect_exact("Lockout # (or a for all of one account): ")
    child.sendline("a")
    child.expect_exact("Account ID: ")
    child.sendline("1003")
    child.expect_exact("Reason (required, at least 10 characters): ")
    child.sendline("mentor approved the reset")
    child.expect_exact("Unlock 1 lockout on 1003? Trading becomes possible immediately. [y/N]: ")
    child.sendline("y")
    child.expect_exact('"mentor approved the reset".')
    child.expect_exact("Press Enter to continue")
    child.sendline("")
    child.expect_exact("No active lockouts.")
    assert leave(child, "Select [0-3]: ") == 0

    assert not account(live, 1003)["lockouts"] and not account(live, 1001)["lockouts"]
    result = live.run("enforcement", "--account", "1003", "--json")
    assert result.returncode == 0, result.stderr
    assert '"action": "unlock"' in result.stdout and "mentor approved the reset" in result.stdout
    rows = audit_rows(live, "lockout_unlocked")
    assert {r["reason"] for r in rows} >= {"RTY allowed for the test", "mentor approved the reset"}


def test_connection_testing_logs_and_service_screens(live: AdminEnv, tmp_path) -> None:  # type: ignore[no-untyped-def]
    child = login(live)
    # 4 Connection Testing: run all, then do not run again
    child.sendline("4")
    child.expect_exact("Select [0-4]: ")
    child.sendline("1")
    child.expect(r"Market hub trader1\s+✓")
    child.expect_exact("0 failed, 0 warnings, 6 passed")
    child.expect_exact("Run again? [Y/n]: ")
    child.sendline("n")
    child.expect_exact("Select [0-4]: ")
    child.sendline("0")
    # 5 View Logs: daemon log, live follow of a new record, Ctrl+C back to the menu
    child.expect_exact("Select [0-7]: ")
    child.sendline("5")
    child.expect_exact("Select [0-4]: ")
    child.sendline("1")
    for prompt in ("Level [INFO]: ", "Account [all]: ", "Rule [all]: "):
        child.expect_exact(prompt)
        child.sendline("")
    child.expect_exact("Text contains []: ")
    child.sendline("local API listening")
    child.expect(r"INFO\s+-\s+-\s+local API listening on ws://127\.0\.0\.1:\d+")
    child.expect_exact("f = follow, m = more, Enter = back: ")
    child.sendline("f")
    child.expect_exact("Following new lines; press Ctrl+C to stop.")
    child.sendline("")  # (ignored while following)
    live.sim.quote("RTY", 2450.0, 2450.1)
    live.sim.order(1001, "RTY", "buy", 1)  # RULE-011: a WARNING line about the lockout ...
    wait_for(lambda: (account(live, 1001) or {}).get("lockouts"), 10, "RTY lockout on 1001")
    child.sendintr()
    child.expect_exact("Select [0-4]: ")  # ... but it does not match the text filter: nothing shown
    child.sendline("1")
    for answer in ("WARNING", "1001", "RULE-011", ""):
        child.expect(r"\]: ")
        child.sendline(answer)
    child.expect(r"WARNING\s+1001\s+RULE-011\s+lockout permanent")
    child.expect_exact("f = follow, m = more, Enter = back: ")
    child.sendline("")
    # enforcement log of 1001, then its export
    child.expect_exact("Select [0-4]: ")
    child.sendline("2")
    child.expect_exact("Account [all]: ")
    child.sendline("1001")
    for prompt in ("Rule [all]: ", "From date [", "To date [today]: ", "Action [all]: "):
        child.expect_exact(prompt)
        child.sendline("")
    child.expect(r"1001\s+RULE-011\s+close_position\s+done\s+")
    child.expect_exact("n = next, p = previous, Enter = back: ")
    child.sendline("")
    child.expect_exact("Select [0-4]: ")
    child.sendline("4")
    child.expect_exact("Format csv or json [csv]: ")
    child.sendline("")
    child.expect_exact("File [")
    out = tmp_path / "enforcement.csv"
    child.sendline(str(out))
    child.expect(r"Exported (\d+) rows to ")
    count = int(child.match.group(1))
    child.expect_exact("Press Enter to continue")
    child.sendline("")
    lines = out.read_text().splitlines()
    assert lines[0].startswith("time,account,rule,action,result,reason") and len(lines) == count + 1 >= 2
    # audit log filtered by action
    child.expect_exact("Select [0-4]: ")
    child.sendline("3")
    child.expect_exact("Action [all]: ")
    child.sendline("connection_test")
    child.expect_exact("From date []: ")
    child.sendline("")
    child.expect(r"connection_test\s+config,daemon")
    child.expect_exact("n = next, p = previous, Enter = back: ")
    child.sendline("")
    child.expect_exact("Select [0-4]: ")
    child.sendline("0")
    # 1 Service Control: console mode, start/stop disabled, recent logs
    child.expect_exact("Select [0-7]: ")
    child.sendline("1")
    child.expect_exact("RUNNING (console mode, PID ")
    child.expect_exact("Start, Stop and Restart are disabled")
    child.expect_exact("Select [0-6]: ")
    child.sendline("2")
    child.expect_exact("The daemon runs in a console window; stop it there (Ctrl+C).")
    child.expect_exact("Press Enter to continue")
    child.sendline("")
    child.expect_exact("Select [0-6]: ")
    child.sendline("4")
    child.expect_exact("f = follow, Enter = back: ")
    child.sendline("")
    assert leave(child, "Select [0-6]: ") == 0
    assert live.run("unlock", "1001", "--reason", "clean up after the test").returncode == 0


def test_disabling_a_core_rule_needs_the_typed_weaken(live: AdminEnv) -> None:
    risk = live.config / "risk_config.yaml"
    before = risk.read_bytes()
    child = login(live)
    child.sendline("3")
    for word, saved in (("weaken", False), ("WEAKEN", True)):
        child.expect_exact("Select [0-6]: ")
        child.sendline("2")
        child.expect_exact("Rule # [1-15]: ")
        child.sendline("1")
        child.expect_exact("- enabled: true")
        child.expect_exact("+ enabled: false")
        child.expect_exact("Weaker protection: Max contracts is turned OFF.")
        child.expect_exact("Reason for this change (optional, kept in the audit log): ")
        child.sendline("")
        child.expect_exact("Save 1 change? [y/N]: ")
        child.sendline("y")
        child.expect_exact("This weakens protection. Type WEAKEN to confirm: ")
        child.sendline(word)
        if not saved:
            child.expect_exact("Cancelled: confirmation did not match.")
            assert risk.read_bytes() == before
        else:
            child.expect_exact("Applied live at")
        child.expect_exact("Press Enter to continue")
        child.sendline("")
    assert load_config(live.config).risk.rules.max_contracts.enabled is False
    child.expect_exact("Select [0-6]: ")
    child.sendline("2")  # enabling again is not a weakening: no WEAKEN asked
    child.expect_exact("Rule # [1-15]: ")
    child.sendline("1")
    child.expect_exact("Reason for this change (optional, kept in the audit log): ")
    child.sendline("back on")
    child.expect_exact("Save 1 change? [y/N]: ")
    child.sendline("y")
    child.expect_exact("Applied live at")
    child.expect_exact("Press Enter to continue")
    child.sendline("")
    assert leave(child, "Select [0-6]: ") == 0
    assert load_config(live.config).risk.rules.max_contracts.enabled is True
