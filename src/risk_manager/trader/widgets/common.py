"""Phrases several tabs share: account status, lockout lines, contract and order names."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from risk_manager.trader.fmt import duration, hhmm, parse_time, zone_abbrev
from risk_manager.trader.widgets.base import ViewContext

ORDER_TYPES = {
    1: "Limit",
    2: "Market",
    3: "Stop-limit",
    4: "Stop",
    5: "Trailing stop",
    6: "Join bid",
    7: "Join ask",
}
ORDER_STATUS = {0: "None", 1: "Open", 2: "Filled", 3: "Cancelled", 4: "Expired", 5: "Rejected", 6: "Pending"}
STOP_TYPES = frozenset({3, 4, 5})
MONTHS = "FGHJKMNQUVXZ"


def contract_name(cid: str, symbol: Any = None) -> str:
    """``CON.F.US.MNQ.Z26`` -> ``MNQ Z6`` (symbol and contract month)."""
    parts = cid.split(".")
    if len(parts) >= 5 and parts[-1][:1] in MONTHS:
        return f"{symbol or parts[-2]} {parts[-1][0]}{parts[-1][-1]}"
    return str(symbol or cid)


def until_text(ctx: ViewContext, until: Any) -> str:
    at = parse_time(until)
    if at is None:
        return "until an administrator unlocks"
    return f"until {hhmm(at, ctx.tz)} {zone_abbrev(at, ctx.tz)}"


def left(ctx: ViewContext, until: Any) -> str:
    at = parse_time(until)
    if at is None:
        return "—"
    return duration((at - ctx.now).total_seconds())


def account_status(ctx: ViewContext) -> Text:
    """``● OK TO TRADE`` / ``● COOLDOWN 4m 12s`` / ``▼ EXITS ONLY until 17:00 CT`` / ``✗ LOCKED until 17:00 CT`` /
    ``! OBSERVE-ONLY`` / ``? UNKNOWN``."""
    p = ctx.palette
    view = ctx.view
    if view is None or ctx.offline:
        return Text("? UNKNOWN", style=p.warn)
    hard = view.hard_lockout()
    if hard is not None:
        return Text(f"✗ LOCKED {until_text(ctx, hard.get('until'))}", style=p.crit)
    cool = view.cooldown()
    if cool is not None:
        return Text(f"● COOLDOWN {left(ctx, cool.get('until'))}", style=p.warn)
    rung = view.reduce_only()
    if rung is not None:
        return Text(f"▼ EXITS ONLY {until_text(ctx, rung.get('until'))}", style=p.warn)
    if view.observe_only:
        return Text("! OBSERVE-ONLY", style=p.warn)
    return Text("● OK TO TRADE", style=p.ok)


#: the local API's lockout ``kind`` as a trader reads it (the ladder's rung is not a lock: exits stay open)
KIND_WORDS = {"cooldown": "COOLDOWN", "reduce_only": "EXITS ONLY"}


def lockout_banner(ctx: ViewContext) -> str | None:
    """``LOCKED — Daily realized loss … · until 17:00 CT (2h 37m 55s)`` for the account-wide lockout;
    ``EXITS ONLY — …`` for the action ladder's reduce-only rung (new entries are cancelled or closed,
    closing what is held is allowed)."""
    view = ctx.view
    if view is None:
        return None
    lock = view.hard_lockout() or view.cooldown() or view.reduce_only()
    if lock is None:
        return None
    rule = view.rules.get(str(lock.get("ruleId")), {})
    name = rule.get("name") or lock.get("ruleId")
    what = KIND_WORDS.get(str(lock.get("kind")), "LOCKED")
    until = lock.get("until")
    when = "permanent — ask your admin" if until is None else f"{until_text(ctx, until)} ({left(ctx, until)})"
    note = " if the daemon were running" if ctx.offline and until is not None else ""
    exits = " · closing is allowed" if what == "EXITS ONLY" else ""
    return f"{what} — {name}: {lock.get('reason')} · {when}{exits}{note}"


def side_size(pos: dict[str, Any]) -> str:
    return f"{'LONG' if pos.get('type') == 1 else 'SHORT'} {pos.get('size')}"


def stop_for(view: Any, pos: dict[str, Any]) -> dict[str, Any] | None:
    """A working stop on the exit side of the position (what protects it), or None."""
    exit_side = 1 if pos.get("type") == 1 else 0
    stops = [
        o
        for o in view.orders.values()
        if o.get("contractId") == pos.get("contractId")
        and o.get("type") in STOP_TYPES
        and o.get("side") == exit_side
    ]
    return stops[0] if stops else None
