"""Screen scaffolding: the title box, the status line, section rules and running a menu action.

Every screen is printed top-down after clearing the terminal (never a full-screen takeover), so it
works in any terminal and scrolls back cleanly; in no-colour mode nothing is cleared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from risk_manager import __version__
from risk_manager.admin import exits
from risk_manager.admin.context import AdminContext
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.status import SystemStatus, gather, status_line

TITLE = "RISK MANAGER — ADMIN CONSOLE"


def shorten(text: str, width: int, ellipsis: str) -> str:
    """Middle-shortened: ``C:\\ProgramData\\…\\config``."""
    if len(text) <= width:
        return text
    keep = max(4, width - len(ellipsis))
    head = keep // 2
    return text[:head] + ellipsis + text[len(text) - (keep - head) :]


SECTION_STYLES = {"Service": "cyan", "Account": "cyan", "Rule": "yellow", "Connection": "magenta"}


def header(ctx: AdminContext, section: str) -> SystemStatus:
    ui = ctx.ui
    ui.clear()
    title = TITLE if ui.unicode else TITLE.replace("—", "-")
    where = shorten(str(ctx.config_dir), max(20, ui.width - 30), ui.sym.ellipsis)
    ui.title_box([title, f"v{__version__} {ui.sym.sep} config: {where}"])
    st = gather(ctx)
    ui.info(status_line(ctx, st))
    style = next((v for k, v in SECTION_STYLES.items() if section.startswith(k)), None)
    ui.rule(section, style=style)
    return st


def run_action(
    ctx: AdminContext, action: Callable[..., Any], *args: Any, pause: bool = True, **kwargs: Any
) -> Any:
    """Run a menu action; an AdminExit is shown and the menu continues (except Ctrl+C and lockout)."""
    result = None
    try:
        result = action(*args, **kwargs)
    except AdminExit as exc:
        ctx.ui.report(exc)
        if exc.code == exits.AUTH and exc.lines and "locked" in exc.lines[0]:
            raise
    except EOFError:
        raise
    if pause:
        ctx.ui.pause()
    return result


def pick_account(ctx: AdminContext, ids: list[int], prompt: str = "Account # or ID: ") -> int | None:
    """A row number of the list shown, or an account ID; None for an empty answer."""
    answer = ctx.ui.ask(prompt)
    if not answer:
        return None
    if answer.isdigit():
        number = int(answer)
        if 1 <= number <= len(ids):
            return ids[number - 1]
        if number in ids:
            return number
    raise AdminExit(exits.NOT_FOUND, f"Unknown account: {answer}.")
