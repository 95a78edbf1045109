"""Subcommands ``admin rules …`` and ``admin config …`` (admin-cli.md §14)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from risk_manager.admin import exits
from risk_manager.admin.app import run_scripted
from risk_manager.admin.commands.system import Json, PasswordStdin
from risk_manager.admin.exits import AdminExit

AccountOpt = Annotated[int | None, typer.Option("--account", help="Account scope (default: the defaults).")]
Yes = Annotated[bool, typer.Option("--yes", help="Confirm a change that weakens protection.")]
Reason = Annotated[str | None, typer.Option("--reason", help="Why (kept in the audit log).")]


def _scope(account: int | None) -> Any:
    from risk_manager.admin.rule_edit import Scope

    return Scope(account)


def _set(
    ctx: Any, rule_ref: str, key: str, value: str, account: int | None, reason: str | None, yes: bool
) -> int:
    from risk_manager.admin.config_files import SaveRefused, issue_line
    from risk_manager.admin.rule_actions import (
        apply_value,
        editor_or_exit,
        field_or_exit,
        parse_value,
        rule_or_exit,
    )
    from risk_manager.admin.rule_fields import effective_block, get_path
    from risk_manager.admin.values import InputError

    ctx.require_rights()
    rule = rule_or_exit(rule_ref)
    _no_account_for_global(rule, account)
    field = field_or_exit(rule, key)
    editor = editor_or_exit(ctx, _scope(account))
    current = get_path(effective_block(editor.source(rule), rule), field.key)
    try:
        parsed, warnings = parse_value(field, value, current)
        apply_value(editor, rule, field, parsed)
    except InputError as exc:
        raise AdminExit(exits.VALIDATION, f"Rule {rule.number} › {field.key}: {exc}") from None
    except SaveRefused as exc:
        for issue in exc.issues:
            ctx.ui.error(issue_line(issue, ctx.ui.sym.arrow))
        raise AdminExit(exits.VALIDATION, "Nothing was saved.", kind="plain") from None
    for warning in warnings:
        ctx.ui.warn(warning)
    from risk_manager.admin.rule_actions import save_rule

    result = save_rule(ctx, editor, rule, reason=reason, yes=yes, interactive=False)
    if result is not None and result.live == "rejected":
        # The file keeps the change the daemon refused (a restart would apply it): say how to undo it.
        ctx.ui.info(
            "The saved file still has this change. Undo it with: risk-manager admin config restore "
            "--previous --yes" + ("; or schedule it for a later day with `pending` (docs/rules-extra.md §5.3)."
                                  if any("loosening is locked" in e for e in result.errors) else ".")
        )
        return exits.VALIDATION
    return exits.OK


def _no_account_for_global(rule: Any, account: int | None) -> None:
    from risk_manager.admin.rule_fields import GLOBAL

    if rule is GLOBAL and account is not None:
        raise AdminExit(exits.USAGE, "The global settings apply to every account: leave out --account.")


def register(app: typer.Typer) -> None:
    rules = typer.Typer(
        name="rules", help="Show and change the rules (1-15) and the global settings.", no_args_is_help=True
    )
    app.add_typer(rules)

    @rules.command("list")
    def list_(
        tctx: typer.Context,
        account: AccountOpt = None,
        as_json: Json = False,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """The 12 rules with their key limits (--json: the full effective configuration)."""

        def action(ctx: Any) -> None:
            from risk_manager.admin.rule_actions import editor_or_exit
            from risk_manager.admin.screens.rules import rule_table

            editor = editor_or_exit(ctx, _scope(account))
            if as_json:
                typer.echo(json.dumps(editor.rules().model_dump(mode="json"), indent=2))
            else:
                rule_table(ctx, editor)

        run_scripted(tctx, action, password_stdin=password_stdin)

    @rules.command("show")
    def show(
        tctx: typer.Context,
        rule: Annotated[str, typer.Argument(help="3, RULE-003, daily_realized_loss or global")],
        account: AccountOpt = None,
        as_json: Json = False,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """Every key of one rule (or of the global settings)."""

        def action(ctx: Any) -> None:
            from risk_manager.admin.rule_actions import editor_or_exit, rule_or_exit
            from risk_manager.admin.rule_fields import effective_block
            from risk_manager.admin.screens.rules import rule_panel

            found = rule_or_exit(rule)
            _no_account_for_global(found, account)
            editor = editor_or_exit(ctx, _scope(account))
            if as_json:
                typer.echo(json.dumps(effective_block(editor.source(found), found), indent=2, default=str))
            else:
                rule_panel(ctx, editor, found)

        run_scripted(tctx, action, password_stdin=password_stdin)

    @rules.command("set")
    def set_(
        tctx: typer.Context,
        rule: Annotated[str, typer.Argument(help="3, RULE-003, daily_realized_loss or global")],
        key: Annotated[
            str,
            typer.Argument(
                help="Key path inside the rule, e.g. loss_limit, per_minute.limit, ladder.reduce_only_at, "
                "or (global) settings_lock.enabled"
            ),
        ],
        value: Annotated[str, typer.Argument(help="New value, parsed as in the menus")],
        account: AccountOpt = None,
        reason: Reason = None,
        yes: Yes = False,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """Change one key; prints the diff; weakening changes need --yes."""
        run_scripted(
            tctx, lambda ctx: _set(ctx, rule, key, value, account, reason, yes), password_stdin=password_stdin
        )

    def switch(on: bool) -> None:
        """``enable`` / ``disable``: one key, ``enabled``; turning a rule off weakens protection."""

        def command(
            tctx: typer.Context,
            rule: Annotated[str, typer.Argument()],
            account: AccountOpt = None,
            reason: Reason = None,
            yes: Yes = False,
            password_stdin: PasswordStdin = False,
        ) -> None:
            value = "true" if on else "false"
            run_scripted(
                tctx, lambda ctx: _set(ctx, rule, "enabled", value, account, reason, yes), password_stdin=password_stdin
            )

        command.__doc__ = "Turn a rule on." if on else "Turn a rule off (weakens protection: needs --yes)."
        rules.command("enable" if on else "disable")(command)

    switch(True)
    switch(False)

    @rules.command("unset")
    def unset(
        tctx: typer.Context,
        rule: Annotated[str, typer.Argument()],
        key: Annotated[str, typer.Argument()],
        account: Annotated[int, typer.Option("--account", help="The account whose override goes.")],
        reason: Reason = None,
        yes: Yes = False,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """Remove an account override (the default applies again)."""

        def action(ctx: Any) -> None:
            from risk_manager.admin.rule_actions import editor_or_exit, field_or_exit, rule_or_exit, save_rule

            ctx.require_rights()
            found = rule_or_exit(rule)
            field = field_or_exit(found, key)
            editor = editor_or_exit(ctx, _scope(account))
            if not editor.overridden(found, field):
                raise AdminExit(
                    exits.NOT_FOUND, f"Account {account} has no override of {found.key}.{field.key}."
                )
            editor.unset(found, field)
            save_rule(ctx, editor, found, reason=reason, yes=yes, interactive=False)

        run_scripted(tctx, action, password_stdin=password_stdin)

    _config(app)


def _config(app: typer.Typer) -> None:
    config = typer.Typer(
        name="config", help="Validate, restore and reload the configuration.", no_args_is_help=True
    )
    app.add_typer(config)

    @config.command("validate")
    def validate(
        tctx: typer.Context,
        file: Annotated[
            Path | None, typer.Option("--file", help="Check this file in place of its namesake.")
        ] = None,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """Validate without saving (exit 5 with every error listed)."""

        def action(ctx: Any) -> None:
            from risk_manager.admin.apply import refuse
            from risk_manager.admin.config_files import EDITABLE, SaveRefused
            from risk_manager.config.loader import ALL_FILES

            texts: dict[str, str] = {}
            if file is not None:
                if file.name not in ALL_FILES:
                    raise AdminExit(
                        exits.USAGE, f"--file must be named one of {', '.join(ALL_FILES)} ({EDITABLE[0]}, …)."
                    )
                try:
                    texts[file.name] = file.read_text(encoding="utf-8-sig")
                except OSError as exc:
                    raise AdminExit(exits.NOT_FOUND, f"Cannot read {file}: {exc.strerror or exc}") from None
            try:
                config = ctx.files.validate(texts)
            except SaveRefused as exc:
                refuse(ctx, exc.issues)  # prints every problem
                count = len(exc.issues)
                raise AdminExit(
                    exits.VALIDATION, f"{count} problem{'s' if count != 1 else ''} found.", kind="plain"
                ) from None
            accounts = sum(1 for _ in config.account_configs())
            ctx.ui.ok(f"Configuration valid: {accounts} account{'s' if accounts != 1 else ''}.")

        run_scripted(tctx, action, password_stdin=password_stdin)

    @config.command("history")
    def history(tctx: typer.Context, as_json: Json = False, password_stdin: PasswordStdin = False) -> None:
        """Configuration changes from the audit log, and the backups, newest first."""

        def action(ctx: Any) -> None:
            from risk_manager.admin.config_files import EDITABLE

            backups = [b for name in EDITABLE for b in ctx.files.backups_of(name)]
            backups.sort(key=lambda b: b.name, reverse=True)
            backups.sort(key=lambda b: b.at, reverse=True)
            from risk_manager.admin.audit import CONFIG_ACTIONS

            entries = ctx.audit_log.read(actions=CONFIG_ACTIONS)
            if as_json:
                typer.echo(
                    json.dumps(
                        {
                            "changes": [e.to_dict() for e in entries],
                            "backups": [
                                {
                                    "backup": b.name,
                                    "file": b.file,
                                    "time": b.at.isoformat(),
                                    "os_user": b.os_user,
                                    "summary": b.summary,
                                }
                                for b in backups
                            ],
                        },
                        indent=2,
                        default=str,
                    )
                )
                return
            ctx.ui.table(
                ["Time", "OS user", "Action", "Target", "Reason"],
                [[e.at, e.os_user, e.action, e.target, e.reason or ""] for e in entries[:20]],
            )
            ctx.ui.table(
                ["Backup", "Time", "OS user", "Change it preceded"],
                [[b.name, b.time_text, b.os_user or "?", b.summary or ""] for b in backups[:20]],
            )

        run_scripted(tctx, action, password_stdin=password_stdin)

    @config.command("restore")
    def restore(
        tctx: typer.Context,
        backup: Annotated[str | None, typer.Argument(help="Backup file name (see config history).")] = None,
        previous: Annotated[
            bool, typer.Option("--previous", help="The version before the last change.")
        ] = False,
        yes: Yes = False,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """Put a backup back (the current file is backed up first) and apply it."""

        def action(ctx: Any) -> int:
            from risk_manager.admin.apply import restore_backups
            from risk_manager.config.loader import RISK_FILE

            ctx.require_rights()
            if (backup is None) == (not previous):
                raise AdminExit(exits.USAGE, "Name a BACKUP or pass --previous (one of the two).")
            if previous:
                found = ctx.files.backups_of(RISK_FILE)
                if not found:
                    raise AdminExit(exits.NOT_FOUND, "No backup of risk_config.yaml yet.")
                chosen = found[0]
            else:
                chosen = ctx.files.find_backup(str(backup))
                if chosen is None:
                    raise AdminExit(exits.NOT_FOUND, f"Unknown backup: {backup}.")
            if not yes:
                raise AdminExit(
                    exits.USAGE, f"Restoring {chosen.name} replaces {chosen.file}: add --yes to confirm."
                )
            result = restore_backups(ctx, {chosen.file: chosen.name}, interactive=False)
            ctx.ui.ok(f"Restored {chosen.file} from {chosen.name}.")
            return exits.VALIDATION if result.live == "rejected" else exits.OK

        run_scripted(tctx, action, password_stdin=password_stdin)

    @config.command("reload")
    def reload(tctx: typer.Context, password_stdin: PasswordStdin = False) -> None:
        """Ask the daemon to reload the files now (e.g. after a manual edit)."""

        def action(ctx: Any) -> int:
            from risk_manager.admin.apply import Applied, reload_daemon

            if ctx.daemon() is None:
                raise AdminExit(
                    exits.DAEMON_UNREACHABLE,
                    f"The daemon is not answering on {ctx.api_url} ({ctx.daemon_reason}).",
                )
            result = reload_daemon(ctx, Applied(), interactive=False)
            if result.live == "rejected":
                ctx.ui.info(
                    "Restore the previous version with: risk-manager admin config restore --previous --yes"
                )
                return exits.VALIDATION
            return exits.OK

        run_scripted(tctx, action, password_stdin=password_stdin)
