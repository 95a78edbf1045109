"""Tab 2, P&L: the day's figures, an intraday chart of net and realized P&L with the loss limit, and
the recent trades.

The chart is textual-plotext (Textualize's wrapper of plotext): braille lines, a red horizontal loss
limit and a zero line; in monochrome the two series use different markers. It is redrawn only when a
point is added (a trade, a P&L change, once a minute), never per quote.
"""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual_plotext import PlotextPlot

from risk_manager.trader.fmt import clock, dec, money, price
from risk_manager.trader.widgets.base import Figure, ViewContext, line
from risk_manager.trader.widgets.common import contract_name
from risk_manager.trader.widgets.table import KeyedTable

RECENT = 20
CHART_EVERY_S = 0.5


class PnlTab(Vertical):
    DEFAULT_CSS = """
    PnlTab Figure { height: auto; }
    PnlTab #pnl-chart { height: 12; min-height: 8; }
    PnlTab #pnl-trades { height: 1fr; }
    """

    def __init__(self, palette: object, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._palette = palette
        self._chart_key: object = None
        self._chart_at = 0.0
        self._chart_timer = False
        self._chart_args: tuple[ViewContext, Decimal | None] | None = None
        self.chart_draws = 0  # plotext renders asked for (tests read it)

    def compose(self) -> ComposeResult:
        yield Figure(id="pnl-summary", favour=1)
        yield Figure(id="pnl-range")
        yield PlotextPlot(id="pnl-chart")
        table = KeyedTable(self._palette, id="pnl-trades")  # type: ignore[arg-type]
        table.set_columns(
            [
                ("time", "Time"),
                ("contract", "Contract"),
                ("side", "Side"),
                ("size", "Size"),
                ("price", "Price"),
                ("pnl", "Realized"),
                ("total", "Running"),
            ]
        )
        table.flash_cols = set()
        yield table

    def refresh_view(self, ctx: ViewContext, topics: set[str] | None = None) -> None:
        p = ctx.palette
        view = ctx.view
        if view is None:
            return
        pnl = view.pnl
        unreal = Text("n/a (offline)") if ctx.offline else p.money(pnl.get("unrealized"))
        net = Text("n/a (offline)") if ctx.offline else p.money(pnl.get("net"))
        fees = (
            f"   Fees {money(pnl.get('fees'), signed=False)}" if pnl.get("fees") not in (None, "0.00") else ""
        )
        self.query_one("#pnl-summary", Figure).show(
            line(
                "Realized ",
                p.money(pnl.get("realized")),
                "   Unrealized ",
                unreal,
                "   Net ",
                net,
                fees,
                f"   Trades {pnl.get('tradeCount', 0)}",
                ctx.freshness(),
            ),
            pnl.get("realized"),
            p,
        )
        limit = loss_limit(ctx)
        realized = dec(pnl.get("realized")) or Decimal(0)
        parts = []
        if view.best is not None:
            parts.append(f"Best {money(view.best[0])} at {clock(view.best[1], ctx.tz)}")
        if view.worst is not None:
            parts.append(f"Worst {money(view.worst[0])} at {clock(view.worst[1], ctx.tz)}")
        if limit is not None:
            parts.append(
                f"Loss limit {money(limit, signed=False)} · buffer {money(max(limit + min(realized, Decimal(0)), Decimal(0)), signed=False)}"
            )
        self.query_one("#pnl-range", Figure).show(
            Text("   ".join(parts) or "No trades yet today."), palette=p
        )
        if topics is None or topics & {"chart", "pnl", "trades"}:
            self._chart(ctx, limit)
        if topics is None or "trades" in topics:
            self._trades(ctx)

    def _chart(self, ctx: ViewContext, limit: Decimal | None) -> None:
        """Redraw the chart at most every 0.5 s: a plotext render costs tens of milliseconds, and at
        10 fills a second it must not delay the figures (they are drawn at once). A change inside the
        window is drawn when it ends, from the newest data the tab was given (``_chart_args``), so the
        last point is always drawn and a burst costs one render."""
        self._chart_args = (ctx, limit)
        wait = CHART_EVERY_S - (time.monotonic() - self._chart_at)
        if wait > 0:
            if not self._chart_timer:
                self._chart_timer = True
                self.set_timer(wait, self._chart_later)
            return
        self._chart_at = time.monotonic()
        self._chart_key = draw_chart(self.query_one("#pnl-chart", PlotextPlot), ctx, limit, self._chart_key)
        self.chart_draws += 1

    def _chart_later(self) -> None:
        self._chart_timer = False
        if self._chart_args is not None and self.is_on_screen:
            self._chart(*self._chart_args)  # hidden meanwhile: drawn when the tab is shown again

    def _trades(self, ctx: ViewContext) -> None:
        view = ctx.view
        assert view is not None
        p = ctx.palette
        trades = list(view.trades.values())
        running = Decimal(0)
        totals = {}
        for t in trades:
            running += dec(t.get("pnl")) or Decimal(0)
            totals[t.get("tradeId")] = running
        rows = []
        for t in reversed(trades[-RECENT:]):
            cid = str(t.get("contractId") or "")
            when = _parse(t.get("executedAt"))
            rows.append(
                (
                    str(t.get("tradeId")),
                    {
                        "time": clock(when, ctx.tz),
                        "contract": contract_name(cid, t.get("symbol")),
                        "side": "Buy" if t.get("side") == 0 else "Sell",
                        "size": str(t.get("size")),
                        "price": price(t.get("price")),
                        "pnl": p.money(t.get("pnl")) if t.get("pnl") is not None else Text("—"),
                        "total": p.money(totals.get(t.get("tradeId"))),
                    },
                )
            )
        self.query_one("#pnl-trades", KeyedTable).sync(rows)


def _parse(value: object) -> datetime | None:
    from risk_manager.trader.fmt import parse_time

    return parse_time(value)


def _ticks(xs: list[float], start: datetime, ctx: ViewContext) -> tuple[list[float], list[str]]:
    from datetime import timedelta

    span = max(xs) - min(xs) if xs else 0
    count = 4 if span > 0 else 1
    ticks = [min(xs) + span * i / (count - 1 if count > 1 else 1) for i in range(count)]
    labels = [(start + timedelta(minutes=t)).astimezone(ctx.tz).strftime("%H:%M") for t in ticks]
    return ticks, labels


def loss_limit(ctx: ViewContext) -> Decimal | None:
    rule = (ctx.view.rules.get("RULE-003") if ctx.view else None) or {}
    return dec(rule.get("limit")) if rule.get("enabled") else None


def draw_chart(widget: PlotextPlot, ctx: ViewContext, limit: Decimal | None, drawn: object = None) -> object:
    """Net (and realized) P&L since the start of the day with the loss limit; redrawn only when the
    points or the limit changed. Returns what was drawn, to pass back next time."""
    view = ctx.view
    assert view is not None
    points = [pt for pt in view.series if pt[1] is not None]
    key = (len(points), points[-1] if points else None, limit, ctx.offline, ctx.palette.mono, view.account_id)
    if key == drawn:
        return drawn
    plt = widget.plt
    plt.clear_data()
    plt.clear_figure()
    mono = ctx.palette.mono
    ys = [0.0]
    if points:
        start = points[0][0]
        xs = [(pt[0] - start).total_seconds() / 60 for pt in points]
        realized = [float(pt[1] or 0) for pt in points]
        nets = [float(pt[2]) if pt[2] is not None else float(pt[1] or 0) for pt in points]
        if len(xs) == 1:
            xs, realized, nets = [xs[0], xs[0] + 1], realized * 2, nets * 2
        if not ctx.offline:
            plt.plot(xs, nets, marker="braille", color=None if mono else "green", label="net")
            ys += nets
        plt.plot(
            xs,
            realized,
            marker="dot" if mono else "braille",
            color=None if mono else "cyan",
            label="realized",
        )
        ys += realized
        plt.xticks(*_ticks(xs, start, ctx))
    plt.horizontal_line(0, color=None if mono else "white")
    low, high = min(ys), max(ys)
    if limit is not None:
        plt.horizontal_line(-float(limit), color=None if mono else "red")
        low, high = min(-float(limit) * 1.1, low), max(high, float(limit) * 0.25)
    if high - low < 1:
        low, high = low - 50, high + 50
    plt.ylim(low, high)
    ticks = [low + (high - low) * i / 4 for i in range(5)]
    plt.yticks(ticks, [money(round(t)).replace(".00", "") for t in ticks])
    title = "Net P&L today" + (" (realized only, offline)" if ctx.offline else "")
    plt.title(title + ("   — loss limit" if limit is not None else ""))
    widget.refresh()
    return key
