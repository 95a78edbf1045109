"""Tab 3, Positions: one row per position, the protecting stop (or the grace countdown), totals.

Quotes change only the Last and Unrealized cells of their row (``quote_cells``), never the rest.
Narrow terminals drop the Age column first, then Avg price (trader-cli.md §9).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from risk_manager.trader.fmt import duration, parse_time, price
from risk_manager.trader.style import Palette
from risk_manager.trader.widgets.base import Figure, ViewContext, line
from risk_manager.trader.widgets.common import contract_name, side_size, stop_for
from risk_manager.trader.widgets.table import KeyedTable

COLUMNS = [
    ("contract", "Contract"),
    ("side", "Side / Size"),
    ("avg", "Avg price"),
    ("last", "Last"),
    ("unrealized", "Unrealized"),
    ("stop", "Stop"),
    ("age", "Age"),
]


def columns_for(width: int) -> list[tuple[str, str]]:
    cols = list(COLUMNS)
    if width < 100:
        cols = [c for c in cols if c[0] != "age"]
    if width < 86:
        cols = [c for c in cols if c[0] != "avg"]
    return cols


class PositionsTab(Vertical):
    DEFAULT_CSS = "PositionsTab Figure { height: auto; } PositionsTab #pos-table { height: 1fr; }"

    def __init__(self, palette: Palette, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._palette = palette

    def compose(self) -> ComposeResult:
        table = KeyedTable(self._palette, id="pos-table")
        table.set_columns(COLUMNS)
        table.flash_cols = {"last", "unrealized", "side"}
        table.favour = {"unrealized": 1, "last": 0, "side": 0}
        yield table
        yield Figure(id="pos-footer")

    def refresh_view(self, ctx: ViewContext, topics: set[str] | None = None) -> None:
        view = ctx.view
        if view is None:
            return
        table = self.query_one("#pos-table", KeyedTable)
        table.set_columns(columns_for(ctx.width))
        rows = [(cid, self.cells(ctx, pos)) for cid, pos in sorted(view.positions.items())]
        table.sync(rows)
        total_size = sum(int(p.get("size") or 0) for p in view.positions.values())
        rule = view.rules.get("RULE-001") or {}
        cap = f" of max {rule.get('limit')}" if rule.get("enabled") and rule.get("limit") else ""
        unreal: Any = "n/a (offline)" if ctx.offline else ctx.palette.money(view.pnl.get("unrealized"))
        self.query_one("#pos-footer", Figure).show(
            line(f"Contracts held {total_size}{cap} · Unrealized ", unreal, ctx.freshness()),
            palette=ctx.palette,
        )

    def quote_cells(self, ctx: ViewContext, cid: str) -> None:
        """A quote: update the Last and Unrealized cells of one row only."""
        view = ctx.view
        pos = view.positions.get(cid) if view else None
        table = self.query_one("#pos-table", KeyedTable)
        if pos is None or cid not in table.row_keys():
            return
        cells = self.cells(ctx, pos)
        table.patch(cid, {"last": cells["last"], "unrealized": cells["unrealized"]})

    def cells(self, ctx: ViewContext, pos: dict[str, Any]) -> dict[str, Text | str]:
        p = ctx.palette
        view = ctx.view
        assert view is not None
        cid = str(pos.get("contractId"))
        avg = pos.get("averagePrice")
        if ctx.offline:
            last: Text = Text("n/a (offline)")
            unreal: Text = Text("n/a (offline)")
        else:
            last = Text(price(pos.get("last"), like=avg) if pos.get("last") is not None else "n/a")
            last.append_text(p.age(ctx.since(pos.get("lastAt"))))
            unreal = p.money(pos.get("unrealized")) if pos.get("unrealized") is not None else Text("n/a")
        stop = stop_for(view, pos)
        if stop is not None:
            stop_text = Text(f"✓ {price(stop.get('stopPrice'), like=avg)}", style=p.ok)
        else:
            stop_text = Text("✗ none", style=p.crit)
            deadlines = (view.rules.get("RULE-008") or {}).get("deadlines") or {}
            due = parse_time(deadlines.get(cid))
            if due is not None:
                stop_text.append(f" closes in {duration((due - ctx.now).total_seconds())}", style=p.crit)
        opened = ctx.since(pos.get("openedAt"))
        return {
            "contract": contract_name(cid, pos.get("symbol")),
            "side": side_size(pos),
            "avg": price(avg),
            "last": last,
            "unrealized": unreal,
            "stop": stop_text,
            "age": duration(opened) if opened is not None else "—",
        }
