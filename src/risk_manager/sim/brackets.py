"""Bracket children (stop-loss / take-profit) of an entry order, as the live gateway runs them.

Kept apart from the matching engine because brackets have a life cycle of their own: the children
exist from the moment the entry is placed, **Suspended** (status 8) until the entry has filled
completely, then Open and priced from the average fill; they are OCO, and they are cancelled with
their entry or when the position goes flat. Children name their entry in ``parentOrderId``; the
take-profit names its stop-loss in ``linkedOrderId`` (topstep-sdk's OrderModel, verified live by its
author; docs/simulator.md lists the sources).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from risk_manager.sim.records import Order
from risk_manager.sim.wire import (
    BUY,
    JOIN_ASK,
    JOIN_BID,
    LIMIT,
    LIVE,
    SELL,
    ST_OPEN,
    ST_SUSPENDED,
    STOP,
    STOP_LIMIT,
    TRAILING_STOP,
    utcnow,
)


def _reference(broker: Any, entry: Order) -> Decimal:
    """The price the entry is expected to fill at (children of a suspended entry are priced from it)."""
    if entry.type in (LIMIT, JOIN_BID, JOIN_ASK) and entry.limit is not None:
        return entry.limit
    if entry.type in (STOP, STOP_LIMIT, TRAILING_STOP) and entry.stop is not None:
        return entry.stop
    quote = broker.market.quote_of(entry.contract)
    return quote.ask if entry.side == BUY else quote.bid


def _price(entry: Order, anchor: Decimal, ticks: int, protective: bool) -> Decimal:
    tick = entry.contract.tick_size
    direction = 1 if entry.side == BUY else -1
    distance = abs(int(ticks)) * tick
    price = anchor - direction * distance if protective else anchor + direction * distance
    return (price / tick).to_integral_value() * tick


def _set_price(child: Order, entry: Order, anchor: Decimal, ticks: int, protective: bool) -> None:
    price = _price(entry, anchor, ticks, protective)
    if child.type in (STOP, STOP_LIMIT):
        child.stop = price
        child.limit = price if child.type == STOP_LIMIT else None
    elif child.type == TRAILING_STOP:
        child.trail = abs(int(ticks)) * entry.contract.tick_size
        child.stop = price
    else:
        child.limit = price


class Brackets:
    """Mixin of the matching engine's ``Broker`` (``self``): everything about bracket children."""

    def children_of(self: Any, entry_id: int) -> list[Order]:
        return sorted((o for o in self.orders.values() if o.oco_group == entry_id), key=lambda o: o.id)

    def live_children(self: Any, account_id: int, contract_id: str) -> list[Order]:
        """Active bracket orders (not suspended) on an account and contract, oldest first."""
        book = self.working.get(contract_id, {})
        return [
            o
            for o in sorted(book.values(), key=lambda o: o.id)
            if o.account_id == account_id and o.oco_group is not None and o.status in LIVE
        ]

    def suspend_children(self: Any, entry: Order) -> None:
        """At placement: create the entry's children, Suspended, priced from its expected fill."""
        exit_side = SELL if entry.side == BUY else BUY
        anchor = _reference(self, entry)
        stop_id: int | None = None
        for bracket, protective in ((entry.sl_bracket, True), (entry.tp_bracket, False)):
            if not bracket:
                continue
            kind = int(bracket.get("type", STOP if protective else LIMIT))
            if kind not in (STOP, STOP_LIMIT, TRAILING_STOP):
                kind = LIMIT  # Limit, JoinBid/JoinAsk and anything else rest as a limit at the price
            child = Order(self._take_order_id(), entry.account_id, entry.contract, kind, exit_side, entry.size)
            child.oco_group = entry.id
            child.bracket_ticks = int(bracket.get("ticks", 0))
            child.protective = protective
            child.linked_id = None if protective else stop_id
            _set_price(child, entry, anchor, child.bracket_ticks, protective)
            self._open(child, suspended=True)
            if protective:
                stop_id = child.id

    def activate_children(self: Any, entry: Order) -> None:
        """The entry filled completely: its suspended children go live, priced from the average fill."""
        assert entry.filled_price is not None
        for child in self.children_of(entry.id):
            if child.status != ST_SUSPENDED:
                continue
            _set_price(child, entry, entry.filled_price, child.bracket_ticks, child.protective)
            child.status = ST_OPEN
            child.updated = utcnow()
            self._emit_order(child)

    def cancel_children(self: Any, orders: Iterable[Order]) -> None:
        for child in orders:
            if child.status in LIVE or child.status == ST_SUSPENDED:
                self._cancel(child)
