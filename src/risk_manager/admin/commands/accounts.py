"""Subcommands ``admin accounts …`` (admin-cli.md §14): keys only from stdin, never from argv."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from risk_manager.admin import exits
from risk_manager.admin.app import run_scripted
from risk_manager.admin.commands.system import Json, PasswordStdin
from risk_manager.admin.exits import AdminExit

KeyStdin = Annotated[
    bool, typer.Option("--api-key-stdin", help="Read the API key from stdin (after the password, if both).")
]
Yes = Annotated[bool, typer.Option("--yes", help="Confirm a change that reduces protection.")]


def _key(ctx: Any, from_stdin: bool, required: bool) -> str | None:
    if from_stdin:
        return str(ctx.stdin_line("API key", "--api-key-stdin")).strip()
    if not required:
        return None
    if sys.stdin.isatty():
        key = str(ctx.ui.ask_hidden("API key: ")).strip()
        if key:
            return key
    raise AdminExit(exits.USAGE, "An API key is needed: pass --api-key-stdin and write the key to stdin.")


def register(app: typer.Typer) -> None:
    group = typer.Typer(name="accounts", help="Logins, accounts and API keys.", no_args_is_help=True)
    app.add_typer(group)

    @group.command("list")
    def list_(tctx: typer.Context, as_json: Json = False, password_stdin: PasswordStdin = False) -> None:
        """Configured accounts (keys masked)."""

        def action(ctx: Any) -> None:
            from risk_manager.admin.accounts_edit import AccountsEditor
            from risk_manager.admin.screens.accounts import account_table

            rows = AccountsEditor(ctx.files).rows()
            if as_json:
                typer.echo(json.dumps([r.__dict__ for r in rows], indent=2))
            else:
                account_table(ctx, rows, ctx.daemon_snapshot())

        run_scripted(tctx, action, password_stdin=password_stdin)

    @group.command("add")
    def add(
        tctx: typer.Context,
        user: Annotated[str, typer.Option("--user", help="Broker user name of the login.")],
        api_key_stdin: KeyStdin = False,
        account: Annotated[
            list[int] | None, typer.Option("--account", help="Account ID (repeatable).")
        ] = None,
        all_: Annotated[bool, typer.Option("--all", help="Every active account of the login.")] = False,
        nickname: Annotated[
            str | None, typer.Option("--nickname", help="Name shown (default: broker name).")
        ] = None,
        observe_only: Annotated[
            bool, typer.Option("--observe-only", help="Decide and log, never act.")
        ] = False,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """Sign in, check the accounts exist for the login, add them and apply."""

        def action(ctx: Any) -> None:
            from risk_manager.admin import account_actions as act
            from risk_manager.admin.accounts_edit import AccountsEditor

            if not account and not all_:
                raise AdminExit(exits.USAGE, "Name the accounts with --account ID (repeatable) or --all.")
            ctx.require_rights()
            editor = AccountsEditor(ctx.files)
            existing = editor.key_for(user) if editor.find_login(user) is not None else None
            key = _key(ctx, api_key_stdin, required=existing is None)
            listed = act.broker_accounts(ctx, user, key or existing or "")
            by_id = {int(a["id"]): a for a in listed if "id" in a}
            wanted = (
                list(account or []) if not all_ else [i for i in by_id if i not in editor.configured_ids()]
            )
            missing = [i for i in wanted if i not in by_id]
            if missing:
                raise AdminExit(exits.NOT_FOUND, f"Account {missing[0]} is not an active account of {user}.")
            if not wanted:
                raise AdminExit(
                    exits.OK, "Every active account of this login is already configured.", kind="warn"
                )
            new = [
                act.NewAccount(i, nickname or str(by_id[i].get("name") or i), observe_only) for i in wanted
            ]
            act.add_accounts(ctx, user, new, key=key, interactive=False)

        run_scripted(tctx, action, password_stdin=password_stdin)

    @group.command("set-key")
    def set_key(
        tctx: typer.Context,
        user: Annotated[str, typer.Option("--user", help="Broker user name of the login.")],
        api_key_stdin: KeyStdin = False,
        force: Annotated[bool, typer.Option("--force", help="Save even when the sign-in fails.")] = False,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """Replace a login's API key after a successful sign-in."""

        def action(ctx: Any) -> None:
            from risk_manager.admin import account_actions as act

            key = _key(ctx, api_key_stdin, required=True)
            assert key is not None
            act.set_key(ctx, user, key, force=force, interactive=False)

        run_scripted(tctx, action, password_stdin=password_stdin)

    def _flag(name: str, doc: str, value: bool, needs_yes: bool) -> None:
        @group.command(name, help=doc)
        def command(
            tctx: typer.Context,
            account_id: Annotated[int, typer.Argument(metavar="ID", help="Account ID.")],
            yes: Yes = False,
            password_stdin: PasswordStdin = False,
        ) -> None:
            def action(ctx: Any) -> None:
                from risk_manager.admin import account_actions as act

                if needs_yes and not yes:
                    raise AdminExit(
                        exits.USAGE, f"Account {account_id} would NOT be protected: add --yes to confirm."
                    )
                act.set_flag(ctx, account_id, "enabled", value, interactive=False)

            run_scripted(tctx, action, password_stdin=password_stdin)

    _flag("enable", "Protect the account again.", True, False)
    _flag("disable", "Stop protecting the account (needs --yes).", False, True)

    @group.command("observe")
    def observe(
        tctx: typer.Context,
        account_id: Annotated[int, typer.Argument(metavar="ID", help="Account ID.")],
        state: Annotated[str, typer.Argument(metavar="on|off")],
        yes: Yes = False,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """Observe-only on (decide and log, never act; needs --yes) or off (enforce)."""

        def action(ctx: Any) -> None:
            from risk_manager.admin import account_actions as act

            if state not in ("on", "off"):
                raise AdminExit(exits.USAGE, f'Expected on or off, got "{state}".')
            if state == "on" and not yes:
                raise AdminExit(
                    exits.USAGE, f"Rules would NOT be enforced on {account_id}: add --yes to confirm."
                )
            act.set_flag(ctx, account_id, "observe_only", state == "on", interactive=False)

        run_scripted(tctx, action, password_stdin=password_stdin)

    @group.command("remove")
    def remove(
        tctx: typer.Context,
        account_id: Annotated[int, typer.Argument(metavar="ID", help="Account ID.")],
        confirm: Annotated[str, typer.Option("--confirm", help="The account ID again (typed confirmation).")],
        delete_key: Annotated[
            bool,
            typer.Option("--delete-key", help="Also delete the login's key if this was its last account."),
        ] = False,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """Remove an account (its history stays in the database)."""

        def action(ctx: Any) -> None:
            from risk_manager.admin import account_actions as act

            if confirm != str(account_id):
                raise AdminExit(exits.RUNTIME, "Cancelled: confirmation did not match.", kind="plain")
            act.remove(ctx, account_id, delete_key=delete_key, interactive=False)

        run_scripted(tctx, action, password_stdin=password_stdin)

    @group.command("test")
    def test(
        tctx: typer.Context,
        account_id: Annotated[
            int | None, typer.Argument(metavar="[ID]", help="Only this account's login.")
        ] = None,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """Sign-in, account visible and user-hub subscription for the account's login (or all)."""

        def action(ctx: Any) -> int:
            from risk_manager.admin.accounts_edit import AccountsEditor
            from risk_manager.admin.screens.testing import run_and_show

            logins = None
            if account_id is not None:
                row = next((r for r in AccountsEditor(ctx.files).rows() if r.id == account_id), None)
                if row is None:
                    raise AdminExit(exits.NOT_FOUND, f"Unknown account: {account_id}.")
                logins = [row.user_name]
            return run_and_show(ctx, {"rest", "user-hub"}, logins)

        run_scripted(tctx, action, password_stdin=password_stdin)
