"""Tab 6, Lockouts: active lockouts and cooldowns with live countdowns, and today's history with how
each one ended (expired, daily reset, manual unlock with the admin's reason, permission restored)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from risk_manager.trader.fmt import clock, duration, parse_time
from risk_manager.trader.style import Palette
from risk_manager.trader.widgets.base import ViewContext
from risk_manager.trader.widgets.common import left, until_text
from risk_manager.trader.widgets.table import KeyedTable, fit

ACTIVE = [
    ("rule", "Rule"),
    ("scope", "Scope"),
    ("since", "Since"),
    ("until", "Until"),
    ("left", "Left"),
    ("reason", "Reason"),
]
HISTORY = [
    ("set", "Set"),
    ("rule", "Rule"),
    ("scope", "Scope"),
    ("duration", "Duration"),
    ("reason", "Reason"),
    ("ended", "Ended"),
]
ACTIVE_W = {"rule": 20, "scope": 8, "since": 8, "until": 9, "left": 11}
HISTORY_W = {"set": 8, "rule": 19, "scope": 8, "duration": 9, "ended": 18}
#: the Kind shown after the rule's name (``reduce_only`` is the ladder's rung: exits only, not a lock)
KINDS = {"cooldown": "cooldown", "reduce_only": "exits only"}
ENDED = {
    "expiry": "expired",
    "daily_reset": "daily reset",
    "admin": "manual unlock",
    "condition": "condition cleared",
    "restore": "restored",
}


def ended_text(item: dict[str, Any]) -> str:
    by = item.get("clearedBy")
    if by is None and item.get("active", True) is not False and item.get("clearedAt") is None:
        return "active"
    text = ENDED.get(str(by), str(by or "cleared"))
    if by == "condition" and item.get("ruleId") == "RULE-010":
        text = "broker permission restored"
    reason = item.get("clearReason")
    if by == "admin" and reason:
        text += f" — {reason}"
    return text


class LockoutsTab(Vertical):
    DEFAULT_CSS = (
        "LockoutsTab KeyedTable { height: auto; max-height: 50%; } LockoutsTab Static { height: auto; }"
    )

    def __init__(self, palette: Palette, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._palette = palette

    def compose(self) -> ComposeResult:
        yield Static("Active lockouts and cooldowns", id="lock-title")
        active = KeyedTable(self._palette, id="lock-active")
        active.set_columns(ACTIVE)
        yield active
        yield Static("Today's history", classes="title")
        history = KeyedTable(self._palette, id="lock-history")
        history.set_columns(HISTORY)
        yield history

    def refresh_view(self, ctx: ViewContext, topics: set[str] | None = None) -> None:
        view = ctx.view
        if view is None:
            return
        p = ctx.palette
        active = self.query_one("#lock-active", KeyedTable)
        active.set_columns(ACTIVE, fit(ctx.width - 4, ACTIVE_W, "reason", ACTIVE))
        history = self.query_one("#lock-history", KeyedTable)
        history.set_columns(HISTORY, fit(ctx.width - 4, HISTORY_W, "reason", HISTORY))
        rows = []
        for key, lock in view.lockouts.items():
            rule = view.rules.get(str(lock.get("ruleId")), {})
            scope = "account" if lock.get("scope") == "account" else f"symbol {lock.get('symbol')}"
            kind = KINDS.get(str(lock.get("kind")), "lock")
            countdown = left(ctx, lock.get("until"))
            if ctx.offline and lock.get("until"):
                countdown += " (if the daemon were running)"
            rows.append(
                (
                    key,
                    {
                        "rule": f"{rule.get('name') or lock.get('ruleId')} ({kind})",
                        "scope": scope,
                        "since": clock(parse_time(lock.get("createdAt")), ctx.tz),
                        "until": until_text(ctx, lock.get("until")).removeprefix("until "),
                        "left": Text(countdown, style=p.crit if kind == "lock" else p.warn),
                        "reason": str(lock.get("reason") or ""),
                    },
                )
            )
        title = "Active lockouts and cooldowns" + ("" if rows else ": none — trading allowed")
        if view.observe_only and rows:
            title += " (observed — not enforced)"
        self.query_one("#lock-title", Static).update(title)
        active.sync(rows)
        hist = []
        for key, item in reversed(list(view.history.items())):
            created, cleared = parse_time(item.get("createdAt")), parse_time(item.get("clearedAt"))
            until = parse_time(item.get("until"))
            span = (cleared or until or ctx.now) - created if created else None
            rule = view.rules.get(str(item.get("ruleId")), {})
            hist.append(
                (
                    key,
                    {
                        "set": clock(created, ctx.tz),
                        "rule": str(rule.get("name") or item.get("ruleId")),
                        "scope": "account"
                        if item.get("scope") in ("account", None)
                        else f"symbol {item.get('symbol')}",
                        "duration": duration(span.total_seconds()) if span is not None else "—",
                        "reason": str(item.get("reason") or ""),
                        "ended": ended_text(item) if key not in view.lockouts else "active",
                    },
                )
            )
        history.sync(hist)
