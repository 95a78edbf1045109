"""The screen's frame: header line, banners (at most two, by priority) and the status bar (§5)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from risk_manager.trader.fmt import clock, duration, hhmm, parse_time, zone_abbrev
from risk_manager.trader.widgets.base import ViewContext, line
from risk_manager.trader.widgets.common import account_status, lockout_banner

OFFLINE_BANNER = "DAEMON OFFLINE — accounts NOT protected. Showing last saved data."
CONNECTING_BANNER = "Connecting to the risk manager…"
OBSERVE_BANNER = "OBSERVE-ONLY — rules are evaluated but NOT enforced on this account"


def header(ctx: ViewContext, link: Any) -> Text:
    p = ctx.palette
    view = ctx.view
    name = f"{view.display_name} #{view.account_id}" if view is not None else "no account"
    if ctx.live:
        conn = Text("● LIVE", style=p.ok)
    elif link is not None and link.retry_at is not None:
        state = "✗ OFFLINE" if ctx.offline or link.reconnects or not ctx.model.accounts else "● DISCONNECTED"
        conn = Text(
            f"{state} — reconnecting in {round(link.current_delay)} s (attempt {link.backoff.attempt})",
            style=p.crit,
        )
    elif link is not None:
        conn = Text("● CONNECTING…", style=p.warn)
    else:
        conn = Text("✗ OFFLINE", style=p.crit)
    return line(
        Text("RISK MANAGER — TRADER", style="bold"), "  ", name, "  ", account_status(ctx), "  ", conn
    )


def banners(
    ctx: ViewContext,
    *,
    protocol: str | None,
    offline_error: str | None,
    notice: str | None,
    connecting: bool = False,
) -> list[tuple[str, str]]:
    """(text, style) lines in priority order; the caller shows the first two. ``connecting``: the
    first attempt has not failed yet, so nothing is claimed about protection."""
    p = ctx.palette
    mark = (lambda word, text: f"!! {word} !! {text}") if p.mono else (lambda word, text: text)
    out: list[tuple[str, str]] = []
    if notice:
        out.append((notice, p.banner_red))
    if not ctx.live and connecting and not protocol:
        out.append((CONNECTING_BANNER, p.banner_yellow))
    elif not ctx.live:
        text = OFFLINE_BANNER + (f" No saved data available: {offline_error}" if offline_error else "")
        out.append((mark("OFFLINE", text), p.banner_red))
    if protocol:
        out.append((protocol, p.banner_red))
    view = ctx.view
    if ctx.live and view is not None and view.protection not in ("protected", "degraded", "unknown"):
        conn = view.connection
        since = parse_time(conn.get("since"))
        when = (
            f" since {clock(since, ctx.tz)} ({duration((ctx.now - since).total_seconds())})" if since else ""
        )
        reason = conn.get("reason") or view.protection
        out.append(
            (
                mark("NOT PROTECTED", f"NOT PROTECTED — {reason}{when}. The risk manager cannot act."),
                p.banner_red,
            )
        )
    lock = lockout_banner(ctx)
    if lock:
        soft = lock.startswith(("COOLDOWN", "EXITS ONLY"))  # exits stay open: yellow, not red
        out.append((lock if soft else mark("LOCKED", lock), p.banner_yellow if soft else p.banner_red))
    if view is not None and view.observe_only:
        out.append((OBSERVE_BANNER, p.banner_yellow))
    return out


def status_bar(ctx: ViewContext, *, muted: bool) -> Text:
    view = ctx.view
    tz = ctx.tz
    parts = [f"{clock(ctx.now, tz)} {zone_abbrev(ctx.now, tz)}"]
    if view is not None:
        day = view.info.get("tradingDay")
        if day:
            from datetime import date

            try:
                parts.append(f"Trading day {date.fromisoformat(str(day)):%a %d %b}")
            except ValueError:
                parts.append(f"Trading day {day}")
        reset = parse_time(view.info.get("nextResetAt"))
        if reset is not None:
            parts.append(
                f"reset {hhmm(reset, tz)} {zone_abbrev(reset, tz)} in {duration((reset - ctx.now).total_seconds())}"
            )
    out = Text(" · ".join(parts))
    if muted:
        out.append("   [muted]", style=ctx.palette.warn)
    out.append("     ? help  a account  q quit")
    return out
