"""Quotes, market tape, depth and bar history per contract (spec/gateway.md §6.4-§6.5).

Quotes change only through ``set_quote`` (control API, scenario steps, random walk); each change is
published on the market hub and then handed to the matching engine through ``on_quote`` listeners.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from risk_manager.sim.contracts import Contract, ContractTable
from risk_manager.sim.events import Emit, Event
from risk_manager.sim.wire import iso, utcnow

_UNIT_SECONDS = {1: 1, 2: 60, 3: 3600, 4: 86400, 5: 7 * 86400}


@dataclass(slots=True)
class Quote:
    bid: Decimal
    ask: Decimal
    last: Decimal
    open: Decimal
    high: Decimal
    low: Decimal
    volume: int = 0
    ts: datetime = field(default_factory=utcnow)


class QuoteError(ValueError):
    pass


class Market:
    def __init__(self, table: ContractTable, emit: Emit, seed: int) -> None:
        self.table = table
        self.emit = emit
        self.seed = seed
        self.rng = random.Random(f"{seed}:market")
        self.quotes: dict[str, Quote] = {}
        self.history: dict[str, list[tuple[datetime, Decimal, int]]] = {}
        self.paused_until = 0.0  # monotonic seconds; set by the pause_market_data fault
        self.on_quote: list[Callable[[Contract], list[int]]] = []
        self.reset_quotes()

    def reset_quotes(self, reference: dict[str, tuple[Decimal, Decimal]] | None = None) -> None:
        self.quotes.clear()
        self.history.clear()
        now = utcnow()
        for contract in self.table.fronts():
            ref = (reference or {}).get(contract.id)
            bid, ask = (
                ref if ref else (contract.product.reference, contract.product.reference + contract.tick_size)
            )
            self.quotes[contract.id] = Quote(bid, ask, bid, bid, bid, bid, 0, now)
            self.history[contract.id] = [(now, bid, 0)]

    def quote_of(self, contract: Contract) -> Quote:
        quote = self.quotes.get(contract.id)
        if quote is None:  # an inactive month: quoted like its front for completeness, never traded
            ref = contract.product.reference
            quote = Quote(ref, ref + contract.tick_size, ref, ref, ref, ref)
        return quote

    # -- wire shapes ---------------------------------------------------------------------------------
    def quote_payload(self, contract: Contract) -> dict[str, Any]:
        q = self.quote_of(contract)
        change = q.last - q.open
        pct = (change / q.open * 100).quantize(Decimal("0.01")) if q.open else Decimal(0)
        return {
            "symbol": contract.symbol_id,
            "symbolName": f"/{contract.product.root}",
            "lastPrice": q.last,
            "bestBid": q.bid,
            "bestAsk": q.ask,
            "change": change,
            "changePercent": pct,
            "open": q.open,
            "high": q.high,
            "low": q.low,
            "volume": q.volume,
            "lastUpdated": iso(q.ts),
            "timestamp": iso(q.ts),
        }

    def depth_entries(self, contract: Contract, reset: bool = False) -> list[dict[str, Any]]:
        q = self.quote_of(contract)
        ts = iso(q.ts)
        entries = []
        if reset:
            entries.append({"timestamp": ts, "type": 6, "price": 0, "volume": 0, "currentVolume": 0})
        bid_vol, ask_vol = self.rng.randint(1, 40), self.rng.randint(1, 40)
        entries.append(
            {"timestamp": ts, "type": 4, "price": q.bid, "volume": bid_vol, "currentVolume": bid_vol}
        )
        entries.append(
            {"timestamp": ts, "type": 3, "price": q.ask, "volume": ask_vol, "currentVolume": ask_vol}
        )
        return entries

    # -- changes ---------------------------------------------------------------------------------------
    def set_quote(
        self,
        contract: Contract,
        bid: Decimal,
        ask: Decimal,
        last: Decimal | None = None,
        volume: int | None = None,
    ) -> list[int]:
        """Set, publish, then let resting orders fill. Returns the ids of orders that filled."""
        if contract.id not in self.quotes:
            raise QuoteError(f"contract {contract.id} is not a front contract")
        last = bid if last is None else last
        for name, price in (("bid", bid), ("ask", ask), ("last", last)):
            if price <= 0 or not contract.on_grid(price):
                raise QuoteError(
                    f"{name} {price} is not on the tick grid of {contract.name} ({contract.tick_size})"
                )
        if bid > ask:
            raise QuoteError(f"bid {bid} is above ask {ask}")
        q = self.quotes[contract.id]
        q.bid, q.ask, q.last, q.ts = bid, ask, last, utcnow()
        q.high, q.low = max(q.high, last), min(q.low, last)
        if volume:
            q.volume += volume
        self.history[contract.id].append((q.ts, last, volume or 0))
        self.emit(Event("market", "GatewayQuote", self.quote_payload(contract), contract_id=contract.id))
        self.emit(Event("market", "GatewayDepth", self.depth_entries(contract), contract_id=contract.id))
        if volume:
            self.tape(contract, last, volume, 0 if last >= ask else 1)
        filled: list[int] = []
        for listener in self.on_quote:
            filled.extend(listener(contract))
        return filled

    def tape(self, contract: Contract, price: Decimal, volume: int, aggressor: int) -> None:
        q = self.quotes.get(contract.id)
        now = utcnow()
        if q is not None:
            q.volume += volume
            self.history[contract.id].append((now, q.last, volume))
        item = {
            "symbolId": contract.symbol_id,
            "price": price,
            "timestamp": iso(now),
            "type": aggressor,
            "volume": volume,
        }
        self.emit(Event("market", "GatewayTrade", [item], contract_id=contract.id))

    # -- bars ------------------------------------------------------------------------------------------
    def bars(
        self,
        contract: Contract,
        start: datetime,
        end: datetime,
        unit: int,
        unit_number: int,
        limit: int,
        partial: bool,
    ) -> list[dict[str, Any]]:
        history = self.history.get(contract.id, [])
        buckets: dict[datetime, list[Any]] = {}
        for ts, price, vol in history:
            if not (start <= ts < end):
                continue
            key = _bucket(ts, unit, max(1, unit_number))
            bar = buckets.get(key)
            if bar is None:
                buckets[key] = [price, price, price, price, vol]
            else:
                bar[1] = max(bar[1], price)
                bar[2] = min(bar[2], price)
                bar[3] = price
                bar[4] += vol
        now_bucket = _bucket(utcnow(), unit, max(1, unit_number))
        out = []
        for key in sorted(buckets, reverse=True):
            if key >= now_bucket and not partial:
                continue
            o, h, low, c, v = buckets[key]
            out.append({"t": iso(key), "o": o, "h": h, "l": low, "c": c, "v": int(v)})
        return out[: max(0, min(limit, 20_000))]


def _bucket(ts: datetime, unit: int, n: int) -> datetime:
    if unit == 6:  # months
        index = (ts.year * 12 + ts.month - 1) // n * n
        return ts.replace(
            year=index // 12, month=index % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0
        )
    size = _UNIT_SECONDS.get(unit, 60) * n
    epoch = int(ts.timestamp())
    if unit == 5:  # weeks aligned to Monday
        epoch += 3 * 86400
        start = epoch - epoch % size - 3 * 86400
    else:
        start = epoch - epoch % size
    return datetime.fromtimestamp(start, ts.tzinfo) if ts.tzinfo else ts + timedelta(seconds=start - epoch)
