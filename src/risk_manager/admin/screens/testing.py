"""Main menu 4: Connection Testing (admin-cli.md §9) with the notification test (``admin test notify``),
and the result table shared with ``admin test``."""

from __future__ import annotations

from risk_manager.admin import exits
from risk_manager.admin.accounts_edit import AccountsEditor
from risk_manager.admin.conn_tests import TESTS, TestResult, run_tests, summary
from risk_manager.admin.context import AdminContext
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.screens.base import header, run_action
from risk_manager.admin.ui import Ui, format_ms

NAMES = {
    "config": "Config",
    "database": "Database",
    "daemon": "Daemon",
    "rest": "REST sign-in",
    "user-hub": "User hub",
    "market-hub": "Market hub",
}


def result_rows(ui: Ui, results: list[TestResult]) -> list[list[str]]:
    sym = ui.sym
    marks = {"pass": sym.ok, "fail": sym.fail, "warn": sym.warn, "skip": "–" if ui.unicode else "-"}
    return [
        [r.name, marks[r.status], format_ms(r.ms) if r.ms is not None else sym.dash, r.detail]
        for r in results
    ]


def show_results(ui: Ui, results: list[TestResult]) -> tuple[int, int, int]:
    ui.table(["Test", "Result", "Time", "Detail"], result_rows(ui, results))
    failed, warned, passed = summary(results)
    ui.info(
        f"{ui.sym.rule_char} {failed} failed, {warned} warning{'s' if warned != 1 else ''}, {passed} passed {ui.sym.rule_char}"
    )
    return failed, warned, passed


def run_and_show(ctx: AdminContext, only: set[str] | None, logins: list[str] | None) -> int:
    """Run, print each result as it comes, then the table; audit the counts. Returns the exit code."""
    ui = ctx.ui

    def progress(result: TestResult) -> None:
        mark = {"pass": ui.ok, "fail": ui.error, "warn": ui.warn}.get(result.status, ui.info)
        took = f" ({format_ms(result.ms)})" if result.ms is not None else ""
        mark(f"{result.name}{took}: {result.detail}")

    results = run_tests(ctx, only, logins, progress if not ui.scripted else None)
    failed, warned, passed = show_results(ui, results)
    ctx.audit(
        "connection_test",
        target=",".join(sorted(only or TESTS)),
        after={"failed": failed, "warnings": warned, "passed": passed},
        outcome="ok" if not failed else f"{failed} failed",
    )
    return exits.BROKER if failed else exits.OK


def screen(ctx: AdminContext) -> None:
    ui = ctx.ui
    logins: list[str] | None = None
    while True:
        header(ctx, "Connection Testing")
        ui.info(f"Logins tested: {', '.join(logins) if logins else 'all'}")
        ui.info("1. Run all tests   2. Choose one test   3. Choose login (default: all logins)")
        ui.info("4. Send a test notification (every channel of daemon.yaml)   0. Back")
        choice = ui.choose(" Select [0-4]: ", 0, 4)
        if choice == "0":
            return
        if choice == "4":
            from risk_manager.admin.notify_test import send_test

            run_action(ctx, send_test, ctx)
            continue
        if choice == "3":
            users = sorted({r.user_name for r in AccountsEditor(ctx.files).rows()})
            for n, user in enumerate(users, start=1):
                ui.info(f"{n}. {user}")
            answer = ui.ask("Login # (Enter = all): ")
            logins = [users[int(answer) - 1]] if answer.isdigit() and 1 <= int(answer) <= len(users) else None
            continue
        only: set[str] | None = None
        if choice == "2":
            for n, name in enumerate(TESTS, start=1):
                ui.info(f"{n}. {NAMES[name]}")
            answer = ui.ask(f"Test # [1-{len(TESTS)}]: ")
            if not (answer.isdigit() and 1 <= int(answer) <= len(TESTS)):
                ui.report(
                    AdminExit(
                        exits.USAGE, f'Invalid choice: "{answer}". Enter a number from 1 to {len(TESTS)}.'
                    )
                )
                ui.pause()
                continue
            only = {TESTS[int(answer) - 1]}
        while True:
            run_and_show(ctx, only, logins)
            if not ui.confirm("Run again?", default=True):
                break
