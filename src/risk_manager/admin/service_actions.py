"""Service Control actions (admin-cli.md §6): the service layer's operations plus the console's part.

The service layer (``service_control``) does the work and words its own results (daemon.md §10.3);
the console adds the rights gate, the confirmations, the waiting (every 0.5 s, up to 30 s) and the
final check that the daemon answers on its local API. Nothing is reported as successful before that
check. When the daemon runs in a console window, there is no service to start or stop.
"""

from __future__ import annotations

import time
from typing import Any

from risk_manager.admin import exits
from risk_manager.admin.context import AdminContext
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.service_control import UNAVAILABLE_SENTENCE, state_word

POLL_S = 0.5
WAIT_S = 30.0
CONSOLE_MODE = "The daemon runs in a console window; stop it there (Ctrl+C)."


def daemon_mode(ctx: AdminContext) -> tuple[str | None, int | None]:
    """``(mode, pid)`` from the daemon's snapshot, or ``(None, None)`` when it does not answer."""
    snap = ctx.daemon_snapshot()
    if snap is None:
        return None, None
    pid = snap.get("pid")
    return str(snap.get("mode") or ""), pid if isinstance(pid, int) else None


def _console_mode_guard(ctx: AdminContext, what: str) -> None:
    status = ctx.services.status()
    if status.installed:
        return
    mode, pid = daemon_mode(ctx)
    if mode == "console":
        if what == "start":
            raise AdminExit(
                exits.OK,
                f"Service is not needed: the daemon already runs in a console window (PID {pid}).",
                kind="warn",
            )
        raise AdminExit(exits.RUNTIME, CONSOLE_MODE)


def _prepare(ctx: AdminContext, what: str) -> Any:
    ctx.require_rights("control the service")
    _console_mode_guard(ctx, what)
    status = ctx.services.status()
    if not ctx.services.available:
        raise AdminExit(exits.NOT_INSTALLED, f"{UNAVAILABLE_SENTENCE}; the service cannot be controlled.")
    if not status.installed:
        hint = (
            "Use 5. Install."
            if not ctx.ui.scripted
            else "Install it with: risk-manager admin service install"
        )
        raise AdminExit(exits.NOT_INSTALLED, f"Service is not installed. {hint}")
    return status


def _wait_state(ctx: AdminContext, target: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    status = ctx.services.status()
    while status.state != target and time.monotonic() < deadline:
        time.sleep(POLL_S)
        status = ctx.services.status()
    return status


def _wait_daemon(ctx: AdminContext) -> dict[str, Any] | None:
    deadline = time.monotonic() + WAIT_S
    while True:
        ctx.drop_daemon()
        snap = ctx.daemon_snapshot()
        if snap is not None or time.monotonic() >= deadline:
            return snap
        time.sleep(POLL_S)


def _protected_text(snap: dict[str, Any]) -> str:
    accounts = snap.get("accounts") or []
    protected = [a for a in accounts if a.get("protection") == "protected"]
    text = f"{len(protected)} account{'s' if len(protected) != 1 else ''} protected."
    pending = [str(a.get("accountId")) for a in accounts if a.get("protection") == "reconciling"]
    if pending:
        text += f" Still reconciling: {', '.join(pending)}."
    return text


def start_service(ctx: AdminContext, *, phase: str = "") -> float:
    """Start and wait until RUNNING and the daemon answers; returns seconds taken."""
    ui = ctx.ui
    status = _prepare(ctx, "start")
    if status.state == "running" and not phase:
        raise AdminExit(exits.OK, "Service is already running.", kind="warn")
    started = time.monotonic()
    with ui.step("Starting service") as step:
        outcome = ctx.services.start()
        if outcome.exit_code != 0:
            step.failed = _strip(outcome.message)
            ctx.audit("service_start", outcome=step.failed)
            raise AdminExit(outcome.exit_code)
        status = _wait_state(ctx, "running")
        if status.state != "running":
            step.failed = (
                f"Service did not reach RUNNING within {WAIT_S:.0f} s (state: {state_word(status.state)})."
            )
        else:
            snap = _wait_daemon(ctx)
            if snap is None:
                step.failed = (
                    f"Service started but the daemon is not answering on {ctx.api_url} — see 4. Recent logs."
                )
            else:
                step.done = f"Service started (PID {snap.get('pid') or status.pid}). {_protected_text(snap)}"
    ctx.audit("service_start", outcome="ok" if step.failed is None else step.failed)
    if step.failed is not None:
        raise AdminExit(exits.RUNTIME)
    return time.monotonic() - started


def stop_service(ctx: AdminContext, *, confirmed: bool, phase: str = "") -> None:
    ui = ctx.ui
    status = _prepare(ctx, "stop")
    if status.state == "stopped":
        raise AdminExit(exits.OK, "Service is not running.", kind="warn")
    if not confirmed:
        ui.panel(
            [
                "Stopping the service removes ALL protection: rules are not enforced and",
                "lockouts are not applied until it starts again.",
            ],
            title="Stop the service",
            danger=True,
        )
        if not ui.typed_confirm("Type STOP to confirm: ", "STOP"):
            raise AdminExit(exits.RUNTIME, kind="plain")
    with ui.step("Stopping service") as step:
        outcome = ctx.services.stop()
        if outcome.exit_code != 0:
            step.failed = _strip(outcome.message)
        else:
            status = _wait_state(ctx, "stopped")
            if status.state != "stopped":
                step.failed = (
                    f"Service did not stop within {WAIT_S:.0f} s (state: {state_word(status.state)})."
                )
            else:
                step.done = "Service stopped. Accounts are NOT protected."
    ctx.drop_daemon()
    ctx.audit("service_stop", outcome="ok" if step.failed is None else step.failed)
    if step.failed is not None:
        raise AdminExit(exits.RUNTIME)


def restart_service(ctx: AdminContext, *, confirmed: bool = True) -> None:
    ui = ctx.ui
    _prepare(ctx, "restart")
    if not confirmed and not ui.confirm("Restart the service? Protection pauses for a few seconds."):
        raise AdminExit(exits.RUNTIME, "Cancelled.", kind="plain")
    started = time.monotonic()
    stop_service(ctx, confirmed=True, phase="restart")
    start_service(ctx, phase="restart")
    snap = ctx.daemon_snapshot() or {}
    ui.ok(f"Service restarted (PID {snap.get('pid')}) in {time.monotonic() - started:.1f} s.")
    ctx.audit("service_restart")


def install_service(ctx: AdminContext, *, start: bool | None) -> None:
    ui = ctx.ui
    ctx.require_rights("install the service")
    if not ctx.services.available:
        raise AdminExit(exits.NOT_INSTALLED, f"{UNAVAILABLE_SENTENCE}; the service cannot be installed.")
    if ctx.services.status().installed:
        raise AdminExit(exits.OK, "Service is already installed.", kind="warn")
    failed = preinstall_checks(ctx)
    if failed:
        raise AdminExit(exits.VALIDATION, "Fix the problems above, then install again.", kind="plain")
    outcome = ctx.services.install()
    ctx.audit("service_install", outcome="ok" if outcome.exit_code == 0 else _strip(outcome.message))
    if outcome.exit_code != 0:
        raise AdminExit(outcome.exit_code, _strip(outcome.message))
    ui.ok("Service installed (auto-start on boot).")
    if start is None and not ui.scripted:
        start = ui.confirm("Start it now?", default=True)
    if start:
        start_service(ctx)


def preinstall_checks(ctx: AdminContext) -> bool:
    """The checks of ``risk-manager service install``, each printed; True when one failed."""
    from risk_manager.admin.config_files import SaveRefused

    ui = ctx.ui
    failed = False
    try:
        config = ctx.files.validate({})
        ui.ok("Configuration files are valid.")
    except SaveRefused as exc:
        for issue in exc.issues:
            ui.error(str(issue))
        return True
    if not any(a.enabled for _, a in config.account_configs()):
        ui.error("No enabled account. Add one in 2. Account Management.")
        failed = True
    if ctx.passwords.is_set():
        ui.ok("Admin password is set.")
    else:
        ui.error("No admin password is set. Run: risk-manager admin password setup")
        failed = True
    return failed


def uninstall_service(ctx: AdminContext, *, confirmed: bool) -> None:
    ui = ctx.ui
    ctx.require_rights("uninstall the service")
    if not ctx.services.available:
        raise AdminExit(exits.NOT_INSTALLED, f"{UNAVAILABLE_SENTENCE}.")
    if not ctx.services.status().installed:
        raise AdminExit(exits.OK, "Service is not installed.", kind="warn")
    if not confirmed:
        ui.panel(
            ["Uninstalling stops the service and removes it: the accounts are NOT protected afterwards."],
            title="Uninstall the service",
            danger=True,
        )
        if not ui.typed_confirm("Type UNINSTALL to confirm: ", "UNINSTALL"):
            raise AdminExit(exits.RUNTIME, kind="plain")
    outcome = ctx.services.uninstall()
    ctx.audit("service_uninstall", outcome="ok" if outcome.exit_code == 0 else _strip(outcome.message))
    if outcome.exit_code != 0:
        raise AdminExit(outcome.exit_code, _strip(outcome.message))
    ui.ok(f"Service removed. Config and data kept in {ctx.config_dir}, {ctx.data_dir}, {ctx.log_dir}.")


def _strip(message: str) -> str:
    """The service layer's message without its own leading symbol (the console adds its own)."""
    text = message.strip()
    for prefix in ("✓", "✗", "!", "[OK]", "[FAIL]", "[WARN]"):
        if text.startswith(prefix):
            return text[len(prefix) :].strip()
    return text
