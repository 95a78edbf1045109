"""Tab 5, Rules: all fifteen rules, current value against the limit, % used with a bar, and state.

Colour by % used: green below 70 %, yellow 70 % to below 90 %, red from 90 %; ``BREACHED`` in red.
Rules without a percentage show their state text (cooldown left, inside/outside the session with the
time to the boundary, blocked symbols held, broker permission). Enter expands a rule's every limit.
The action ladder's reduce-only rung reads ``exits only`` (yellow): new entries are refused, closing is
allowed, so it is not shown as a lock. RULE-013 shows the distance to its floor line.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from risk_manager.trader.fmt import duration, money, parse_time
from risk_manager.trader.style import Palette
from risk_manager.trader.widgets.base import ViewContext
from risk_manager.trader.widgets.table import KeyedTable, fit

RULE_IDS = [f"RULE-{n:03d}" for n in range(1, 16)]
# Short names for the table (the daemon's full names are in the detail view).
FALLBACK_NAMES = [
    "Max contracts",
    "Contracts per symbol",
    "Daily realized loss",
    "Daily unrealized loss",
    "Unrealized profit",
    "Trade frequency",
    "Cooldown after loss",
    "No-stop grace",
    "Session hours",
    "Broker permission",
    "Symbol blocks",
    "Trade management",
    "Trailing drawdown",
    "Weekly limits",
    "Losing streak",
]
WIDTHS = {"n": 2, "rule": 21, "on": 2, "current": 13, "limit": 16, "used": 9}
COLUMNS = [
    ("n", "#"),
    ("rule", "Rule"),
    ("on", "On"),
    ("current", "Current"),
    ("limit", "Limit"),
    ("used", "Used"),
    ("state", "State"),
]


def value_text(item: dict[str, Any], key: str = "value") -> str:
    value = item.get(key)
    if value is None:
        return "—"
    if item.get("unit") == "money":
        return money(value, signed=key == "value")
    return str(value)


def state_text(ctx: ViewContext, rule: dict[str, Any]) -> Text:
    p = ctx.palette
    state = rule.get("state")
    used = rule.get("pctUsed")
    if not rule.get("enabled"):
        return Text("disabled", style=p.muted)
    if state == "breached":
        return Text("BREACHED", style=p.crit)
    text = str(rule.get("text") or "")
    ends = parse_time(rule.get("endsAt"))
    if ends is not None and text:
        text = f"{text} {duration((ends - ctx.now).total_seconds())}"
    if state == "locked":
        return Text(text or "locked", style=p.crit)
    if state == "reduce_only":
        out = p.bar(used) if used is not None else Text("")
        out.append((" " if used is not None else "") + (text or "exits only"), style=p.warn)
        return out
    if used is not None:
        out = p.bar(used)
        if used >= 80:
            out.append(" !", style=p.level(used))
        if text:
            out.append(f" {text}")
        return out
    return Text(text or "ok", style="")


class RulesTab(Vertical):
    DEFAULT_CSS = "RulesTab #rules-table { height: 1fr; } RulesTab Static { height: auto; }"

    def __init__(self, palette: Palette, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._palette = palette

    def compose(self) -> ComposeResult:
        table = KeyedTable(self._palette, id="rules-table")
        table.set_columns(COLUMNS)
        table.flash_cols = {"current", "used"}
        table.favour = {"used": -1, "current": 0}
        yield table
        yield Static(id="rules-footer")

    def refresh_view(self, ctx: ViewContext, topics: set[str] | None = None) -> None:
        view = ctx.view
        if view is None:
            return
        p = ctx.palette
        table = self.query_one("#rules-table", KeyedTable)
        table.set_columns(COLUMNS, fit(ctx.width - 4, WIDTHS, "state", COLUMNS))
        rows = []
        for n, rid in enumerate(RULE_IDS, start=1):
            rule = view.rules.get(rid) or {"ruleId": rid, "name": FALLBACK_NAMES[n - 1], "enabled": None}
            enabled = rule.get("enabled")
            label = str(rule.get("label") or "")
            current = value_text(rule)
            if label.startswith("per ") and current != "—":
                current = f"{current} ({label[4:]})"
            elif (
                label
                and rule.get("unit") in ("money", "contracts")
                and label not in ("realized", "total", "net", "gross")
                and current != "—"
            ):
                current = f"{current} {label}"
            rows.append(
                (
                    rid,
                    {
                        "n": str(n),
                        "rule": FALLBACK_NAMES[n - 1],
                        "on": Text(
                            "?" if enabled is None else ("✓" if enabled else "✗"),
                            style=p.ok if enabled else p.muted,
                        ),
                        "current": current if enabled else "—",
                        "limit": str(rule.get("limitText") or "—") if enabled else "—",
                        "used": p.pct(rule.get("pctUsed"))
                        if enabled and rule.get("pctUsed") is not None
                        else Text("—"),
                        "state": state_text(ctx, rule)
                        if enabled is not None
                        else Text("no data", style=p.muted),
                    },
                )
            )
        table.sync(rows)
        footer = "Rules are set by the administrator."
        if view.observe_only:
            footer += "  Not enforced (observe-only)."
        if ctx.offline:
            footer += "  Last known values" + ctx.freshness().plain + "."
        self.query_one("#rules-footer", Static).update(footer)
