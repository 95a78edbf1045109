"""Tab 7, Enforcement log: newest first, what the daemon did, its result and the numbers the rule saw;
today's counts on top; Enter opens a record's full detail; ``p`` pages older records from the daemon."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from risk_manager.trader.alerts import ACTION_WORDS
from risk_manager.trader.fmt import clock, parse_time
from risk_manager.trader.style import Palette
from risk_manager.trader.widgets.base import ViewContext
from risk_manager.trader.widgets.table import KeyedTable, fit

COLUMNS = [
    ("time", "Time"),
    ("rule", "Rule"),
    ("action", "Action"),
    ("result", "Result"),
    ("reason", "Reason"),
]
WIDTHS = {"time": 8, "rule": 8, "action": 14, "result": 14}
RESULTS = {"observed": "observed — not enforced", "interrupted": "interrupted (daemon stopped)"}


def row_key(key: Any) -> str:
    return str(key) if not isinstance(key, tuple) else "|".join(str(k) for k in key)


def result_text(ctx: ViewContext, entry: dict[str, Any], *, detail: bool = True) -> Text:
    p = ctx.palette
    state = str(entry.get("state"))
    text = RESULTS.get(state, state)
    if state == "failed" and detail and entry.get("error"):
        text += f": {entry.get('error')}"
    if state in ("pending", "sent", "verifying", "retrying", "uncertain") and entry.get("attempts"):
        text += f" (attempt {entry.get('attempts')})"
    style = (
        p.crit
        if state in ("failed", "interrupted")
        else (p.warn if state == "observed" else (p.ok if state == "done" else ""))
    )
    return Text(text, style=style)


class EnforcementTab(Vertical):
    DEFAULT_CSS = "EnforcementTab #enf-table { height: 1fr; } EnforcementTab Static { height: auto; }"

    def __init__(self, palette: Palette, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._palette = palette

    def compose(self) -> ComposeResult:
        yield Static(id="enf-counts")
        table = KeyedTable(self._palette, id="enf-table")
        table.set_columns(COLUMNS)
        table.flash_cols = {"result"}
        yield table

    def refresh_view(self, ctx: ViewContext, topics: set[str] | None = None) -> None:
        view = ctx.view
        if view is None:
            return
        table = self.query_one("#enf-table", KeyedTable)
        table.set_columns(COLUMNS, fit(ctx.width - 4, WIDTHS, "reason", COLUMNS))
        entries = list(view.enforcement.items())
        today = [e for _, e in entries if e.get("action") not in ("unlock",)]
        closed = sum(
            1
            for e in today
            if e.get("action") in ("close_position", "close_all", "reduce_position")
            and e.get("state") in ("done", "observed")
        )
        cancelled = sum(
            1
            for e in today
            if e.get("action") in ("cancel_order", "cancel_all") and e.get("state") in ("done", "observed")
        )
        locks = len(view.history)
        self.query_one("#enf-counts", Static).update(
            f"Today: {len(today)} actions · {closed} position closes · {cancelled} order cancels · {locks} lockouts"
            + ("   (p: older entries)" if view.more_enforcement else "")
        )
        rows = []
        narrow = ctx.width < 100
        for key, entry in reversed(entries):
            rows.append(
                (
                    row_key(key),
                    {
                        "time": clock(parse_time(entry.get("createdAt")), ctx.tz),
                        "rule": str(entry.get("ruleId") or ""),
                        "action": ACTION_WORDS.get(str(entry.get("action")), str(entry.get("action"))),
                        "result": result_text(ctx, entry, detail=not narrow),
                        "reason": str(entry.get("reason") or ""),
                    },
                )
            )
        table.sync(rows)
