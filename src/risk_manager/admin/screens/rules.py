"""Main menu 3: Rule Configuration (admin-cli.md §8)."""

from __future__ import annotations

from risk_manager.admin import exits
from risk_manager.admin.apply import Applied, reload_daemon, restore_backups
from risk_manager.admin.audit import CONFIG_ACTIONS
from risk_manager.admin.config_files import SaveRefused, issue_line
from risk_manager.admin.context import AdminContext
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.rule_actions import apply_value, editor_or_exit, parse_value, save_rule
from risk_manager.admin.rule_edit import RuleEditor, Scope
from risk_manager.admin.rule_fields import (
    GLOBAL,
    RULES,
    RuleDef,
    action_text,
    effective_block,
    get_path,
    key_limits,
    show,
)
from risk_manager.admin.screens.base import header, run_action
from risk_manager.admin.values import InputError
from risk_manager.config.loader import RISK_FILE


def rule_table(ctx: AdminContext, editor: RuleEditor) -> None:
    ui = ctx.ui
    rules = editor.rules()
    rows = []
    for rule in RULES:
        block = effective_block(rules, rule)
        star = "*" if editor.scope.account_id is not None and editor.region(rule) else ""
        rows.append(
            [
                str(rule.number),
                rule.title + star,
                ui.sym.ok if block["enabled"] else ui.sym.fail,
                key_limits(rule, block, ui.sym.sep, "→" if ui.unicode else "->"),
                action_text(rule, block),
            ]
        )
    ui.table(["#", "Rule", "On", "Key limits", "Action"], rows)


def screen(ctx: AdminContext) -> None:
    ui = ctx.ui
    scope = Scope()
    while True:
        header(ctx, f"Rule Configuration — scope: {scope.label}")
        try:
            editor = editor_or_exit(ctx, scope)
        except AdminExit as exc:
            ui.report(exc)
            ui.info("4. Restore a previous version   5. Reload daemon now   6. Change history   0. Back")
            choice = ui.choose(" Select [0-6]: ", 0, 6, extra=("u",))
            _other(ctx, choice)
            if choice == "0":
                return
            continue
        rule_table(ctx, editor)
        ui.rule()
        ui.info("1. Edit a rule   2. Enable / disable a rule   3. Change scope (defaults / account)")
        ui.info("4. Restore a previous version   5. Reload daemon now   6. Change history   0. Back")
        choice = ui.choose(" Select [0-6]: ", 0, 6, extra=("u",))
        if choice == "0":
            return
        if choice == "1":
            run_action(ctx, edit_rule, ctx, scope, pause=False)
        elif choice == "2":
            run_action(ctx, toggle_rule, ctx, scope)
        elif choice == "3":
            scope = choose_scope(ctx, scope)
        else:
            _other(ctx, choice)


def _other(ctx: AdminContext, choice: str) -> None:
    if choice == "4":
        run_action(ctx, restore_dialog, ctx)
    elif choice == "u":
        run_action(ctx, restore_previous, ctx)
    elif choice == "5":
        run_action(ctx, reload_now, ctx)
    elif choice == "6":
        run_action(ctx, change_history, ctx, pause=False)


def choose_scope(ctx: AdminContext, scope: Scope) -> Scope:
    ui = ctx.ui
    answer = ui.ask("Scope: d = defaults, or an account ID: ").strip().lower()
    if answer in ("", "d", "defaults"):
        return Scope()
    if answer.isdigit():
        try:
            RuleEditor(ctx.files, Scope(int(answer)))
        except KeyError:
            ui.error(f"Unknown account: {answer}.")
            ui.pause()
            return scope
        except SaveRefused:
            return scope
        return Scope(int(answer))
    ui.error(f'Invalid choice: "{answer}".')
    ui.pause()
    return scope


def _pick_rule(ctx: AdminContext) -> RuleDef:
    last = len(RULES)
    answer = ctx.ui.ask(f"Rule # [1-{last}]: ")
    if not (answer.isdigit() and 1 <= int(answer) <= last):
        raise AdminExit(exits.USAGE, f'Invalid choice: "{answer}". Enter a number from 1 to {last}.')
    return RULES[int(answer) - 1]


def rule_panel(ctx: AdminContext, editor: RuleEditor, rule: RuleDef) -> None:
    ui = ctx.ui
    block = effective_block(editor.source(rule), rule)
    defaults = effective_block(editor.default_rules(), rule) if editor.scope.account_id is not None else None
    rows = []
    for n, field in enumerate(rule.fields, start=1):
        value = show(field, get_path(block, field.key))
        extra = field.allowed_text()
        if defaults is not None:
            extra = f"(default: {show(field, get_path(defaults, field.key))})"
        marker = "*" if defaults is not None and editor.overridden(rule, field) else ""
        rows.append((f"{marker}{n}", field.key, field.type_text, value, extra))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row)).rstrip()
        for row in rows
    ]
    name = rule.title if rule is GLOBAL else f"Rule {rule.number} — {rule.title}"
    ui.panel(lines, title=f"{name} (scope: {editor.scope.label})")


def _label(field_key: str, kind: str) -> str:
    text = field_key.replace(".", " › ").replace("_", " ")
    text = text[0].upper() + text[1:]
    return text + (" (USD)" if kind == "money" else "")


def edit_field(ctx: AdminContext, editor: RuleEditor, rule: RuleDef, number: int) -> bool:
    """Ask for a new value until it is valid; False when the admin typed q (cancel the whole edit)."""
    ui = ctx.ui
    field = rule.fields[number - 1]
    current = get_path(effective_block(editor.source(rule), rule), field.key)
    if field.kind == "bool":
        apply_value(editor, rule, field, not current)
        ui.info(f"{field.key}: {show(field, current)} → {show(field, not current)}")
        return True
    while True:
        lines: list[str] | None = None
        if field.kind in ("tiers", "windows"):
            what = (
                "loss duration, e.g. 100 15m"
                if field.kind == "tiers"
                else "SYMBOL START END [ZONE] [DAYS], -SYMBOL removes"
            )
            ui.info(f"Current: {show(field, current)}")
            lines = []
            while True:
                line = ui.ask(
                    f"{'Tier' if field.kind == 'tiers' else 'Window'} {len(lines) + 1} ({what}; empty line ends): "
                )
                if line.lower() == "q":
                    return False
                if not line:
                    break
                lines.append(line)
            if not lines:
                return True
            text = ""
        else:
            text = ui.ask(f"{_label(field.key, field.kind)} [{show(field, current)}]: ")
            if text.lower() == "q":
                return False
            if not text:
                return True
        try:
            value, warnings = parse_value(field, text, current, lines)
            apply_value(editor, rule, field, value)
        except InputError as exc:
            ui.error(f"Rule {rule.number} › {field.key}: {exc}")
            continue
        except SaveRefused as exc:
            for issue in exc.issues:
                ui.error(issue_line(issue, ui.sym.arrow))
            continue
        for warning in warnings:
            ui.warn(f"{warning} (kept: the broker may list contracts this console does not know)")
        return True


def edit_rule(ctx: AdminContext, scope: Scope) -> None:
    ui = ctx.ui
    ctx.require_rights()
    rule = _pick_rule(ctx)
    editor = editor_or_exit(ctx, scope)
    while True:
        rule_panel(ctx, editor, rule)
        prompt = " Field # to change, s = review & save, x = discard"
        prompt += ", r = remove override: " if scope.account_id is not None else ": "
        answer = ui.ask(prompt).lower()
        if answer == "x" or answer == "q":
            ui.info("Discarded.")
            return
        if answer == "s":
            save_rule(ctx, editor, rule, reason=None, yes=False, interactive=True)
            ui.pause()
            return
        if answer == "r" and scope.account_id is not None:
            which = ui.ask("Field # to reset to the default (Enter = whole rule): ")
            field = (
                rule.fields[int(which) - 1]
                if which.isdigit() and 1 <= int(which) <= len(rule.fields)
                else None
            )
            editor.unset(rule, field)
            continue
        if answer.isdigit() and 1 <= int(answer) <= len(rule.fields):
            if not edit_field(ctx, editor, rule, int(answer)):
                ui.info("Edit cancelled; nothing was saved.")
                return
            continue
        ui.error(f'Invalid choice: "{answer}". Enter a number from 1 to {len(rule.fields)}, s, x or r.')


def toggle_rule(ctx: AdminContext, scope: Scope) -> None:
    ctx.require_rights()
    rule = _pick_rule(ctx)
    editor = editor_or_exit(ctx, scope)
    field = rule.fields[0]
    current = effective_block(editor.rules(), rule)["enabled"]
    apply_value(editor, rule, field, not current)
    save_rule(ctx, editor, rule, reason=None, yes=False, interactive=True)


def restore_dialog(ctx: AdminContext) -> None:
    ui = ctx.ui
    ctx.require_rights()
    backups = ctx.files.backups_of(RISK_FILE)
    if not backups:
        raise AdminExit(exits.NOT_FOUND, "No backup of risk_config.yaml yet.")
    ui.table(
        ["#", "Time", "OS user", "Change it preceded"],
        [[n, b.time_text, b.os_user or "?", b.summary or ""] for n, b in enumerate(backups[:20], start=1)],
    )
    answer = ui.ask(f"Backup # [1-{min(20, len(backups))}]: ")
    if not (answer.isdigit() and 1 <= int(answer) <= min(20, len(backups))):
        raise AdminExit(exits.USAGE, f'Invalid choice: "{answer}".')
    restore_one(ctx, backups[int(answer) - 1].name)


def restore_one(ctx: AdminContext, backup: str) -> Applied | None:
    ui = ctx.ui
    current = (ctx.files.text(RISK_FILE) or "").splitlines()
    target = ctx.files.backup_text(backup).splitlines()
    import difflib

    diff = [
        line
        for line in difflib.unified_diff(current, target, "current", backup, lineterm="", n=0)
        if not line.startswith(("---", "+++", "@@"))
    ]
    if not diff:
        ui.info("This version is the same as the current file. Nothing to restore.")
        return None
    ui.info(f"Changes from the current risk_config.yaml to {backup}:")
    for line in diff:
        ui.text(f"   {line}", "red" if line.startswith("-") else "green")
    if not ui.confirm("Restore this version?"):
        ui.info("Not restored.")
        return None
    return restore_backups(ctx, {RISK_FILE: backup}, interactive=True)


def restore_previous(ctx: AdminContext) -> None:
    """``u``: the version before the last change."""
    ctx.require_rights()
    backups = ctx.files.backups_of(RISK_FILE)
    if not backups:
        raise AdminExit(exits.NOT_FOUND, "No backup of risk_config.yaml yet.")
    restore_one(ctx, backups[0].name)


def reload_now(ctx: AdminContext) -> None:
    ui = ctx.ui
    if ctx.daemon() is None:
        raise AdminExit(
            exits.DAEMON_UNREACHABLE, f"The daemon is not answering on {ctx.api_url} ({ctx.daemon_reason})."
        )
    result = reload_daemon(ctx, Applied(), interactive=True)
    if result.live == "rejected":
        backups = ctx.files.backups_of(RISK_FILE)
        if backups and ui.confirm("Restore the previous version on disk?", default=True):
            restore_one(ctx, backups[0].name)


def change_history(ctx: AdminContext) -> None:
    ui = ctx.ui
    entries = ctx.audit_log.read(actions=CONFIG_ACTIONS)
    start = 0
    while True:
        page = entries[start : start + 20]
        ui.table(
            ["Time", "OS user", "Action", "Scope", "Before → After", "Reason"],
            [
                [e.at, e.os_user, e.action, e.target, _before_after(e.before, e.after), e.reason or ""]
                for e in page
            ],
        )
        answer = ui.ask("n = next, p = previous, Enter = back: ").lower()
        if answer == "n" and start + 20 < len(entries):
            start += 20
        elif answer == "p" and start:
            start -= 20
        elif answer not in ("n", "p"):
            return


def _before_after(before: object, after: object) -> str:
    if isinstance(before, dict) or isinstance(after, dict):
        b = before if isinstance(before, dict) else {}
        a = after if isinstance(after, dict) else {}
        keys = list(dict.fromkeys([*b, *a]))
        return "; ".join(f"{k}: {b.get(k, '—')} → {a.get(k, '—')}" for k in keys)
    return ""
