"""``risk-manager service install | uninstall | start | stop | restart | status`` (daemon.md §10.3, §10.5).

The same logic on Windows and Linux: the service manager and the OS permissions come in through
their interfaces (``manager.ServiceManager``, ``access.AccessControl``). Every action returns an
``Outcome`` (exit code, final message, every line printed); ``emit`` also prints them as they come.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime

from risk_manager import __version__
from risk_manager.exit_codes import (
    EXIT_DATABASE,
    EXIT_NOT_INSTALLED,
    EXIT_OK,
    EXIT_RIGHTS,
    EXIT_RUNTIME,
)
from risk_manager.service import outcome as S
from risk_manager.service.access import AccessControl, ServiceAccount
from risk_manager.service.checks import Check, Context, run_checks
from risk_manager.service.command import layout_from_command
from risk_manager.service.layout import Layout
from risk_manager.service.manager import ManagerError, ManagerState, ServiceDefinition, ServiceManager
from risk_manager.service.names import POLL_S, WAIT_S
from risk_manager.service.outcome import Outcome, ServiceStatus
from risk_manager.service.probe import DaemonAnswer, api_url, ask_daemon
from risk_manager.service.upgrade import backup_for_upgrade, initialise_database, restore_database
from risk_manager.store.errors import StoreError
from risk_manager.store.migrations import MIGRATIONS, Migration

START_GRACE_S = 3.0
STATED_LIMIT = (
    "! Protection holds against standard (non-administrator) accounts only. A local administrator can "
    "stop the service or change its files: trade under a standard account, keep the administrator "
    "account and the admin password with someone else, and set TopstepX's own limits as a backstop."
)


class Installer:
    def __init__(
        self,
        layout: Layout,
        manager: ServiceManager,
        access: AccessControl,
        *,
        command: Callable[[Layout], list[str]],
        emit: Callable[[str], None] | None = None,
        migrations: tuple[Migration, ...] = MIGRATIONS,
        probe: Callable[[str, float], DaemonAnswer | None] = ask_daemon,
        wait_s: float = WAIT_S,
        poll_s: float = POLL_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.layout = layout
        self.manager = manager
        self.access = access
        self.command = command
        self.migrations = migrations
        self.probe = probe
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.sleep = sleep
        self._emit = emit
        self.lines: list[str] = []

    # ----- output ----------------------------------------------------------------------------------
    def say(self, line: str) -> None:
        self.lines.append(line)
        if self._emit is not None:
            self._emit(line)

    def _done(self, code: int, message: str, **details: object) -> Outcome:
        self.say(message)
        return Outcome(code, message, list(self.lines), dict(details))

    def _refused(self, check: Check) -> Outcome:
        """A failed validation: its line was printed with the others."""
        return Outcome(check.exit_code, check.line, list(self.lines))

    # ----- waiting ---------------------------------------------------------------------------------
    def _wait_state(self, targets: tuple[str, ...], deadline: float) -> ManagerState:
        while True:
            state = self.manager.query()
            if state.state in targets or time.monotonic() >= deadline:
                return state
            self.sleep(self.poll_s)

    def _wait_started(self, deadline: float) -> ManagerState:
        """Poll for RUNNING. STOPPED ends the wait only once the start was seen under way (or after a
        few seconds): systemd takes a queued ``--no-block`` start job a moment later."""
        asked = time.monotonic()
        under_way = False
        while True:
            state = self.manager.query()
            under_way = under_way or state.state == S.STARTING
            if state.state == S.RUNNING or time.monotonic() >= deadline:
                return state
            if state.state == S.STOPPED and (under_way or time.monotonic() - asked > START_GRACE_S):
                return state
            self.sleep(self.poll_s)

    def _wait_daemon(self, layout: Layout, deadline: float, version: str | None = None) -> DaemonAnswer | None:
        url = api_url(layout.config_dir)
        while True:
            left = deadline - time.monotonic()
            answer = self.probe(url, max(0.5, min(3.0, left)))
            if answer is not None and (version is None or answer.version == version):
                return answer
            if time.monotonic() >= deadline:
                return answer
            self.sleep(self.poll_s)

    def _layout_of(self, state: ManagerState) -> Layout:
        """The directories the registered service really uses (it was registered with them)."""
        registered = layout_from_command(state.command or [], self.layout.root)
        return registered or self.layout

    def _context(self, purpose: str, state: ManagerState, layout: Layout) -> Context:
        return Context(layout, self.access, state, self.manager.kind, purpose, self.access.service_account())

    # ----- install ---------------------------------------------------------------------------------
    def install(self, *, no_start: bool = False, upgrade: bool = False, repair_permissions: bool = False) -> Outcome:
        state = self.manager.query()
        if repair_permissions and not upgrade:
            return self._repair(state)
        purpose = "upgrade" if upgrade else "install"
        failed = run_checks(self._context(purpose, state, self.layout), self.say)
        if failed is not None:
            return self._refused(failed)
        layout = self.layout
        if upgrade and state.installed and state.state in (S.RUNNING, S.STARTING):
            stopped = self._stop_and_wait()
            if stopped is not None:
                return stopped
        backup = None
        now = datetime.now(UTC)
        try:
            if upgrade:
                backup = backup_for_upgrade(layout, now)
                self.say(f"✓ Configuration backed up to {backup.config}")
                if backup.database is not None:
                    self.say(f"✓ Database backed up to {backup.database}")
            account, created = self.access.ensure_service_account()
            for line in created:
                self.say(f"✓ {line[0].upper()}{line[1:]}")
            applied = initialise_database(layout, now, self.migrations)
            self.say(f"✓ Database ready ({layout.db_path}" + (f"; migrated to schema {applied[-1]})" if applied else ")"))
        except StoreError as exc:
            if backup is not None and backup.database is not None:
                restore_database(layout, backup.database)
                return self._done(
                    EXIT_DATABASE,
                    f"✗ Database migration failed: {exc}. The database was restored from {backup.database}; "
                    "the service was not started.",
                    backup=str(backup.database),
                )
            return self._done(EXIT_DATABASE, f"✗ Database problem: {exc}")
        except Exception as exc:  # noqa: BLE001 - account creation, copies: report, do not crash
            return self._done(EXIT_RUNTIME, f"✗ {exc}")
        for line in self.access.secure(layout, account):
            self.say(f"✓ Permissions: {line}")
        try:
            for line in self.manager.register(ServiceDefinition(tuple(self.command(layout)), layout), update=state.installed):
                self.say(f"✓ {line[0].upper()}{line[1:]}")
        except ManagerError as exc:
            return self._done(EXIT_RUNTIME, f"✗ Could not register the service: {exc}")
        self.say(STATED_LIMIT)
        verb = "upgraded" if upgrade and state.installed else "installed"
        if no_start:
            return self._done(
                EXIT_OK, f"✓ Service {self.manager.name} {verb} (auto-start). Start it with: risk-manager service start"
            )
        started = self._start_and_wait(layout, version=__version__ if upgrade else None)
        if isinstance(started, Outcome):
            return started
        return self._done(
            EXIT_OK,
            f"✓ Service {self.manager.name} {verb} (auto-start) and running — {started.protected} accounts protected.",
            pid=started.pid,
        )

    def _repair(self, state: ManagerState) -> Outcome:
        if not self.access.is_admin():
            return self._done(EXIT_RIGHTS, self.access.admin_required_message())
        layout = self._layout_of(state)
        try:
            account, created = self.access.ensure_service_account()
        except Exception as exc:  # noqa: BLE001
            return self._done(EXIT_RUNTIME, f"✗ {exc}")
        for line in created:
            self.say(f"✓ {line}")
        for line in self.access.secure(layout, account):
            self.say(f"✓ Permissions: {line}")
        return self._done(EXIT_OK, "✓ Permissions repaired.")

    # ----- start / stop ----------------------------------------------------------------------------
    def _start_and_wait(self, layout: Layout, version: str | None = None) -> DaemonAnswer | Outcome:
        deadline = time.monotonic() + self.wait_s
        try:
            self.manager.start()
        except ManagerError as exc:
            return self._done(EXIT_RUNTIME, f"✗ Could not start the service: {exc}")
        state = self._wait_started(deadline)
        if state.state != S.RUNNING:
            return self._done(
                EXIT_RUNTIME,
                f"✗ Service did not reach RUNNING within {self.wait_s:.0f} s (state: {S.STATE_LABELS[state.state]}).",
            )
        answer = self._wait_daemon(layout, deadline, version)
        if answer is None or (version is not None and answer.version != version):
            return self._done(
                EXIT_RUNTIME,
                f"✗ Service started but the daemon is not answering on {api_url(layout.config_dir)} — "
                f"see the logs in {layout.log_dir}.",
            )
        return answer

    def _stop_and_wait(self) -> Outcome | None:
        deadline = time.monotonic() + self.wait_s
        try:
            self.manager.stop()
        except ManagerError as exc:
            return self._done(EXIT_RUNTIME, f"✗ Could not stop the service: {exc}")
        state = self._wait_state((S.STOPPED,), deadline)
        if state.state != S.STOPPED:
            return self._done(
                EXIT_RUNTIME,
                f"✗ Service did not stop within {self.wait_s:.0f} s (state: {S.STATE_LABELS[state.state]}).",
            )
        return None

    def start(self) -> Outcome:
        state = self.manager.query()
        layout = self._layout_of(state)
        failed = run_checks(self._context("start", state, layout), self.say)
        if failed is not None:
            return self._refused(failed)
        if state.state == S.RUNNING:
            return self._done(EXIT_OK, "! Service is already running.")
        answer = self._start_and_wait(layout)
        if isinstance(answer, Outcome):
            return answer
        total = len(answer.accounts)
        waiting = [str(a.get("accountId")) for a in answer.accounts if a.get("protection") != "protected"]
        note = f" Not yet protected: {', '.join(waiting)}." if waiting else ""
        return self._done(
            EXIT_OK,
            f"✓ Service started (PID {answer.pid}). {answer.protected} of {total} accounts protected.{note}",
            pid=answer.pid,
        )

    def stop(self) -> Outcome:
        if not self.access.is_admin():
            return self._done(EXIT_RIGHTS, self.access.admin_required_message())
        state = self.manager.query()
        if not state.installed:
            return self._done(EXIT_NOT_INSTALLED, "✗ Service is not installed.")
        if state.state == S.STOPPED:
            return self._done(EXIT_OK, "! Service is not running.")
        failed = self._stop_and_wait()
        return failed or self._done(EXIT_OK, "✓ Service stopped. Accounts are NOT protected.")

    def restart(self) -> Outcome:
        started_at = time.monotonic()
        if not self.access.is_admin():
            return self._done(EXIT_RIGHTS, self.access.admin_required_message())
        state = self.manager.query()
        if not state.installed:
            return self._done(EXIT_NOT_INSTALLED, "✗ Service is not installed.")
        if state.state != S.STOPPED:
            failed = self._stop_and_wait()
            if failed is not None:
                return failed
        outcome = self.start()
        if not outcome.ok:
            return outcome
        pid = outcome.details.get("pid")
        self.lines.pop()  # replace the start message by the restart message
        return self._done(
            EXIT_OK, f"✓ Service restarted (PID {pid}) in {time.monotonic() - started_at:.1f} s.", pid=pid
        )

    # ----- uninstall -------------------------------------------------------------------------------
    def uninstall(self, *, purge: bool = False) -> Outcome:
        if not self.access.is_admin():
            return self._done(EXIT_RIGHTS, self.access.admin_required_message())
        state = self.manager.query()
        layout = self._layout_of(state)
        if not state.installed and not purge:
            return self._done(EXIT_NOT_INSTALLED, "! Service is not installed.")
        if state.installed:
            if state.state not in (S.STOPPED, S.NOT_INSTALLED, S.UNKNOWN):
                failed = self._stop_and_wait()
                if failed is not None:
                    return failed
            try:
                self.manager.unregister()
            except ManagerError as exc:
                return self._done(EXIT_RUNTIME, f"✗ Could not remove the service: {exc}")
            if self.manager.query().installed:
                return self._done(EXIT_RUNTIME, f"✗ The service {self.manager.name} is still registered.")
            self.say(f"✓ Service {self.manager.name} unregistered")
        dirs = [layout.config_dir, layout.data_dir, layout.log_dir]
        if not purge:
            kept = ", ".join(str(d) for d in dirs)
            return self._done(EXIT_OK, f"✓ Service removed. Config and data kept in {kept}.")
        for directory in dirs:
            shutil.rmtree(directory, ignore_errors=True)
            self.say(f"✓ Deleted {directory}")
        try:
            for line in self.access.remove_service_account():
                self.say(f"✓ {line[0].upper()}{line[1:]}")
        except Exception as exc:  # noqa: BLE001
            self.say(f"! {exc}")
        return self._done(EXIT_OK, "✓ Service removed. Config, data and logs deleted.")

    # ----- status ----------------------------------------------------------------------------------
    def status(self, *, ask: bool = True) -> ServiceStatus:
        state = self.manager.query()
        layout = self._layout_of(state)
        answer = None
        if ask and state.state in (S.RUNNING, S.STARTING, S.UNKNOWN):
            answer = self.probe(api_url(layout.config_dir), 2.0)
        daemon = None
        if answer is not None:
            daemon = {**answer.status, "url": answer.url, "pid": answer.pid, "version": answer.version}
        account = self.access.service_account()
        permissions = None
        if state.installed and self.access.is_admin():  # a standard user cannot read the config dir
            permissions = [f"{f.path}: {f.message}" if f.path else f.message for f in self.access.audit(layout, account)]
        return ServiceStatus(
            installed=state.installed,
            state=state.state,
            start_type=state.start_type,
            pid=state.pid,
            recovery=state.recovery,
            manager=self.manager.kind,
            name=self.manager.name,
            config_dir=str(layout.config_dir),
            data_dir=str(layout.data_dir),
            log_dir=str(layout.log_dir),
            daemon=daemon,
            detail=state.detail,
            account=None if account is None else _account_label(account),
            permissions=permissions,
        )


def _account_label(account: ServiceAccount) -> str:
    return account.name if account.uid is None else f"{account.name} (uid {account.uid}, gid {account.gid})"
