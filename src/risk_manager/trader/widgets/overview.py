"""Tab 1, Overview: status, the day's P&L, the loss limit, the drawdown floor, the week and the losing
streak, positions, lockout, connection, closest rules.

The drawdown line (RULE-013) says how far the net balance is above the floor line (floor + buffer),
the figure a funded trader watches most; the week line shows RULE-014's weekly P&L against its limit
and RULE-015's losing streak. Each line is hidden while its rules are off.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual_plotext import PlotextPlot

from risk_manager.trader.fmt import dec, duration, money, price
from risk_manager.trader.widgets.base import Figure, ViewContext, line
from risk_manager.trader.widgets.common import account_status, contract_name, lockout_banner
from risk_manager.trader.widgets.pnl import draw_chart, loss_limit

WIDE = 120  # at 120 columns and more the P&L chart stands beside the figures (trader-cli.md §9)


class OverviewTab(VerticalScroll):
    DEFAULT_CSS = """
    OverviewTab Figure { height: auto; }
    OverviewTab Horizontal { height: auto; }
    OverviewTab #ov-realized, OverviewTab #ov-unrealized { width: auto; margin-right: 4; }
    OverviewTab #ov-wide { height: auto; }
    OverviewTab #ov-figures { width: 1fr; height: auto; }
    OverviewTab #ov-chart { width: 50; height: 14; display: none; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._drawn: object = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="ov-wide"):
            with Vertical(id="ov-figures"):
                yield Figure(id="ov-status")
                with Horizontal():
                    yield Figure(id="ov-realized", favour=1)
                    yield Figure(id="ov-unrealized", favour=1)
                    yield Figure(id="ov-net", favour=1)
                yield Figure(id="ov-limit")
                yield Figure(id="ov-drawdown")
                yield Figure(id="ov-week")
                yield Figure(id="ov-positions")
                yield Figure(id="ov-lockout")
                yield Figure(id="ov-connection")
                yield Figure(id="ov-closest")
            yield PlotextPlot(id="ov-chart")

    def refresh_view(self, ctx: ViewContext) -> None:
        p = ctx.palette
        view = ctx.view
        fig = self.query_one
        if view is None:
            fig("#ov-status", Figure).show(Text("No account to show."), palette=p)
            return
        mode = "observe-only" if view.observe_only else "enforce"
        fig("#ov-status", Figure).show(
            line("Status      ", account_status(ctx), f"      Mode  {mode}"), palette=p
        )
        pnl = view.pnl
        fresh = ctx.freshness()
        unreal: Text = Text("n/a (offline)") if ctx.offline else p.money(pnl.get("unrealized"))
        net: Text = Text("n/a (offline)") if ctx.offline else p.money(pnl.get("net"))
        fig("#ov-realized", Figure).show(
            line("Realized  ", p.money(pnl.get("realized"))), pnl.get("realized"), p
        )
        fig("#ov-unrealized", Figure).show(line("Unrealized  ", unreal), pnl.get("unrealized"), p)
        fig("#ov-net", Figure).show(line("Net  ", net, fresh), pnl.get("net"), p)
        fig("#ov-limit", Figure).show(self._limit(ctx), palette=p)
        drawdown = fig("#ov-drawdown", Figure)
        floor = drawdown_line(ctx)
        drawdown.display = floor is not None
        if floor is not None:
            drawdown.show(floor, (view.drawdown or {}).get("distance"), palette=p)
        week = fig("#ov-week", Figure)
        weekly = week_line(ctx)
        week.display = weekly is not None
        if weekly is not None:
            week.show(weekly, palette=p)
        held = " · ".join(
            f"{contract_name(cid, pos.get('symbol'))} {'long' if pos.get('type') == 1 else 'short'} {pos.get('size')} @ {price(pos.get('averagePrice'))}"
            for cid, pos in sorted(view.positions.items())
        )
        fig("#ov-positions", Figure).show(
            line("Positions   ", held or "flat", f"      Trades today {pnl.get('tradeCount', 0)}"), palette=p
        )
        banner = lockout_banner(ctx)
        soft = banner is not None and banner.startswith(("COOLDOWN", "EXITS ONLY"))  # exits stay open
        lock_text = (
            Text(banner, style=p.warn if soft else p.crit) if banner else Text("none — all rules clear", style=p.ok)
        )
        fig("#ov-lockout", Figure).show(line("Lockout     ", lock_text), palette=p)
        fig("#ov-connection", Figure).show(self._connection(ctx), palette=p)
        fig("#ov-closest", Figure).show(self._closest(ctx), palette=p)
        chart = fig("#ov-chart", PlotextPlot)
        chart.display = ctx.width >= WIDE
        if chart.display:
            self._drawn = draw_chart(chart, ctx, loss_limit(ctx), self._drawn)

    def _limit(self, ctx: ViewContext) -> Text:
        p = ctx.palette
        rule = ctx.view.rules.get("RULE-003") if ctx.view else None
        if not rule or not rule.get("enabled"):
            return Text("Loss limit  not set")
        limit = dec(rule.get("limit"))
        used = rule.get("pctUsed")
        realized = dec(ctx.view.pnl.get("realized")) if ctx.view else None
        buffer = (
            None if limit is None or realized is None else max(limit + min(realized, Decimal(0)), Decimal(0))
        )
        return line(
            f"Loss limit  {money(limit, signed=False)}  used ",
            p.pct(used),
            "  ",
            p.bar(used),
            f"  buffer {money(buffer, signed=False)}",
        )

    def _connection(self, ctx: ViewContext) -> Text:
        p = ctx.palette
        if ctx.offline or not ctx.live:
            return line("Connection  daemon ", p.dot(False), " offline")
        uptime = ctx.model.heartbeat.get("uptimeS")
        conn = ctx.view.connection if ctx.view else {}
        user, market = conn.get("userHub"), conn.get("marketHub")
        last = ctx.since(conn.get("lastEventAt"))
        return line(
            "Connection  daemon ",
            p.dot(True),
            f" up {duration(uptime or 0)} · broker user hub ",
            p.dot(user == "connected" or user == "up"),
            f" {'' if last is None else duration(last) + ' ago'} · market hub ",
            p.dot(market == "connected" or market == "up"),
        )

    def _closest(self, ctx: ViewContext) -> Text:
        p = ctx.palette
        rules = [
            r
            for r in (ctx.view.rules.values() if ctx.view else [])
            if r.get("enabled") and r.get("pctUsed") is not None
        ]
        rules.sort(key=lambda r: -float(r.get("pctUsed") or 0))
        out = Text("Closest rules  ")
        for i, rule in enumerate(rules[:3]):
            if i:
                out.append(" · ")
            out.append(f"{rule.get('name')} {_value(rule)} ")
            out.append_text(p.pct(rule.get("pctUsed")))
        if not rules:
            out.append("—")
        return out


def _value(rule: dict[str, Any]) -> str:
    if rule.get("unit") == "money":
        return ""
    label = str(rule.get("label") or "")
    per = f" {label}" if label.startswith("per ") else ""
    return f"{rule.get('value')}/{rule.get('limit')}{per}"


def drawdown_line(ctx: ViewContext) -> Text | None:
    """``Floor       $630.00 above $49,000.00 · net $49,630.00  used 37 % ▕███░░░░░░░▏`` (the floor line:
    the floor, plus the buffer when there is one);
    None while RULE-013 is off. Before the first balance: ``waiting for the account balance``."""
    p = ctx.palette
    view = ctx.view
    if view is None:
        return None
    rule = view.rules.get("RULE-013") or {}
    dd = view.drawdown
    if not rule.get("enabled") and dd is None:
        return None
    if dd is None or dd.get("netBalance") is None:
        return line("Floor       ", Text("waiting for the account balance", style=p.muted))
    distance = dec(dd.get("distance"))
    used = rule.get("pctUsed") if rule.get("enabled") else None
    buffer = dec(dd.get("buffer"))
    at = money(dd.get("breachAt"), signed=False)
    where = f" (floor + {money(buffer, signed=False)} buffer)" if buffer else ""
    net = f" · net {money(dd.get('netBalance'), signed=False)}"
    if distance is not None and distance <= 0:
        head = Text(f"BREACHED: net at or below {at}", style=p.crit)
    else:
        head = Text(f"{money(distance, signed=False)} above {at}", style=p.level(used) if used is not None else "")
    out = line("Floor       ", head, where, net)
    if used is not None:
        out.append("  used ")
        out.append_text(p.pct(used))
        out.append("  ")
        out.append_text(p.bar(used))
    return out


def week_line(ctx: ViewContext) -> Text | None:
    """``Week        P&L −$370.00 of loss $1,000.00 (37.0%) · Losing streak 2 of 3``; None while both
    RULE-014 and RULE-015 are off."""
    p = ctx.palette
    view = ctx.view
    if view is None:
        return None
    weekly = view.rules.get("RULE-014") or {}
    streak = view.rules.get("RULE-015") or {}
    parts: list[Text | str] = []
    if weekly.get("enabled"):
        loss = next((i for i in weekly.get("limits") or [] if i.get("key") == "loss"), None)
        profit = next((i for i in weekly.get("limits") or [] if i.get("key") == "profit"), None)
        item = loss or profit
        value = item.get("value") if item else weekly.get("value")
        parts += ["P&L ", p.money(value)]
        if loss is not None:
            parts += [f" of loss {money(loss.get('limit'), signed=False)} (", p.pct(loss.get("pctUsed")), ")"]
        if profit is not None:
            parts.append(f" · target {money(profit.get('limit'), signed=False)}")
    if streak.get("enabled"):
        if parts:
            parts.append(" · ")
        used = streak.get("pctUsed")
        parts += ["Losing streak ", Text(f"{streak.get('value')} of {streak.get('limit')}", style=p.level(used))]
    if not parts:
        return None
    return line("Week        " if weekly.get("enabled") else "Streak      ", *parts)
