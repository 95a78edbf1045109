"""Main menu 5: View Logs (admin-cli.md §10): daemon log, enforcement log, audit log, export."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from risk_manager.admin import exits
from risk_manager.admin.context import AdminContext
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.logs import EnforcementFilter, LogFilter, enforcement_rows, export, parse_day
from risk_manager.admin.screens.base import header, run_action
from risk_manager.admin.screens.service import follow, print_records, read_or_explain

PAGE = 20


def screen(ctx: AdminContext) -> None:
    ui = ctx.ui
    view: dict[str, Any] = {"kind": None, "rows": []}
    while True:
        header(ctx, "View Logs")
        ui.info("1. Daemon log   2. Enforcement log   3. Audit log   4. Export   0. Back")
        choice = ui.choose(" Select [0-4]: ", 0, 4)
        if choice == "0":
            return
        if choice == "1":
            run_action(ctx, daemon_log, ctx, pause=False)
        elif choice == "2":
            run_action(ctx, enforcement_log, ctx, view, pause=False)
        elif choice == "3":
            run_action(ctx, audit_view, ctx, view, pause=False)
        else:
            run_action(ctx, export_view, ctx, view)


def daemon_log(ctx: AdminContext) -> None:
    ui = ctx.ui
    level = (ui.ask("Level [INFO]: ") or "INFO").upper()
    account = ui.ask("Account [all]: ")
    rule = ui.ask("Rule [all]: ")
    text = ui.ask("Text contains []: ")
    flt = LogFilter(
        level=level,
        account="" if account.lower() == "all" else account,
        rule="" if rule.lower() == "all" else rule,
        text=text,
    )
    records = read_or_explain(ctx, flt)
    shown = 100
    while True:
        print_records(ctx, records[-shown:], with_rule=True)
        ui.info(f"{min(shown, len(records))} of {len(records)} matching lines.")
        answer = ui.ask("f = follow, m = more, Enter = back: ").lower()
        if answer == "f":
            follow(ctx, flt, with_rule=True)
            return
        if answer == "m" and shown < len(records):
            shown += 100
            continue
        return


def _date(text: str) -> date | None:
    try:
        return parse_day(text, "Date")
    except ValueError as exc:
        raise AdminExit(exits.USAGE, str(exc)) from None


def _page(ctx: AdminContext, columns: list[str], rows: list[list[Any]]) -> None:
    ui = ctx.ui
    start = 0
    while True:
        ui.table(columns, rows[start : start + PAGE])
        ui.info(f"Rows {min(start + 1, len(rows))}-{min(start + PAGE, len(rows))} of {len(rows)}.")
        answer = ui.ask("n = next, p = previous, Enter = back: ").lower()
        if answer == "n" and start + PAGE < len(rows):
            start += PAGE
        elif answer == "p" and start > 0:
            start -= PAGE
        elif answer not in ("n", "p"):
            return


def enforcement_log(ctx: AdminContext, view: dict[str, Any]) -> None:
    ui = ctx.ui
    today = date.today().isoformat()
    account = ui.ask("Account [all]: ")
    rule = ui.ask("Rule [all]: ")
    since = _date(ui.ask(f"From date [{today}]: ") or today)
    until = _date(ui.ask("To date [today]: "))
    action = ui.ask("Action [all]: ")
    flt = EnforcementFilter(
        account=int(account) if account.isdigit() else None,
        rule=None if rule.lower() in ("", "all") else rule,
        since=since,
        until=until,
        action=None if action.lower() in ("", "all") else action,
    )
    rows = enforcement_rows(ctx.data_dir, ctx.log_dir, flt)
    view.update(kind="enforcement", rows=rows)
    _page(
        ctx,
        ["Time", "Account", "Rule", "Action", "Result", "Reason"],
        [[r["time"], r["account"], r["rule"], r["action"], r["result"], r["reason"]] for r in rows],
    )


def audit_view(ctx: AdminContext, view: dict[str, Any]) -> None:
    ui = ctx.ui
    action = ui.ask("Action [all]: ")
    since = _date(ui.ask("From date []: "))
    entries = ctx.audit_log.read(action=None if action.lower() in ("", "all") else action, since=since)
    rows = [e.to_dict() for e in entries]
    view.update(kind="audit", rows=rows)
    _page(
        ctx,
        ["Time", "OS user", "Action", "Target", "Outcome", "Reason"],
        [[e.at, e.os_user, e.action, e.target, e.outcome, e.reason] for e in entries],
    )


def default_export_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_documents_dir())


def export_view(ctx: AdminContext, view: dict[str, Any]) -> None:
    ui = ctx.ui
    if view["kind"] is None:
        raise AdminExit(
            exits.USAGE, "Show the enforcement log or the audit log first; the export writes that view."
        )
    fmt = (ui.ask("Format csv or json [csv]: ") or "csv").lower()
    if fmt not in ("csv", "json"):
        raise AdminExit(exits.USAGE, f'Invalid format "{fmt}": csv or json.')
    default = default_export_dir() / f"risk-manager-{view['kind']}-{date.today().isoformat()}.{fmt}"
    path = Path(ui.ask(f"File [{default}]: ") or default).expanduser()
    count = export(view["rows"], path, fmt)
    ui.ok(f"Exported {count} rows to {path}.")
