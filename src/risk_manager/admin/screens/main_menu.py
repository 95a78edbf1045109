"""The main menu (admin-cli.md §5) and the interactive session around it (idle timeout, exit)."""

from __future__ import annotations

from collections.abc import Callable

from rich.panel import Panel
from rich.text import Text

from risk_manager.admin.context import AdminContext
from risk_manager.admin.exits import IdleTimeout
from risk_manager.admin.password_flows import launch_check
from risk_manager.admin.screens import accounts, lockouts, logs, password, rules, service, testing
from risk_manager.admin.screens.base import header
from risk_manager.admin.status import notices

ITEMS: tuple[tuple[str, Callable[[AdminContext], None]], ...] = (
    ("Service Control", service.screen),
    ("Account Management", accounts.screen),
    ("Rule Configuration", rules.screen),
    ("Connection Testing", testing.screen),
    ("View Logs", logs.screen),
    ("Lockouts", lockouts.screen),
    ("Change Password", password.screen),
)


def _menu(ctx: AdminContext) -> None:
    ui = ctx.ui
    st = header(ctx, "Main menu")
    for kind, text in notices(ctx, st):
        (ui.error if kind == "error" else ui.warn)(text)
    lines = [f"  {n}. {name}" for n, (name, _) in enumerate(ITEMS, start=1)] + ["  0. Exit"]
    ui.console.print(
        Panel(Text("\n".join(lines)), box=ui.double_box, expand=False, width=46), soft_wrap=False
    )


def session(ctx: AdminContext) -> None:
    """Password, then the menu until 0; after the idle timeout the password is asked again."""
    ui = ctx.ui
    launch_check(ctx)
    while True:
        try:
            _menu(ctx)
            choice = ui.choose(f" Select [0-{len(ITEMS)}]: ", 0, len(ITEMS))
            if choice == "0":
                ui.info("Goodbye.")
                return
            ITEMS[int(choice) - 1][1](ctx)
        except IdleTimeout:
            ui.clear()
            ctx.drop_daemon()
            ctx.password = None
            ui.warn(
                f"No key pressed for {int(ui.idle_timeout_s // 60) or ui.idle_timeout_s} "
                f"{'min' if ui.idle_timeout_s >= 60 else 's'}: the console is locked."
            )
            launch_check(ctx)
