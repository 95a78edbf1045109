"""Regenerate the console output shown in docs/ADMIN_GUIDE.md from real runs.

    python -m tests.admin.capture_guide            # rewrites the captured blocks in place

It starts the simulator and a daemon (as the tests do), drives the console through a pseudo-terminal
and as scripted subcommands, and replaces every block between ``<!-- capture: NAME -->`` and
``<!-- /capture -->`` with what the console printed. Temporary paths are shown as ``$DEMO``.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pexpect

from risk_manager.admin.daemon_client import DaemonClient

from .env import KEY, PASSWORD, SECOND_KEY, USER, AdminEnv

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "ADMIN_GUIDE.md"
BLOCK = re.compile(
    r"(<!-- capture: (?P<name>[\w-]+) -->\n```text\n)(?P<body>(?:(?!<!-- capture).)*?)(\n?```\n<!-- /capture -->)",
    re.S,
)


class Captures:
    def __init__(self, roots: list[Path]) -> None:
        self.roots = roots
        self.blocks: dict[str, str] = {}

    def clean(self, text: str) -> str:
        text = text.replace("\r\n", "\n").replace("\r", "")
        for secret in (PASSWORD, KEY, SECOND_KEY):
            assert secret not in text, "a secret reached the console output"
        return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())

    def add(self, name: str, text: str) -> None:
        self.blocks[name] = self.clean(text)


def session(
    env: AdminEnv,
    steps: list[tuple[str, str]],
    *args: str,
    start_after: str | None = None,
    until: str | None = None,
    env_vars: dict[str, str] | None = None,
) -> str:
    """Run the console in a pty: each step waits for a literal text, then sends a line (or Ctrl+C)."""
    child = env.spawn(*args, env=env.env(**(env_vars or {})))
    log = io.StringIO()
    child.logfile_read = log
    for expect, send in steps:
        child.expect_exact(expect)
        if send == "<C-c>":
            child.sendintr()
        elif send == "<EOF>":
            break
        else:
            child.sendline(send)
    child.expect(pexpect.EOF)
    text = log.getvalue()
    if start_after is not None:  # the text after the first line containing the marker
        at = text.index(start_after)
        text = text[text.index("\n", at) + 1 :]
    if until is not None:  # up to and including the first line containing this text
        at = text.index(until)
        end = text.find("\n", at)
        text = text[: len(text) if end < 0 else end]
    return text


def scripted(
    env: AdminEnv, *args: str, stdin: str = "", api_url: str | None = None, password: bool = True
) -> str:
    argv = [sys.executable, "-m", "risk_manager.cli.admin", *env.base_args(api_url), *args]
    if password:
        argv.append("--password-stdin")
        stdin = PASSWORD + "\n" + stdin
    # stderr into stdout: the lines in the order a terminal shows them
    result = subprocess.run(
        argv,
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env.env(),
        timeout=60,
    )
    shown = " ".join(a if " " not in a else f'"{a}"' for a in args)
    pw = " --password-stdin" if password else ""
    return f"$ risk-manager admin {shown}{pw}\n{result.stdout}[exit code {result.returncode}]"


def wait_for(check: Callable[[], object], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)  # polling interval: the condition is checked above
    raise SystemExit("timed out")


def lockouts(env: AdminEnv, account: int) -> list[object]:
    with DaemonClient(env.api_url).open() as client:
        for a in client.snapshot.get("accounts", []):
            if a["accountId"] == account:
                return list(a.get("lockouts") or [])
    return []


def notify_capture(base: Path) -> str:
    """``admin test notify`` against a local receiver: two channels take it, a 500 and a closed port fail."""
    from .test_notify_test import Receiver, daemon_yaml

    env = AdminEnv(base / "notify", daemon=False, sim=False)
    receiver = Receiver()
    try:
        daemon_yaml(env, receiver, broken=True)
        return scripted(env, "test", "notify")
    finally:
        receiver.close()
        env.close()


def ladder_and_lock_captures(c: Captures, base: Path) -> None:
    """The ladder's keys and the settings lock (ADMIN_GUIDE §5.5), on an environment of their own: the
    lock would refuse the loosening changes the other captures make."""
    env = AdminEnv(base / "lock")
    try:
        c.add("ladder-set", scripted(env, "rules", "set", "3", "ladder.reduce_only_at", "80"))
        c.add("ladder-warn", scripted(env, "rules", "set", "3", "ladder.warn_at", "50, 70"))
        c.add("ladder-show", scripted(env, "rules", "show", "3"))
        c.add("ladder-off", scripted(env, "rules", "set", "3", "ladder.reduce_only_at", "off"))
        c.add("firm-floor", scripted(env, "rules", "set", "13", "floor", "48600", "--account", "1001", "--yes"))
        c.add(
            "lock-on",
            scripted(env, "rules", "set", "global", "settings_lock.enabled", "true", "--reason", "no mid-day edits"),
        )
        c.add("lock-show", scripted(env, "rules", "show", "global"))
        c.add(
            "lock-refused",
            scripted(env, "rules", "set", "3", "loss_limit", "800", "--yes", "--reason", "more room"),
        )
        c.add("lock-restore", scripted(env, "config", "restore", "--previous", "--yes"))
        c.add("lock-tighter", scripted(env, "rules", "set", "3", "loss_limit", "400"))
    finally:
        env.close()


def main() -> None:
    base = Path(tempfile.gettempdir()) / "rm-demo"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir()
    fresh = AdminEnv(base / "fresh", with_password=False, daemon=False, sim=False)
    live = AdminEnv(base / "live")
    offline = AdminEnv(base / "offline", daemon=False)
    c = Captures([base / "fresh", base / "live", base / "offline", base])
    login = [("Admin password: ", PASSWORD)]
    try:
        c.add(
            "first-run",
            session(
                fresh,
                [
                    ("New admin password: ", "short one"),
                    ("Repeat password:    ", "short one"),
                    ("New admin password: ", PASSWORD),
                    ("Repeat password:    ", PASSWORD),
                    ("Select [0-7]: ", "0"),
                    ("Goodbye.", "<EOF>"),
                ],
            ),
        )
        c.add("main-menu", session(live, [*login, ("Select [0-7]: ", "0"), ("Goodbye.", "<EOF>")]))
        c.add(
            "wrong-password",
            session(
                offline,
                [
                    ("Admin password: ", "my old password"),
                    ("Admin password: ", "Password123"),
                    ("Admin password: ", "password!"),
                    ("Forgot it?", "<EOF>"),
                ],
            ),
        )
        for _ in range(7):
            offline.run(
                "status", stdin="", password=False, env=offline.env(RISK_MANAGER_ADMIN_PASSWORD="guessing")
            )
        c.add("locked", scripted(offline, "status"))
        c.add(
            "reset",
            session(
                offline,
                [
                    ("Type RESET to continue: ", "RESET"),
                    ("New admin password: ", PASSWORD),
                    ("Repeat password:    ", PASSWORD),
                    ("Admin password reset.", "<EOF>"),
                ],
                "password",
                "reset",
            ),
        )
        c.add(
            "service",
            session(
                live,
                [
                    *login,
                    ("Select [0-7]: ", "1"),
                    ("Select [0-6]: ", "0"),
                    ("Select [0-7]: ", "0"),
                    ("Goodbye.", "<EOF>"),
                ],
                start_after=" Select [0-7]: 1",
            ),
        )
        c.add("service-start", scripted(live, "service", "start", api_url="ws://127.0.0.1:9"))
        c.add("rules-list", scripted(live, "rules", "list"))
        c.add("rules-show", scripted(live, "rules", "show", "6"))
        c.add(
            "rule-edit",
            session(
                live,
                [
                    *login,
                    ("Select [0-7]: ", "3"),
                    ("Select [0-6]: ", "1"),
                    ("Rule # [1-15]: ", "3"),
                    ("x = discard: ", "2"),
                    ("Loss limit (USD) [500.00]: ", "-400"),
                    ("Loss limit (USD) [500.00]: ", "400"),
                    ("x = discard: ", "3"),
                    ("Lockout until [daily_reset]: ", "permanent"),
                    ("x = discard: ", "s"),
                    ("Reason", "tighter after Tuesday"),
                    ("[y/N]: ", "y"),
                    ("Press Enter to continue", ""),
                    ("Select [0-6]: ", "0"),
                    ("Select [0-7]: ", "0"),
                    ("Goodbye.", "<EOF>"),
                ],
                start_after=" Select [0-6]: 1",
                until="Press Enter to continue",
            ),
        )
        c.add("weaken-refused", scripted(live, "rules", "set", "3", "loss_limit", "900"))
        c.add(
            "weaken-yes",
            scripted(live, "rules", "set", "3", "loss_limit", "500", "--yes", "--reason", "back to the plan"),
        )
        c.add("override", scripted(live, "rules", "set", "1", "limit", "2", "--account", "1001"))
        c.add("invalid", scripted(live, "rules", "set", "9", "window.end", "08:30"))
        c.add("history", scripted(live, "config", "history"))
        c.add("restore", scripted(live, "config", "restore", "--previous", "--yes"))
        c.add("test-all", scripted(live, "test"))
        c.add("test-notify", notify_capture(base))
        ladder_and_lock_captures(c, base)
        assert offline.sim is not None
        offline.sim.control(
            "POST", "/faults", {"kind": "fail_rest", "path": "/api/Auth/loginKey", "mode": "http_401"}
        )
        c.add("test-failed", scripted(offline, "test"))
        sim = live.sim
        assert sim is not None
        sim.quote("RTY", 2450.0, 2450.1)
        sim.order(1001, "RTY", "buy", 1)
        sim.quote("MNQ", 24500.00, 24500.25)
        sim.order(1003, "MNQ", "buy", 1)
        sim.quote("MNQ", 24480.00, 24480.25)
        sim.order(1003, "MNQ", "sell", 1)
        wait_for(lambda: lockouts(live, 1001) and lockouts(live, 1003))
        c.add(
            "unlock",
            session(
                live,
                [
                    *login,
                    ("Select [0-7]: ", "6"),
                    ("Select [0-3]: ", "1"),
                    ("Lockout # (or a for all of one account): ", "1"),
                    ("Reason (required, at least 10 characters): ", "RTY allowed again after the review"),
                    ("[y/N]: ", "y"),
                    ("Press Enter to continue", ""),
                    ("Select [0-3]: ", "0"),
                    ("Select [0-7]: ", "0"),
                    ("Goodbye.", "<EOF>"),
                ],
                start_after=" Select [0-7]: 6",
                until="Press Enter to continue",
            ),
        )
        c.add(
            "unlock-scripted",
            scripted(live, "unlock", "1003", "--rule", "3", "--reason", "mentor approved a fresh start"),
        )
        c.add("logs", scripted(live, "logs", "--level", "WARNING", "-n", "5"))
        c.add("enforcement", scripted(live, "enforcement", "--account", "1003"))
        c.add("status-down", scripted(live, "status", api_url="ws://127.0.0.1:9"))
        c.add(
            "add-account",
            session(
                live,
                [
                    *login,
                    ("Select [0-7]: ", "2"),
                    ("Select [0-7]: ", "2"),
                    ("Login # or n for a new login: ", "1"),
                    ("Accounts to add (e.g. 1,3 or all): ", "2"),
                    ("Nickname [SIM-50K-1002]: ", "PA 100K"),
                    ("Mode: 1 enforce  2 observe-only [1]: ", "1"),
                    ("Save? [y/N]: ", "y"),
                    ("Press Enter to continue", ""),
                    ("Select [0-7]: ", "0"),
                    ("Select [0-7]: ", "0"),
                    ("Goodbye.", "<EOF>"),
                ],
                start_after=" Select [0-7]: 2",
                until="5. Observe-only on/off",
            ),
        )
        c.add("accounts-list", scripted(live, "accounts", "list"))
        c.add(
            "set-key-refused",
            scripted(
                live, "accounts", "set-key", "--user", USER, "--api-key-stdin", stdin="an-old-key-1234\n"
            ),
        )
        c.add("observe", scripted(live, "accounts", "observe", "1002", "on", "--yes"))
        c.add("remove", scripted(live, "accounts", "remove", "1002", "--confirm", "1002"))
    finally:
        for env in (live, offline):
            env.close()
    text = GUIDE.read_text(encoding="utf-8")
    missing = [m.group("name") for m in BLOCK.finditer(text) if m.group("name") not in c.blocks]
    text = BLOCK.sub(
        lambda m: m.group(1) + c.blocks.get(m.group("name"), m.group("body")) + "\n```\n<!-- /capture -->",
        text,
    )
    GUIDE.write_text(text, encoding="utf-8")
    print(f"updated {len(c.blocks)} blocks in {GUIDE}" + (f"; not captured: {missing}" if missing else ""))
    unused = sorted(set(c.blocks) - {m.group("name") for m in BLOCK.finditer(text)})
    if unused:
        print(f"captured but not in the guide: {unused}", file=sys.stderr)


if __name__ == "__main__":
    main()
