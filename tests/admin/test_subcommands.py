"""Every scripted subcommand's exit code (admin-cli.md §13, §14) against the real simulator and daemon.

The table of cases runs the real command line in this process (typer's runner: the same parsing,
context, daemon connection and broker calls, without an interpreter start-up per case); the ordered
changes and the forced invalid value run as real subprocesses, as scripts use them.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from risk_manager.config.loader import load_config

from .env import KEY, PASSWORD, SECOND, SECOND_KEY, USER, AdminEnv

DEAD = "ws://127.0.0.1:9"  # nothing listens there: "daemon not reachable"


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    code: int
    text: str = ""
    stdin: str = ""
    password: bool = True
    dead: bool = False
    env: tuple[tuple[str, str], ...] = ()


CASES = (
    Case("menus need a terminal", (), 2, "The admin menus need a terminal.", password=False),
    Case(
        "no config directory",
        ("--config-dir", "/nonexistent/rm", "status"),
        7,
        "Configuration directory not found: /nonexistent/rm",
        password=False,
    ),
    Case("version", ("--version",), 0, "(config schema version 1, local API protocol 1)", password=False),
    Case("status", ("status",), 0, "Daemon ● connected"),
    Case("status json", ("status", "--json"), 0, '"mode": "console"'),
    Case("status daemon down", ("status",), 6, "Daemon not reachable", dead=True),
    Case(
        "status wrong password",
        ("status", "--password-stdin"),
        3,
        "Wrong password.",
        password=False,
        stdin="nope nope nope\n",
    ),
    Case("status no password", ("status",), 3, "No admin password given", password=False),
    Case("unknown option", ("status", "--bogus"), 2, "No such option", password=False),
    Case("service status", ("service", "status"), 0, "console mode"),
    # The real service layer on a machine where the service is not installed (install and uninstall
    # are never run here: they would change this machine; tests/service stages them under a root).
    Case("service status no daemon", ("service", "status"), 9, "NOT INSTALLED", dead=True),
    Case("service start console mode", ("service", "start"), 0, "already runs in a console window"),
    Case(
        "service start not installed",
        ("service", "start"),
        9,
        "Service is not installed. Install it with: risk-manager admin service install",
        dead=True,
    ),
    Case("service stop needs yes", ("service", "stop"), 2, "add --yes"),
    Case("service stop console mode", ("service", "stop", "--yes"), 1, "The daemon runs in a console window"),
    Case("service restart console mode", ("service", "restart"), 1, "The daemon runs in a console window"),
    Case("accounts list", ("accounts", "list"), 0, "••••cdef"),
    Case("accounts list json", ("accounts", "list", "--json"), 0, '"id": 1001'),
    Case(
        "accounts add unknown id",
        ("accounts", "add", "--user", USER, "--account", "99999"),
        7,
        "Account 99999 is not an active account of trader1.",
    ),
    Case(
        "accounts add configured",
        ("accounts", "add", "--user", USER, "--account", "1001"),
        5,
        "Account 1001 is already configured.",
    ),
    Case("accounts add no account", ("accounts", "add", "--user", USER), 2, "--account ID"),
    Case(
        "accounts add no key",
        ("accounts", "add", "--user", "newbie", "--account", "2001"),
        2,
        "--api-key-stdin",
    ),
    Case(
        "accounts add bad key",
        ("accounts", "add", "--user", SECOND, "--api-key-stdin", "--account", "2001"),
        8,
        "Sign-in failed: the broker rejected the user name or API key",
        stdin="not-the-key\n",
    ),
    Case(
        "accounts set-key bad key",
        ("accounts", "set-key", "--user", USER, "--api-key-stdin"),
        8,
        "The API key was not changed",
        stdin="not-the-key\n",
    ),
    Case(
        "accounts set-key unknown login",
        ("accounts", "set-key", "--user", "nobody", "--api-key-stdin"),
        7,
        "Unknown login: nobody.",
        stdin="whatever-key\n",
    ),
    Case("accounts enable already", ("accounts", "enable", "1001"), 0, "Account 1001 is already enabled."),
    Case("accounts disable needs yes", ("accounts", "disable", "1001"), 2, "add --yes"),
    Case("accounts observe needs yes", ("accounts", "observe", "1001", "on"), 2, "add --yes"),
    Case("accounts observe bad state", ("accounts", "observe", "1001", "maybe"), 2, "Expected on or off"),
    Case(
        "accounts remove mismatch",
        ("accounts", "remove", "1001", "--confirm", "1002"),
        1,
        "Cancelled: confirmation did not match.",
    ),
    Case(
        "accounts remove unknown",
        ("accounts", "remove", "4242", "--confirm", "4242"),
        7,
        "Unknown account: 4242.",
    ),
    Case("accounts test", ("accounts", "test", "1001"), 0, "0 failed"),
    Case("accounts test unknown", ("accounts", "test", "4242"), 7, "Unknown account: 4242."),
    Case("rules list", ("rules", "list"), 0, "Daily realized loss"),
    Case("rules list account", ("rules", "list", "--account", "1003"), 0, "Daily realized loss*"),
    Case("rules list json", ("rules", "list", "--json"), 0, '"max_contracts"'),
    Case("rules show", ("rules", "show", "RULE-003"), 0, "loss_limit"),
    Case("rules show unknown", ("rules", "show", "99"), 7, "Unknown rule"),
    Case(
        "rules show unknown account", ("rules", "show", "3", "--account", "4242"), 7, "Unknown account: 4242."
    ),
    Case(
        "rules set negative",
        ("rules", "set", "--password-stdin", "3", "loss_limit", "--", "-5"),
        5,
        "must be a positive amount (enter 5, not -5)",
        password=False,
        stdin=PASSWORD + "\n",
    ),
    Case("rules set unknown key", ("rules", "set", "3", "bogus", "1"), 7, "Unknown key 'bogus'"),
    Case("rules disable weakens", ("rules", "disable", "1"), 1, "weakens protection"),
    Case(
        "rules unset no override",
        ("rules", "unset", "3", "loss_limit", "--account", "1001"),
        7,
        "has no override",
    ),
    Case("config validate", ("config", "validate"), 0, "Configuration valid: 2 accounts."),
    Case("config restore no target", ("config", "restore"), 2, "--previous"),
    Case(
        "config restore unknown",
        ("config", "restore", "risk_config.19990101T000000Z.yaml", "--yes"),
        7,
        "Unknown backup",
    ),
    Case("config history", ("config", "history"), 0, "Backup"),
    Case("config reload", ("config", "reload"), 0, "Applied live at"),
    Case("config reload no daemon", ("config", "reload"), 6, "not answering", dead=True),
    Case("test unknown", ("test", "--only", "bogus"), 2, "Unknown test bogus"),
    Case("test local", ("test", "--only", "config,database,daemon"), 0, "0 failed, 0 warnings, 3 passed"),
    Case(
        "test no daemon",
        ("test", "--only", "daemon"),
        8,
        "connection refused (daemon not running)",
        dead=True,
    ),
    Case("test json", ("test", "--only", "config", "--json"), 0, '"result": "pass"'),
    Case("logs", ("logs", "--grep", "local API listening", "-n", "5"), 0, "local API listening"),
    Case("logs bad level", ("logs", "--level", "LOUD"), 2, "--level"),
    Case("enforcement json", ("enforcement", "--json"), 0, "["),
    Case("enforcement csv", ("enforcement", "--csv"), 0, "time,account,rule,action,result,reason,day"),
    Case("enforcement bad date", ("enforcement", "--since", "yesterday"), 2, "--since: not a date"),
    Case("lockouts list", ("lockouts", "list"), 0, ""),
    Case("lockouts history", ("lockouts", "list", "--history"), 0, ""),
    Case("lockouts list no daemon", ("lockouts", "list", "--json"), 0, '"source": "database"', dead=True),
    Case("unlock short reason", ("unlock", "1001", "--reason", "short"), 2, "at least 10 characters"),
    Case(
        "unlock nothing locked",
        ("unlock", "1001", "--reason", "nothing is locked here"),
        7,
        "The daemon refused the unlock: no matching active lockout",
    ),
    Case(
        "unlock no daemon",
        ("unlock", "1001", "--reason", "daemon is not running"),
        6,
        "not answering",
        dead=True,
    ),
    Case(
        "password setup exists",
        ("password", "setup", "--new-password-stdin"),
        4,
        "already set",
        password=False,
        stdin="another password 123\n",
    ),
    Case(
        "password change wrong",
        ("password", "change", "--password-stdin", "--new-password-stdin"),
        3,
        "Wrong password.",
        password=False,
        stdin="not the current one\nanother password 123\n",
    ),
    Case(
        "password reset no terminal",
        ("password", "reset", "--yes"),
        2,
        "--new-password-stdin",
        password=False,
    ),
)


@pytest.fixture
def quiet_logging() -> Iterator[None]:
    """The console silences library loggers; put the test process's logging back afterwards."""
    names = ("risk_manager", "websockets", "aiohttp", "httpx")
    saved = {
        n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate, logging.getLogger(n).level)
        for n in names
    }
    yield
    for name, (handlers, propagate, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.propagate, logger.level = propagate, level


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_exit_code(case: Case, live: AdminEnv, quiet_logging: None) -> None:
    result = live.invoke(
        *case.args,
        stdin=case.stdin,
        password=case.password,
        api_url=DEAD if case.dead else None,
        env=dict(case.env),
    )
    output = result.stdout + result.stderr
    assert result.returncode == case.code, f"{case.args} -> {result.returncode}\n{output}"
    assert case.text in output, f"{case.text!r} not in:\n{output}"
    assert PASSWORD not in output and KEY not in output and SECOND_KEY not in output


def _ok(env: AdminEnv, *args: str, stdin: str = "", code: int = 0) -> str:
    result = env.run(*args, stdin=stdin)
    assert result.returncode == code, f"{args} -> {result.returncode}\n{result.stdout}{result.stderr}"
    return result.stdout + result.stderr


def test_changes_and_their_exit_codes_in_order(live: AdminEnv) -> None:
    risk = live.config / "risk_config.yaml"
    out = _ok(live, "rules", "set", "3", "loss_limit", "450", "--reason", "tighter for the test")
    assert "- loss_limit: 500.00" in out and "+ loss_limit: 450.00" in out and "Applied live at" in out
    # weakening without --yes is refused and writes nothing
    before = risk.read_bytes()
    out = _ok(live, "rules", "set", "3", "loss_limit", "9000", code=1)
    assert "Weaker protection: Daily realized loss › loss_limit raised from 450.00 to 9000.00" in out
    assert "This change weakens protection; nothing was saved. Add --yes to confirm it." in out
    assert risk.read_bytes() == before
    out = _ok(live, "rules", "set", "2", "limits", "MNQ=3, -ES", code=1)
    assert "limit raised or removed for MNQ, ES" in out
    # with --yes it is saved and applied
    out = _ok(live, "rules", "set", "3", "loss_limit", "9000", "--yes")
    assert "+ loss_limit: 9000.00" in out
    _ok(live, "config", "restore", "--previous", "--yes")
    assert "loss_limit: 450.00" in risk.read_text()
    _ok(live, "rules", "set", "3", "loss_limit", "500", "--yes")
    assert "loss_limit: 500.00" in risk.read_text()
    # an account override, weaker then back
    _ok(live, "rules", "set", "3", "loss_limit", "6", "--account", "1003", "--yes")
    assert load_config(live.config).rules_for(1003).daily_realized_loss.loss_limit == 6
    _ok(live, "rules", "unset", "3", "loss_limit", "--account", "1003", "--yes")
    assert load_config(live.config).rules_for(1003).daily_realized_loss.loss_limit == 500
    _ok(live, "rules", "set", "3", "loss_limit", "5", "--account", "1003")
    assert load_config(live.config).rules_for(1003).daily_realized_loss.loss_limit == 5
    # accounts: observe-only and disable round trips
    _ok(live, "accounts", "observe", "1003", "on", "--yes")
    assert load_config(live.config).account(1003)[1].observe_only
    _ok(live, "accounts", "observe", "1003", "off")
    _ok(live, "accounts", "disable", "1003", "--yes")
    assert not load_config(live.config).account(1003)[1].enabled
    _ok(live, "accounts", "enable", "1003")
    # a second login with its key from stdin, then removed with its key
    out = _ok(
        live,
        "accounts",
        "add",
        "--user",
        SECOND,
        "--api-key-stdin",
        "--account",
        "2001",
        stdin=SECOND_KEY + "\n",
    )
    assert "Added 2001 (enforce)" in out
    secrets = live.config / "secrets.yaml"
    assert SECOND_KEY in secrets.read_text()
    assert sys.platform == "win32" or secrets.stat().st_mode & 0o777 == 0o600
    _ok(live, "accounts", "remove", "2001", "--confirm", "2001", "--delete-key")
    assert SECOND not in secrets.read_text()
    assert sys.platform == "win32" or secrets.stat().st_mode & 0o777 == 0o600
    # the audit log has them all, with the reason and without any key
    history = _ok(live, "config", "history", "--json")
    assert "tighter for the test" in history and SECOND_KEY not in history
    for action in (
        "rule_changed",
        "config_restored",
        "observe_only_on",
        "account_disabled",
        "account_added",
        "account_removed",
    ):
        assert f'"action": "{action}"' in history


def test_a_forced_invalid_value_is_rejected_before_any_write(live: AdminEnv) -> None:
    risk = live.config / "risk_config.yaml"
    backups = live.config / "backups"
    before = (risk.read_bytes(), risk.stat().st_mtime_ns, sorted(p.name for p in backups.glob("*.yaml")))
    # each value passes its own parser, but the daemon's model rejects the result (start == end)
    out = _ok(live, "rules", "set", "9", "window.end", "08:30", code=5)
    assert "risk_config.yaml › rules.session_block_outside.window.end" in out
    assert "end must differ from start (08:30)" in out and "Nothing was saved." in out
    after = (risk.read_bytes(), risk.stat().st_mtime_ns, sorted(p.name for p in backups.glob("*.yaml")))
    assert after == before


def test_config_validate_lists_every_error_of_a_file(live: AdminEnv, tmp_path: Path) -> None:
    broken = tmp_path / "risk_config.yaml"
    text = (live.config / "risk_config.yaml").read_text()
    text = text.replace("limit: 5 ", "limit: 0 ").replace("loss_limit: 500.00", "loss_limit: lots")
    broken.write_text(text)
    out = _ok(live, "config", "validate", "--file", str(broken), code=5)
    assert re.search(
        r"risk_config\.yaml › rules\.max_contracts\.limit \(line \d+\): expected an integer of at least 1",
        out,
    )
    assert re.search(
        r"risk_config\.yaml › rules\.daily_realized_loss\.loss_limit \(line \d+\): expected a number", out
    )
    assert "2 problems found." in out
