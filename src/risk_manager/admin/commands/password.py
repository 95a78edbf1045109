"""Subcommands ``admin password setup|change|reset`` (admin-cli.md §3.5, §14)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from risk_manager.admin import exits
from risk_manager.admin.app import run_scripted
from risk_manager.admin.commands.system import NewStdin, PasswordStdin
from risk_manager.admin.exits import AdminExit


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        name="password", help="Set, change or reset the admin password.", no_args_is_help=True
    )
    app.add_typer(group)

    @group.command("setup")
    def setup(tctx: typer.Context, new_password_stdin: NewStdin = False) -> None:
        """Set the first admin password (refused when one is set)."""
        from risk_manager.admin.password_flows import PasswordSource, first_run

        def action(ctx: Any) -> None:
            if ctx.passwords.is_set():
                raise AdminExit(
                    exits.RIGHTS, "An admin password is already set. Use: risk-manager admin password change"
                )
            first_run(ctx, PasswordSource(ctx, from_stdin=False, new_from_stdin=new_password_stdin).new())

        run_scripted(tctx, action, password=False)

    @group.command("change")
    def change(
        tctx: typer.Context, password_stdin: PasswordStdin = False, new_password_stdin: NewStdin = False
    ) -> None:
        """Change the admin password (current one first)."""
        from risk_manager.admin.password_flows import PasswordSource
        from risk_manager.admin.password_flows import change as change_flow

        def action(ctx: Any) -> None:
            source = PasswordSource(ctx, from_stdin=password_stdin, new_from_stdin=new_password_stdin)
            current = source.current()
            change_flow(ctx, lambda: current, source.new())

        run_scripted(tctx, action, password=False)

    @group.command("reset")
    def reset(
        tctx: typer.Context,
        yes: Annotated[bool, typer.Option("--yes", help="Skip the typed RESET confirmation.")] = False,
        new_password_stdin: NewStdin = False,
    ) -> None:
        """Replace the admin password without the old one (OS administrator rights)."""
        from risk_manager.admin.password_flows import PasswordSource
        from risk_manager.admin.password_flows import reset as reset_flow

        def action(ctx: Any) -> None:
            new = PasswordSource(ctx, from_stdin=False, new_from_stdin=new_password_stdin).new()
            if new is None and not ctx.ui.stdin.isatty():
                raise AdminExit(exits.USAGE, "No terminal: give the new password with --new-password-stdin.")
            reset_flow(ctx, confirmed=yes, supplied_new=new)

        run_scripted(tctx, action, password=False)
