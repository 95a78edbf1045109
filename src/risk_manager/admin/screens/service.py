"""Main menu 1: Service Control (admin-cli.md §6)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from risk_manager.admin import exits
from risk_manager.admin.context import AdminContext
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.logs import Follower, LogFilter, LogRecord, parse_lines, read_records
from risk_manager.admin.screens.base import header, run_action
from risk_manager.admin.service_actions import (
    CONSOLE_MODE,
    install_service,
    restart_service,
    start_service,
    stop_service,
    uninstall_service,
)
from risk_manager.admin.status import SystemStatus, service_text, uptime

UNKNOWN = "unknown — daemon not reachable"


def _ago(ts: str | None) -> str:
    from datetime import UTC, datetime

    if not ts:
        return "—"
    try:
        seconds = (datetime.now(UTC) - datetime.fromisoformat(ts.replace("Z", "+00:00"))).total_seconds()
    except ValueError:
        return "—"
    return f"{int(seconds)} s ago" if seconds < 120 else f"{int(seconds // 60)} min ago"


def overview(ctx: AdminContext, st: SystemStatus) -> list[tuple[str, str]]:
    """The six lines of the Service Control screen."""
    sym = ctx.ui.sym
    svc = st.service
    installed = (
        "installed" + (f", {svc.get('startType')}" if svc.get("startType") else "")
        if svc.get("installed")
        else "not installed"
    )
    if not st.service_available:
        installed = "service layer not available"
    lines = [("Service", f"RiskManager    {installed}")]
    state = service_text(ctx, st)
    if st.daemon is not None and not st.console_mode:
        state += f"   PID {st.daemon.get('pid')}   {uptime(st.daemon.get('startedAt'))}"
    lines.append(("State", state))
    snap = st.daemon
    if snap is None:
        lines.append(("Daemon", f"{sym.dot} {UNKNOWN} ({st.daemon_reason})"))
        lines += [("Broker", UNKNOWN), ("Accounts", UNKNOWN)]
    else:
        lines.append(
            (
                "Daemon",
                f"{sym.dot} local API {ctx.api_url}   protocol {snap.get('protocol')}   v{snap.get('version')}",
            )
        )
        logins: dict[str, dict[str, Any]] = {}
        for account in st.accounts:
            conn = account.get("connection") or {}
            logins.setdefault(str(account.get("login")), conn)
        broker = "; ".join(
            f"login {name}: user hub {conn.get('userHub', '?')} market hub {conn.get('marketHub', '?')}"
            f"   last event {_ago(conn.get('lastEventAt'))}"
            for name, conn in logins.items()
        )
        lines.append(("Broker", broker or "no login"))
        locked = st.locked_accounts()
        observe = sum(1 for a in st.accounts if a.get("mode") == "observe")
        lines.append(
            (
                "Accounts",
                f"{len(st.accounts)} monitored {sym.sep} {locked} locked {sym.sep} {observe} observe-only",
            )
        )
    db = ctx.data_dir / "risk.db"
    if db.exists():
        stat = db.stat()
        lines.insert(
            4,
            (
                "Database",
                f"{db}   {stat.st_size / 1e6:.1f} MB   last write {int(time.time() - stat.st_mtime)} s ago",
            ),
        )
    else:
        lines.insert(4, ("Database", f"{db}   not found"))
    return lines


def screen(ctx: AdminContext) -> None:
    ui = ctx.ui
    while True:
        st = header(ctx, "Service Control")
        for label, text in overview(ctx, st):
            ui.info(f"{label:<12} {text}")
        ui.rule()
        if st.console_mode:
            ui.warn(f"Start, Stop and Restart are disabled: {CONSOLE_MODE}")
        ui.info("1. Start      2. Stop      3. Restart      4. Recent logs")
        ui.info("5. Install    6. Uninstall                 0. Back")
        choice = ui.choose(" Select [0-6]: ", 0, 6)
        if choice == "0":
            return
        if choice in ("1", "2", "3") and st.console_mode:
            ui.error(CONSOLE_MODE)
            ui.pause()
            continue
        if choice == "1":
            run_action(ctx, start_service, ctx)
        elif choice == "2":
            run_action(ctx, stop_service, ctx, confirmed=False)
        elif choice == "3":
            run_action(ctx, restart_service, ctx, confirmed=False)
        elif choice == "4":
            run_action(ctx, recent_logs, ctx, pause=False)
        elif choice == "5":
            run_action(ctx, install_service, ctx, start=None)
        elif choice == "6":
            run_action(ctx, uninstall_service, ctx, confirmed=False)


def print_records(ctx: AdminContext, records: list[LogRecord], *, with_rule: bool = False) -> None:
    ui = ctx.ui
    styles = {"ERROR": "bold red", "CRITICAL": "bold red", "WARNING": "yellow", "DEBUG": "dim"}
    for r in records:
        rule = f" {r.rule or '-':<8}" if with_rule else ""
        ui.text(f" {r.time} {r.level:<7} {r.account or '-':<8}{rule} {r.message}", styles.get(r.level))


def follow(ctx: AdminContext, flt: LogFilter, *, with_rule: bool = False) -> None:
    """Live tail until Ctrl+C (which returns to the menu, not out of the program)."""
    ui = ctx.ui
    path = ctx.log_dir / "daemon.log"
    ui.info("Following new lines; press Ctrl+C to stop.")
    follower = Follower(path)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            lines = follower.poll()
            if lines:
                print_records(ctx, [r for r in parse_lines(lines) if flt.matches(r)], with_rule=with_rule)
                ui.console.file.flush()
            time.sleep(0.25)
    ui.blank()


def read_or_explain(ctx: AdminContext, flt: LogFilter) -> list[LogRecord]:
    try:
        return read_records(ctx.log_dir, flt)
    except PermissionError:
        raise AdminExit(
            exits.RIGHTS,
            f"Cannot read log file {Path(ctx.log_dir) / 'daemon.log'}: permission denied (run as administrator).",
        ) from None


def recent_logs(ctx: AdminContext) -> None:
    ui = ctx.ui
    records = read_or_explain(ctx, LogFilter(level="DEBUG"))[-50:]
    if not records:
        ui.info(f"No log lines in {ctx.log_dir / 'daemon.log'}.")
    print_records(ctx, records)
    if ui.ask("f = follow, Enter = back: ").lower() == "f":
        follow(ctx, LogFilter(level="DEBUG"))
