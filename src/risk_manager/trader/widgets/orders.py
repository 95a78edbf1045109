"""Tab 4, Orders: working orders, then today's finished ones (newest first, 20), with the rule that
cancelled an order when the risk manager did."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from risk_manager.trader.fmt import clock, duration, parse_time, price
from risk_manager.trader.style import Palette
from risk_manager.trader.widgets.base import ViewContext
from risk_manager.trader.widgets.common import ORDER_STATUS, ORDER_TYPES, contract_name
from risk_manager.trader.widgets.table import KeyedTable

WORKING = [
    ("time", "Placed"),
    ("contract", "Contract"),
    ("type", "Type"),
    ("side", "Side"),
    ("size", "Size"),
    ("price", "Price"),
    ("status", "Status"),
    ("age", "Age"),
]
FINISHED = [
    ("time", "Time"),
    ("contract", "Contract"),
    ("type", "Type"),
    ("side", "Side"),
    ("size", "Size"),
    ("price", "Price"),
    ("status", "Status"),
]


class OrdersTab(Vertical):
    DEFAULT_CSS = "OrdersTab KeyedTable { height: auto; max-height: 50%; } OrdersTab Static { height: 1; }"

    def __init__(self, palette: Palette, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._palette = palette

    def compose(self) -> ComposeResult:
        yield Static("Working orders", classes="title")
        working = KeyedTable(self._palette, id="ord-working")
        working.set_columns(WORKING)
        yield working
        yield Static("Finished today (newest first)", classes="title")
        finished = KeyedTable(self._palette, id="ord-finished")
        finished.set_columns(FINISHED)
        yield finished

    def refresh_view(self, ctx: ViewContext, topics: set[str] | None = None) -> None:
        view = ctx.view
        if view is None:
            return
        cancelled_by = {
            str(e.get("target")): e.get("ruleId")
            for e in view.enforcement.values()
            if e.get("action") in ("cancel_order", "cancel_all") and e.get("target") is not None
        }
        work = []
        for oid, order in sorted(view.orders.items(), key=lambda kv: str(kv[1].get("placedAt") or "")):
            cells = self._cells(ctx, order)
            placed = ctx.since(order.get("placedAt"))
            cells["age"] = duration(placed) if placed is not None else "—"
            work.append((str(oid), cells))
        self.query_one("#ord-working", KeyedTable).sync(work)
        done = []
        for oid, order in reversed(list(view.finished.items())):
            cells = self._cells(ctx, order)
            status = ORDER_STATUS.get(int(order.get("status") or 0), str(order.get("status")))
            rule = cancelled_by.get(str(oid))
            if rule and order.get("status") == 3:
                status = f"cancelled by rule {int(str(rule)[-3:])}"
            cells["status"] = Text(status, style=ctx.palette.warn if rule else "")
            done.append((str(oid), cells))
        self.query_one("#ord-finished", KeyedTable).sync(done[:20])

    def _cells(self, ctx: ViewContext, order: dict[str, Any]) -> dict[str, Text | str]:
        px = order.get("stopPrice") if order.get("type") in (3, 4, 5) else order.get("limitPrice")
        when = parse_time(order.get("finishedAt") or order.get("placedAt"))
        return {
            "time": clock(when, ctx.tz),
            "contract": contract_name(str(order.get("contractId") or "")),
            "type": ORDER_TYPES.get(int(order.get("type") or 0), str(order.get("type"))),
            "side": "Buy" if order.get("side") == 0 else "Sell",
            "size": str(order.get("size")),
            "price": price(px) if px is not None else "—",
            "status": ORDER_STATUS.get(int(order.get("status") or 0), str(order.get("status"))),
        }
