"""Modal screens: the account selection (trader-cli.md §3), the help overlay (§7), a record's detail."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from risk_manager.trader.fmt import money

HELP = """\
Keys
  1-8              switch to that tab          Tab / Shift+Tab   next / previous tab
  ↑ ↓ PgUp PgDn    scroll the table            Enter             details of the selected row
  a                change account              r                 reconnect now / fresh snapshot
  p                older entries (Enforcement log, Lockouts)
  m                mute / unmute bell and desktop notifications for this session
  ?                this help (Esc closes)      q, Ctrl+C         quit

Colours (monochrome: the words in brackets)
  P&L        green profit, red loss (+ / − signs)
  % used     green below 70 % (OK), yellow 70-89 % (WARN), red 90 % and more (CRIT)
  Ages       yellow older than 5 s, red older than 30 s
  Banners    red: daemon offline, NOT PROTECTED, LOCKED · yellow: observe-only, cooldown

Nothing in this dashboard can change an account, a rule or the risk manager.
Rules and unlocks are the administrator's (risk-manager admin)."""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("question_mark", "dismiss", "Close")]
    DEFAULT_CSS = "HelpScreen { align: center middle; } HelpScreen > Static { width: auto; max-width: 96%; border: round $accent; padding: 0 1; background: $panel; }"

    def compose(self) -> ComposeResult:
        yield Static(HELP, id="help-text")

    async def action_dismiss(self, result: Any = None) -> None:
        self.dismiss(None)


class DetailScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close"),
        Binding("q", "close", "Close"),
    ]
    DEFAULT_CSS = "DetailScreen { align: center middle; } DetailScreen > Static { width: 90%; height: auto; max-height: 90%; border: round $accent; padding: 0 1; background: $panel; }"

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self._title = title
        self._body = body

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{self._title}\n\n{self._body}\n\nEsc closes"), id="detail-text")

    def set_body(self, body: str) -> None:
        self._body = body
        self.query_one("#detail-text", Static).update(Text(f"{self._title}\n\n{body}\n\nEsc closes"))

    def action_close(self) -> None:
        self.dismiss(None)


class AccountScreen(ModalScreen[int | None]):
    """Pick an account: arrows or digits select, Enter opens, q quits (Esc goes back when one is open)."""

    BINDINGS = [
        Binding("enter", "choose", "Open", priority=True),
        Binding("escape", "back", "Back"),
        Binding("q", "quit_app", "Quit"),
        *[Binding(str(n), f"pick({n})", show=False) for n in range(1, 10)],
    ]
    DEFAULT_CSS = """
    AccountScreen { align: center middle; }
    AccountScreen > Vertical { width: auto; min-width: 60; max-width: 96%; height: auto; border: round $accent; background: $panel; padding: 0 1; }
    AccountScreen DataTable { height: auto; max-height: 16; }
    AccountScreen Static { height: auto; }
    """

    def __init__(self, accounts: list[dict[str, Any]], current: int | None) -> None:
        super().__init__()
        self._accounts = accounts
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Choose an account", id="acct-title")
            yield DataTable(id="acct-table", cursor_type="row")
            yield Static("↑/↓ or 1-9 select · Enter open · q quit", id="acct-hint")

    def on_mount(self) -> None:
        table = self.query_one("#acct-table", DataTable)
        for col in ("Account", "Name", "Mode", "Net P&L", "Status"):
            table.add_column(col, key=col.lower())
        for row in self._accounts:
            table.add_row(
                str(row["accountId"]),
                row["name"],
                row["mode"],
                money(row.get("net")) if row.get("net") is not None else "n/a",
                row["status"],
                key=str(row["accountId"]),
            )
        ids = [r["accountId"] for r in self._accounts]
        if self._current in ids:
            table.move_cursor(row=ids.index(self._current))
        table.focus()

    def action_pick(self, n: int) -> None:
        if 1 <= n <= len(self._accounts):
            self.query_one("#acct-table", DataTable).move_cursor(row=n - 1)

    def action_choose(self) -> None:
        table = self.query_one("#acct-table", DataTable)
        if self._accounts:
            self.dismiss(int(self._accounts[table.cursor_row]["accountId"]))

    def action_back(self) -> None:
        if self._current is not None:
            self.dismiss(self._current)

    def action_quit_app(self) -> None:
        self.app.exit(0)
