"""Main menu 7: change the admin password (admin-cli.md §3.5)."""

from __future__ import annotations

from risk_manager.admin.context import AdminContext
from risk_manager.admin.password_flows import change
from risk_manager.admin.screens.base import header, run_action


def screen(ctx: AdminContext) -> None:
    header(ctx, "Change Password")
    run_action(ctx, change, ctx, lambda: ctx.ui.ask_hidden("Current password: "))
