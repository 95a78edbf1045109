"""The password dialogues (admin-cli.md §3): launch check, first-run setup, change and reset.

Used by the menus and by ``admin password …`` alike. Passwords come from hidden prompts, or for
scripts from ``--password-stdin`` / ``--new-password-stdin`` / ``RISK_MANAGER_ADMIN_PASSWORD``; they
are never echoed, logged or written to the audit log.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

from risk_manager.admin import exits
from risk_manager.admin.context import AdminContext, rights_error
from risk_manager.admin.daemon_client import DaemonClient, DaemonError, DaemonUnavailable
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.password import Attempt, clear_daemon_counter
from risk_manager.security.password import (
    AuthResult,
    HashFileProblem,
    describe_wait,
    new_password_problem,
)

ATTEMPTS_PER_LAUNCH = 3
PASSWORD_ENV = "RISK_MANAGER_ADMIN_PASSWORD"
RESET_HINT = 'Forgot it? An OS administrator can run "risk-manager admin password reset".'


def locked_exit(seconds: float) -> AdminExit:
    return AdminExit(
        exits.AUTH,
        "Admin console locked after repeated wrong passwords. "
        f"Try again in {describe_wait(seconds)}, or ask an OS administrator to run "
        '"risk-manager admin password reset".',
    )


class PasswordSource:
    """Where a scripted command gets its passwords: stdin lines, the environment, or a hidden prompt."""

    def __init__(self, ctx: AdminContext, *, from_stdin: bool, new_from_stdin: bool = False) -> None:
        self.ctx = ctx
        self.from_stdin = from_stdin
        self.new_from_stdin = new_from_stdin

    def current(self) -> str:
        if self.from_stdin:
            try:
                return self.ctx.stdin_line("password", "--password-stdin")
            except AdminExit as exc:
                raise AdminExit(exits.AUTH, *exc.lines) from None
        env = os.environ.get(PASSWORD_ENV)
        if env:
            return env
        if _tty(sys.stdin):
            return self.ctx.ui.ask_hidden("Admin password: ")
        raise AdminExit(
            exits.AUTH,
            f"No admin password given: use --password-stdin or set {PASSWORD_ENV} (stdin is not a terminal).",
        )

    def new(self) -> str | None:
        """The new password from stdin (after the current one when both come from stdin), else None."""
        if not self.new_from_stdin:
            return None
        return self.ctx.stdin_line("new password", "--new-password-stdin")


def _tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# ----- verification --------------------------------------------------------------------------------------
def _after_attempt(ctx: AdminContext, outcome: Attempt) -> None:
    """Audit and raise for a failed attempt's end states (locked)."""
    if outcome.result is AuthResult.LOCKED:
        ctx.audit("login_locked", target="admin console", outcome="refused while locked")
        raise locked_exit(outcome.retry_after_s)
    ctx.audit("login_failed", target="admin console", outcome="wrong password")
    if outcome.result is AuthResult.NEWLY_LOCKED:
        ctx.audit(
            "login_locked",
            target="admin console",
            outcome=f"locked after {outcome.failures} consecutive failures",
        )
        raise locked_exit(outcome.retry_after_s)


def verify_once(ctx: AdminContext, password: str) -> bool:
    """One attempt (local hash, or the daemon when the hash file is not readable). Raises when locked."""
    store = ctx.passwords
    try:
        outcome = store.attempt(password)
    except HashFileProblem as problem:
        if problem.result is AuthResult.NO_PASSWORD:
            raise AdminExit(
                exits.AUTH, "No admin password is set. Run: risk-manager admin password setup"
            ) from None
        if problem.result is AuthResult.CORRUPT:
            raise AdminExit(exits.AUTH, problem.message) from None
        return _verify_through_daemon(ctx, password)
    if outcome.result is AuthResult.OK:
        ctx.password = password
        return True
    _after_attempt(ctx, outcome)
    return False


def _verify_through_daemon(ctx: AdminContext, password: str) -> bool:
    """Not elevated: the hash file is unreadable, so the daemon's admin login decides (§3.4)."""
    try:
        client = DaemonClient(ctx.api_url).open()
    except DaemonUnavailable:
        raise AdminExit(
            exits.RIGHTS, "Cannot verify the admin password: run as administrator or start the service."
        ) from None
    try:
        client.auth(password, ctx.admin_token(), ctx.os_user)
    except DaemonError as exc:
        if exc.code == "auth_failed":
            ctx.audit("login_failed", target="admin console (via daemon)", outcome="wrong password")
            return False
        if exc.code == "auth_locked":
            ctx.audit("login_locked", target="admin console (via daemon)", outcome="refused while locked")
            raise AdminExit(exits.AUTH, exc.message) from None
        raise AdminExit(exits.RIGHTS if exc.code == "unauthorized" else exits.AUTH, exc.message) from None
    finally:
        client.close()
    ctx.password = password
    return True


def launch_check(ctx: AdminContext) -> None:
    """Before the main menu: first-run setup, or up to 3 attempts (§3.3); AdminExit(3) when denied."""
    ui = ctx.ui
    left = ctx.passwords.locked_for()
    if left > 0:
        ctx.audit("login_locked", target="admin console", outcome="refused while locked")
        raise locked_exit(left)
    if not ctx.passwords.is_set():
        first_run(ctx)
        return
    for attempt in range(1, ATTEMPTS_PER_LAUNCH + 1):
        password = ui.ask_hidden("Admin password: ")
        if verify_once(ctx, password):
            ui.ok("Access granted.")
            return
        remaining = ATTEMPTS_PER_LAUNCH - attempt
        if remaining:
            ui.error(f"Wrong password. {remaining} attempt{'s' if remaining != 1 else ''} left.")
    ui.error("Access denied: too many wrong passwords.", RESET_HINT)
    ui.console.file.flush()
    time.sleep(2)  # §3.3: a pause before the exit slows down guessing by hand
    raise AdminExit(exits.AUTH)


# ----- setting a password --------------------------------------------------------------------------------
def ask_new_password(ctx: AdminContext, *, differs_from: str | None = None) -> str:
    """Hidden prompts, twice, until the rules of §3.2 are met."""
    ui = ctx.ui
    while True:
        first = ui.ask_hidden("New admin password: ")
        second = ui.ask_hidden("Repeat password:    ")
        problem = check_new(first, second, differs_from)
        if problem is None:
            return first
        ui.error(problem)


def check_new(first: str, second: str | None, differs_from: str | None) -> str | None:
    problem = new_password_problem(first)
    if problem is not None:
        return problem
    if second is not None and first != second:
        return "The passwords do not match."
    if differs_from is not None and first == differs_from:
        return "The new password must differ from the current one."
    return None


def _new_password(ctx: AdminContext, supplied: str | None, differs_from: str | None) -> str:
    if supplied is None:
        return ask_new_password(ctx, differs_from=differs_from)
    problem = check_new(supplied, None, differs_from)
    if problem is not None:
        raise AdminExit(exits.VALIDATION, problem)
    return supplied


def first_run(ctx: AdminContext, supplied: str | None = None) -> None:
    """§3.2: choose the first password (needs OS administrator rights)."""
    ui = ctx.ui
    if not ctx.has_rights():
        raise rights_error("set the admin password", "No admin password is set yet.")
    if supplied is None:
        ui.panel(
            [
                "No admin password is set. Choose one now.",
                f"{'•' if ui.unicode else '-'} at least 10 characters, at most 128",
                f"{'•' if ui.unicode else '-'} it cannot be recovered; an OS administrator can reset it",
            ],
            title="First-time setup",
        )
    password = _new_password(ctx, supplied, None)
    ctx.passwords.write_password(password)
    ctx.passwords.save_state(0, None)
    ctx.password = password
    ctx.audit("password_set", target="admin_password.hash")
    ui.ok("Admin password saved.")


def change(ctx: AdminContext, current: Callable[[], str], supplied_new: str | None = None) -> None:
    """§3.5 change: current password (one try, counts) → new twice → write → new daemon session."""
    ui = ctx.ui
    ctx.require_rights("change the admin password")
    if ctx.passwords.locked_for() > 0:
        raise locked_exit(ctx.passwords.locked_for())
    old = current()
    if not ctx.passwords.check_current(old):
        ctx.audit("login_failed", target="password change", outcome="wrong current password")
        raise AdminExit(exits.AUTH, "Wrong password.")
    password = _new_password(ctx, supplied_new, old)
    ctx.passwords.write_password(password)
    ctx.passwords.save_state(0, None)
    ctx.audit("password_changed", target="admin_password.hash")
    ctx.password = password
    had_session = ctx._daemon is not None and ctx._daemon.session is not None
    ctx.drop_daemon()
    ui.ok("Password changed.")
    if had_session:
        try:
            ctx.daemon_admin()
        except AdminExit as exc:
            ui.warn(f"The daemon admin session could not be re-opened: {exc.lines[0] if exc.lines else exc}")


def reset(ctx: AdminContext, *, confirmed: bool = False, supplied_new: str | None = None) -> None:
    """§3.5 reset: OS administrator rights, no old password; clears every failure counter."""
    ui = ctx.ui
    ctx.require_rights("reset the admin password")
    if not confirmed:
        ui.panel(
            [
                "This replaces the admin password.",
                "Anyone with OS administrator rights can do this.",
            ],
            title="Reset the admin password",
            danger=True,
        )
        if not ui.typed_confirm("Type RESET to continue: ", "RESET"):
            raise AdminExit(exits.RUNTIME, kind="plain")
    password = _new_password(ctx, supplied_new, None)
    ctx.passwords.write_password(password)
    ctx.passwords.save_state(0, None)
    cleared = clear_daemon_counter(ctx.data_dir)
    ctx.password = password
    ctx.audit(
        "password_reset",
        target="admin_password.hash",
        after={"failure_counters": "cleared" + ("" if cleared else " (console only)")},
    )
    ui.ok("Admin password reset. The failure counter and any lockout are cleared.")
