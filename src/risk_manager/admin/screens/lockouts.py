"""Main menu 6: Lockouts (admin-cli.md §11)."""

from __future__ import annotations

from risk_manager.admin import exits
from risk_manager.admin.context import AdminContext
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.lockouts import (
    MIN_REASON,
    RULE_TITLES,
    LockoutRow,
    condition_still_true,
    history,
    left_text,
    live_lockouts,
    local_time,
    unlock,
    until_text,
)
from risk_manager.admin.screens.base import header, run_action


def lockout_rows(rows: list[LockoutRow]) -> list[list[str]]:
    return [
        [
            str(n),
            str(r.account),
            RULE_TITLES.get(r.rule, r.rule),
            r.scope,
            local_time(r.since),
            until_text(r),
            left_text(r.until) if r.clears_on != "admin" else "—",
            r.reason + (" (observed)" if r.observed else ""),
        ]
        for n, r in enumerate(rows, start=1)
    ]


COLUMNS = ["#", "Account", "Rule", "Scope", "Since", "Until", "Left", "Reason"]


def screen(ctx: AdminContext) -> None:
    ui = ctx.ui
    while True:
        header(ctx, "Lockouts")
        rows, live = live_lockouts(ctx)
        if not live:
            ui.warn(
                "Daemon not reachable — showing stored lockouts; unlocking is not possible until the daemon runs."
            )
        if rows:
            ui.table(COLUMNS, lockout_rows(rows))
        else:
            ui.info("No active lockouts.")
        ui.rule()
        ui.info("1. Unlock   2. Today's lockout history   3. Refresh   0. Back")
        choice = ui.choose(" Select [0-3]: ", 0, 3)
        if choice == "0":
            return
        if choice == "1":
            run_action(ctx, unlock_dialog, ctx, rows, live)
        elif choice == "2":
            run_action(ctx, show_history, ctx)


def unlock_dialog(ctx: AdminContext, rows: list[LockoutRow], live: bool) -> None:
    ui = ctx.ui
    if not live:
        raise AdminExit(exits.DAEMON_UNREACHABLE, "Unlocking needs the daemon; it is not reachable.")
    if not rows:
        raise AdminExit(exits.OK, "No active lockouts.", kind="plain")
    answer = ui.ask("Lockout # (or a for all of one account): ").lower()
    if answer == "a":
        account_text = ui.ask("Account ID: ")
        if not account_text.isdigit() or not any(r.account == int(account_text) for r in rows):
            raise AdminExit(exits.NOT_FOUND, f"No lockout on account {account_text}.")
        chosen = [r for r in rows if r.account == int(account_text)]
    elif answer.isdigit() and 1 <= int(answer) <= len(rows):
        chosen = [rows[int(answer) - 1]]
    else:
        raise AdminExit(
            exits.USAGE, f'Invalid choice: "{answer}". Enter a number from 1 to {len(rows)} or a.'
        )
    ui.table(COLUMNS, lockout_rows(chosen))
    if any(condition_still_true(ctx, r) for r in chosen):
        ui.warn("The condition is still true; the rule will lock again at the next event.")
    while True:
        reason = ui.ask(f"Reason (required, at least {MIN_REASON} characters): ")
        if len(reason.strip()) >= MIN_REASON:
            break
        ui.error(f"The reason must be at least {MIN_REASON} characters.")
    account = chosen[0].account
    count = len(chosen)
    if not ui.confirm(
        f"Unlock {count} lockout{'s' if count != 1 else ''} on {account}? Trading becomes possible immediately."
    ):
        ui.info("Not unlocked.")
        return
    if answer == "a":
        result = unlock(ctx, account, reason)
    else:
        result = unlock(ctx, account, reason, lockout_id=chosen[0].lockout_id)
    if result.get("conditionStillTrue"):
        ui.warn("The daemon reports the condition is still true; the rule will lock again at the next event.")
    ui.ok(f'Unlocked. Logged as manual unlock by {ctx.os_user}: "{reason.strip()}".')


def show_history(ctx: AdminContext) -> None:
    ui = ctx.ui
    try:
        items = history(ctx)
    except OSError as exc:
        raise AdminExit(exits.RUNTIME, f"Cannot read the database: {exc}") from None
    if not items:
        ui.info("No lockouts today.")
        return
    ui.table(
        ["Account", "Rule", "Set", "Cleared", "By", "Reason"],
        [
            [
                i["accountId"],
                i["ruleId"],
                local_time(i["createdAt"]),
                local_time(i["clearedAt"]),
                i["clearedBy"] or ("active" if i["active"] else ""),
                i["clearReason"] or i["reason"] or "",
            ]
            for i in items
        ],
    )
