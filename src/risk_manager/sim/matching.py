"""Orders, positions, trades and P&L (spec/gateway.md §6.4): the broker's truth inside the simulator.

Everything here is synchronous and deterministic; every state change publishes its user-hub events in
the order §6.4 prescribes through ``emit``, so an execution's events are already queued when the REST
handler that caused it returns.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from risk_manager.sim.contracts import Contract, ContractTable
from risk_manager.sim.events import Emit, Event
from risk_manager.sim.market import Market
from risk_manager.sim.settings import Settings
from risk_manager.sim.wire import (
    BUY,
    JOIN_ASK,
    JOIN_BID,
    LIMIT,
    LONG,
    MARKET,
    SELL,
    SHORT,
    ST_CANCELLED,
    ST_FILLED,
    ST_OPEN,
    ST_PENDING,
    STOP,
    STOP_LIMIT,
    TRAILING_STOP,
    WORKING,
    iso,
    money,
    utcnow,
)

_AVG = Decimal("0.000000001")
FIRST_ORDER_ID, FIRST_TRADE_ID, FIRST_POSITION_ID = 10000001, 20000001, 30000001


@dataclass(slots=True)
class Account:
    id: int
    name: str
    balance: Decimal
    can_trade: bool = True
    is_visible: bool = True
    simulated: bool = True
    active: bool = True
    user: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "balance": money(self.balance),
            "canTrade": self.can_trade,
            "isVisible": self.is_visible,
            "simulated": self.simulated,
        }


@dataclass(slots=True)
class Order:
    id: int
    account_id: int
    contract: Contract
    type: int
    side: int
    size: int
    limit: Decimal | None = None
    stop: Decimal | None = None
    trail: Decimal | None = None
    custom_tag: str | None = None
    status: int = ST_OPEN
    fill_volume: int = 0
    filled_price: Decimal | None = None
    created: datetime = field(default_factory=utcnow)
    updated: datetime = field(default_factory=utcnow)
    sl_bracket: dict[str, int] | None = None
    tp_bracket: dict[str, int] | None = None
    chunks: list[int] | None = None
    triggered: bool = False
    oco_group: int | None = None  # id of the entry whose bracket this order is

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract.id,
            "symbolId": self.contract.symbol_id,
            "creationTimestamp": iso(self.created),
            "updateTimestamp": iso(self.updated),
            "status": self.status,
            "type": self.type,
            "side": self.side,
            "size": self.size,
            "limitPrice": self.limit,
            "stopPrice": self.stop,
            "fillVolume": self.fill_volume,
            "filledPrice": self.filled_price,
            "customTag": self.custom_tag,
        }


@dataclass(slots=True)
class Position:
    id: int
    account_id: int
    contract: Contract
    type: int
    size: int
    average: Decimal
    created: datetime = field(default_factory=utcnow)

    @property
    def signed(self) -> int:
        return self.size if self.type == LONG else -self.size

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract.id,
            "creationTimestamp": iso(self.created),
            "type": self.type,
            "size": self.size,
            "averagePrice": self.average,
        }


@dataclass(slots=True)
class Trade:
    id: int
    account_id: int
    contract: Contract
    price: Decimal
    pnl: Decimal | None
    fees: Decimal
    side: int
    size: int
    order_id: int
    voided: bool = False
    created: datetime = field(default_factory=utcnow)

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract.id,
            "creationTimestamp": iso(self.created),
            "price": self.price,
            "profitAndLoss": self.pnl,
            "fees": self.fees,
            "side": self.side,
            "size": self.size,
            "voided": self.voided,
            "orderId": self.order_id,
        }


@dataclass(slots=True)
class Result:
    code: int = 0
    message: str | None = None
    order_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass(slots=True)
class OrderRequest:
    account_id: int
    contract_id: str
    type: int
    side: int
    size: int
    limit: Decimal | None = None
    stop: Decimal | None = None
    trail: Decimal | None = None
    custom_tag: str | None = None
    sl_bracket: dict[str, int] | None = None
    tp_bracket: dict[str, int] | None = None
    fills: list[int] | None = None


class Broker:
    def __init__(self, table: ContractTable, market: Market, settings: Settings, emit: Emit) -> None:
        self.table = table
        self.market = market
        self.settings = settings
        self.emit = emit
        self.users: dict[str, str] = {}  # userName -> apiKey
        self.accounts: dict[int, Account] = {}
        self.orders: dict[int, Order] = {}
        self.working: dict[str, dict[int, Order]] = {}  # contract id -> working orders
        self.positions: dict[tuple[int, str], Position] = {}
        self.trades: dict[int, Trade] = {}
        self._next_order, self._next_trade, self._next_position = (
            FIRST_ORDER_ID,
            FIRST_TRADE_ID,
            FIRST_POSITION_ID,
        )
        self._startup: tuple[dict[str, str], dict[int, Account]] = ({}, {})
        market.on_quote.append(self.on_quote)

    # -- users and accounts ------------------------------------------------------------------------
    def add_user(self, name: str, api_key: str) -> None:
        self.users[name] = api_key

    def add_account(self, account: Account) -> None:
        self.accounts[account.id] = account

    def accounts_of(self, user: str) -> list[Account]:
        return [a for a in self.accounts.values() if a.user == user]

    def next_account_id(self) -> int:
        return max([1000, *self.accounts]) + 1

    def mark_startup(self) -> None:
        self._startup = (dict(self.users), copy.deepcopy(self.accounts))

    def reset(self) -> None:
        """Back to the start-up users and accounts; ids keep counting (never reused)."""
        users, accounts = self._startup
        self.users = dict(users)
        self.accounts = copy.deepcopy(accounts)
        self.orders.clear()
        self.working.clear()
        self.positions.clear()
        self.trades.clear()

    def set_can_trade(self, account: Account, value: bool) -> None:
        if account.can_trade != value:
            account.can_trade = value
            self._emit_account(account)

    # -- events ----------------------------------------------------------------------------------------
    def _emit_user(
        self, target: str, payload: dict[str, Any], account: Account, contract_id: str | None
    ) -> None:
        self.emit(
            Event("user", target, payload, account_id=account.id, contract_id=contract_id, user=account.user)
        )

    def _emit_account(self, account: Account) -> None:
        self._emit_user("GatewayUserAccount", account.to_wire(), account, None)

    def _emit_order(self, order: Order) -> None:
        self._emit_user(
            "GatewayUserOrder", order.to_wire(), self.accounts[order.account_id], order.contract.id
        )

    # -- placement -------------------------------------------------------------------------------------
    def place(self, req: OrderRequest, user: str | None) -> Result:
        """Checks in the order of §6.4; ``user`` None means the trader's platform (control API)."""
        account = self.accounts.get(req.account_id)
        if account is None or (user is not None and account.user != user):
            return Result(1, f"account {req.account_id} not found")
        contract = self.table.by_id(req.contract_id)
        if contract is None:
            return Result(8, f"contract {req.contract_id} not found")
        if not contract.active:
            return Result(9, f"contract {req.contract_id} is not the active contract")
        problem = self._validate(req, contract, account)
        if problem:
            return Result(2, problem)
        quote = self.market.quote_of(contract)
        limit, stop, trail = req.limit, req.stop, req.trail
        if req.type == JOIN_BID:
            limit = quote.bid
        elif req.type == JOIN_ASK:
            limit = quote.ask
        elif req.type == TRAILING_STOP and trail is not None:
            stop = quote.bid - trail if req.side == SELL else quote.ask + trail
        crossed = (
            req.type in (STOP, STOP_LIMIT) and stop is not None and self._crossed(req.side, stop, contract)
        )
        if crossed and self.settings["crossed_stop"] == "reject":
            side = "sell" if req.side == SELL else "buy"
            return Result(
                2, f"{side} stop {stop} is on the wrong side of the market ({quote.bid}/{quote.ask})"
            )
        order = Order(
            id=self._take_order_id(),
            account_id=account.id,
            contract=contract,
            type=req.type,
            side=req.side,
            size=req.size,
            limit=limit,
            stop=stop,
            trail=trail,
            custom_tag=req.custom_tag,
            sl_bracket=req.sl_bracket,
            tp_bracket=req.tp_bracket,
            chunks=list(req.fills) if req.fills else None,
        )
        self._open(order)
        self._check_immediate(order, crossed)
        return Result(0, None, order.id)

    def _validate(self, req: OrderRequest, contract: Contract, account: Account) -> str | None:
        if req.type not in (LIMIT, MARKET, STOP_LIMIT, STOP, TRAILING_STOP, JOIN_BID, JOIN_ASK):
            return f"unsupported order type {req.type}"
        if req.side not in (BUY, SELL):
            return f"invalid side {req.side}"
        if req.size < 1:
            return f"size must be at least 1, got {req.size}"
        needs = {LIMIT: ("limitPrice",), STOP: ("stopPrice",), STOP_LIMIT: ("limitPrice", "stopPrice")}
        needs_trail = req.type == TRAILING_STOP
        prices = {"limitPrice": req.limit, "stopPrice": req.stop, "trailPrice": req.trail}
        for name in needs.get(req.type, ()) + (("trailPrice",) if needs_trail else ()):
            value = prices[name]
            if value is None:
                return f"{name} is required for order type {req.type}"
            if value <= 0 or not contract.on_grid(value):
                return f"{name} {value} is not on the tick grid of {contract.name} ({contract.tick_size})"
        if req.custom_tag is not None and any(
            o.custom_tag == req.custom_tag and o.account_id == account.id for o in self.orders.values()
        ):
            return f"customTag {req.custom_tag!r} is already used on account {account.id}"
        if req.fills is not None and (sum(req.fills) != req.size or any(f < 1 for f in req.fills)):
            return f"fills {req.fills} must be positive and sum to size {req.size}"
        for name, bracket in (("stopLossBracket", req.sl_bracket), ("takeProfitBracket", req.tp_bracket)):
            if bracket is not None and (bracket.get("ticks", 0) == 0):
                return f"{name}.ticks must be non-zero"
        if not account.can_trade:
            mode = self.settings["can_trade_false_blocks"]
            if mode == "all" or (
                mode == "opening" and self._is_opening(account.id, contract, req.side, req.size)
            ):
                return f"account {account.id} is not allowed to trade (canTrade false)"
        return None

    def _is_opening(self, account_id: int, contract: Contract, side: int, size: int) -> bool:
        pos = self.positions.get((account_id, contract.id))
        current = pos.signed if pos else 0
        after = current + (size if side == BUY else -size)
        return abs(after) > abs(current)

    def _crossed(self, side: int, stop: Decimal, contract: Contract) -> bool:
        q = self.market.quote_of(contract)
        return stop <= q.ask if side == BUY else stop >= q.bid

    def _take_order_id(self) -> int:
        self._next_order += 1
        return self._next_order - 1

    def _open(self, order: Order) -> None:
        self.orders[order.id] = order
        self.working.setdefault(order.contract.id, {})[order.id] = order
        if self.settings["order_pending_event"]:
            order.status = ST_PENDING
            self._emit_order(order)
            order.status = ST_OPEN
        self._emit_order(order)

    def _touch(self, order: Order) -> Decimal:
        q = self.market.quote_of(order.contract)
        return q.ask if order.side == BUY else q.bid

    def _marketable(self, order: Order) -> bool:
        q = self.market.quote_of(order.contract)
        assert order.limit is not None
        return q.ask <= order.limit if order.side == BUY else q.bid >= order.limit

    def _check_immediate(self, order: Order, crossed: bool) -> None:
        """Placement/modify: market orders, marketable limits and (crossed_stop=fill) crossed stops fill now."""
        if order.type == MARKET:
            self._fill(order, self._touch(order))
        elif order.type in (LIMIT, JOIN_BID, JOIN_ASK):
            if self._marketable(order):
                self._fill(order, self._touch(order))
        elif order.type == STOP and crossed:
            self._fill(order, self._touch(order))
        elif order.type == STOP_LIMIT and crossed:
            order.triggered = True
            if self._marketable(order):
                self._fill(order, self._touch(order))

    # -- quotes ----------------------------------------------------------------------------------------
    def on_quote(self, contract: Contract) -> list[int]:
        book = self.working.get(contract.id)
        if not book:
            return []
        q = self.market.quote_of(contract)
        filled: list[int] = []
        for order_id in sorted(book):
            order = book.get(order_id)
            if order is None or order.status not in WORKING:
                continue  # cancelled meanwhile (OCO sibling, flat position)
            buy = order.side == BUY
            if order.type in (LIMIT, JOIN_BID, JOIN_ASK) or (order.type == STOP_LIMIT and order.triggered):
                assert order.limit is not None
                if (q.ask <= order.limit) if buy else (q.bid >= order.limit):
                    self._fill(order, order.limit)
                    filled.append(order.id)
            elif order.type in (STOP, TRAILING_STOP, STOP_LIMIT):
                assert order.stop is not None
                if (q.ask >= order.stop) if buy else (q.bid <= order.stop):
                    if order.type == STOP_LIMIT:
                        order.triggered = True
                        if self._marketable(order):
                            self._fill(order, self._touch(order))
                            filled.append(order.id)
                    else:
                        self._fill(order, q.ask if buy else q.bid)
                        filled.append(order.id)
                elif order.type == TRAILING_STOP and order.trail is not None:
                    candidate = q.ask + order.trail if buy else q.bid - order.trail
                    if (candidate < order.stop) if buy else (candidate > order.stop):
                        order.stop = candidate
                        order.updated = utcnow()
                        self._emit_order(order)
        return filled

    # -- fills -------------------------------------------------------------------------------------------
    def _fill(self, order: Order, price: Decimal) -> None:
        remaining = order.size - order.fill_volume
        chunks = order.chunks if order.chunks else [remaining]
        order.chunks = None
        for qty in chunks:
            qty = min(qty, order.size - order.fill_volume)
            if qty > 0:
                self._execute(order, price, qty)
        self._after_fill(order)

    def _execute(self, order: Order, price: Decimal, qty: int) -> None:
        """One fill chunk: Trade → Position (→ Trade → Position when crossing zero) → Order → Account → tape."""
        account = self.accounts[order.account_id]
        contract = order.contract
        key = (account.id, contract.id)
        pos = self.positions.get(key)
        current = pos.signed if pos else 0
        delta = qty if order.side == BUY else -qty
        if current == 0 or (current > 0) == (delta > 0):
            pieces = [(qty, False)]
        else:
            closing = min(qty, abs(current))
            pieces = [(closing, True)] + ([(qty - closing, False)] if qty > closing else [])
        balance_before = account.balance
        fee_rate = self.settings.fee(contract.product.root)
        for piece, closing in pieces:
            pos = self.positions.get(key)
            pnl: Decimal | None = None
            if closing and pos is not None:
                points = price - pos.average if pos.type == LONG else pos.average - price
                pnl = money(points / contract.tick_size * contract.tick_value * piece)
                pos.size -= piece
            elif pos is None:
                pos = Position(
                    self._next_position,
                    account.id,
                    contract,
                    LONG if order.side == BUY else SHORT,
                    piece,
                    price,
                )
                self._next_position += 1
                self.positions[key] = pos
            else:
                pos.average = ((pos.average * pos.size + price * piece) / (pos.size + piece)).quantize(_AVG)
                pos.size += piece
            fees = money(fee_rate * piece)
            trade = Trade(
                self._next_trade, account.id, contract, price, pnl, fees, order.side, piece, order.id
            )
            self._next_trade += 1
            self.trades[trade.id] = trade
            account.balance += (pnl or Decimal(0)) - fees
            self._emit_user("GatewayUserTrade", trade.to_wire(), account, contract.id)
            self._emit_user("GatewayUserPosition", pos.to_wire(), account, contract.id)
            if pos.size == 0:
                del self.positions[key]
        total = (order.filled_price or Decimal(0)) * order.fill_volume + price * qty
        order.fill_volume += qty
        order.filled_price = (total / order.fill_volume).quantize(_AVG).normalize()
        if order.filled_price == order.filled_price.to_integral_value():
            order.filled_price = order.filled_price.quantize(Decimal(1))
        order.updated = utcnow()
        if order.fill_volume >= order.size:
            self._finish(order, ST_FILLED)
        self._emit_order(order)
        if account.balance != balance_before:
            self._emit_account(account)
        self.market.tape(contract, price, qty, 0 if order.side == BUY else 1)

    def _finish(self, order: Order, status: int) -> None:
        order.status = status
        book = self.working.get(order.contract.id)
        if book is not None:
            book.pop(order.id, None)

    def _after_fill(self, order: Order) -> None:
        key = (order.account_id, order.contract.id)
        if order.status == ST_FILLED and order.oco_group is not None:
            for sibling in self._bracket_children(order.account_id, order.contract.id, order.oco_group):
                if sibling.id != order.id:
                    self._cancel(sibling)
        if key not in self.positions:
            for child in self._bracket_children(order.account_id, order.contract.id, None):
                self._cancel(child)
        elif order.status == ST_FILLED and (order.sl_bracket or order.tp_bracket):
            self._create_brackets(order)

    def _bracket_children(self, account_id: int, contract_id: str, group: int | None) -> list[Order]:
        book = self.working.get(contract_id, {})
        return [
            o
            for o in sorted(book.values(), key=lambda o: o.id)
            if o.account_id == account_id
            and o.oco_group is not None
            and (group is None or o.oco_group == group)
        ]

    def _create_brackets(self, entry: Order) -> None:
        assert entry.filled_price is not None
        tick = entry.contract.tick_size
        direction = 1 if entry.side == BUY else -1
        exit_side = SELL if entry.side == BUY else BUY
        for bracket, protective in ((entry.sl_bracket, True), (entry.tp_bracket, False)):
            if not bracket:
                continue
            distance = abs(int(bracket.get("ticks", 0))) * tick
            price = (
                entry.filled_price - direction * distance
                if protective
                else entry.filled_price + direction * distance
            )
            price = (price / tick).to_integral_value() * tick
            kind = int(bracket.get("type", STOP if protective else LIMIT))
            child = Order(
                self._take_order_id(), entry.account_id, entry.contract, kind, exit_side, entry.size
            )
            child.oco_group = entry.id
            if kind in (STOP, STOP_LIMIT):
                child.stop = price
                child.limit = price if kind == STOP_LIMIT else None
            elif kind == TRAILING_STOP:
                child.trail = distance
                child.stop = price
            else:
                child.type = LIMIT if kind not in (LIMIT, JOIN_BID, JOIN_ASK) else kind
                child.limit = price
            self._open(child)

    # -- cancel / modify / close -----------------------------------------------------------------------
    def _cancel(self, order: Order) -> None:
        order.updated = utcnow()
        self._finish(order, ST_CANCELLED)
        self._emit_order(order)

    def _own_order(
        self, account_id: int | None, order_id: int, user: str | None
    ) -> tuple[Order | None, Result]:
        if account_id is not None:
            account = self.accounts.get(account_id)
            if account is None or (user is not None and account.user != user):
                return None, Result(1, f"account {account_id} not found")
        order = self.orders.get(order_id)
        if order is None or (account_id is not None and order.account_id != account_id):
            return None, Result(2, f"order {order_id} not found")
        if order.status not in WORKING:
            return None, Result(3, f"order {order_id} is already final (status {order.status})")
        return order, Result()

    def cancel(self, account_id: int | None, order_id: int, user: str | None) -> Result:
        order, result = self._own_order(account_id, order_id, user)
        if order is not None:
            self._cancel(order)
        return result

    def modify(
        self,
        account_id: int | None,
        order_id: int,
        user: str | None,
        size: int | None = None,
        limit: Decimal | None = None,
        stop: Decimal | None = None,
        trail: Decimal | None = None,
    ) -> Result:
        order, result = self._own_order(account_id, order_id, user)
        if order is None:
            return result
        contract = order.contract
        if size is not None and (size < 1 or size <= order.fill_volume):
            return Result(3, f"size {size} is invalid (filled so far: {order.fill_volume})")
        for name, value in (("limitPrice", limit), ("stopPrice", stop), ("trailPrice", trail)):
            if value is not None and (value <= 0 or not contract.on_grid(value)):
                return Result(
                    3, f"{name} {value} is not on the tick grid of {contract.name} ({contract.tick_size})"
                )
        new_stop = stop if stop is not None else order.stop
        if trail is not None and order.type == TRAILING_STOP:
            q = self.market.quote_of(contract)
            new_stop = q.bid - trail if order.side == SELL else q.ask + trail
        crossed = (
            order.type in (STOP, STOP_LIMIT)
            and not order.triggered
            and stop is not None
            and self._crossed(order.side, stop, contract)
        )
        if crossed and self.settings["crossed_stop"] == "reject":
            return Result(3, f"stop {stop} is on the wrong side of the market")
        if size is not None:
            order.size = size
        if limit is not None:
            order.limit = limit
        if trail is not None:
            order.trail = trail
        order.stop = new_stop
        order.updated = utcnow()
        self._emit_order(order)
        self._check_immediate(order, crossed)
        return Result()

    def close_position(self, account_id: int, contract_id: str, size: int | None, user: str | None) -> Result:
        """``closeContract`` (size None) and ``partialCloseContract``; codes differ between the two."""
        partial = size is not None
        account = self.accounts.get(account_id)
        if account is None or (user is not None and account.user != user):
            return Result(1, f"account {account_id} not found")
        contract = self.table.by_id(contract_id)
        if contract is None:
            return Result(3, f"contract {contract_id} not found")
        if not contract.active:
            return Result(4, f"contract {contract_id} is not the active contract")
        pos = self.positions.get((account_id, contract.id))
        if pos is None:
            if self.settings["close_when_flat"] == "ok":
                return Result()
            return Result(2, f"no open position in {contract.id} on account {account_id}")
        if partial and (size is None or size < 1 or size > pos.size):
            return Result(5, f"size {size} is invalid for a position of {pos.size}")
        if not account.can_trade and self.settings["can_trade_false_blocks"] == "all":
            return Result(
                6 if partial else 5, f"account {account_id} is not allowed to trade (canTrade false)"
            )
        qty = size if size is not None else pos.size
        side = SELL if pos.type == LONG else BUY
        order = Order(self._take_order_id(), account_id, contract, MARKET, side, qty)
        self._open(order)
        self._fill(order, self._touch(order))
        return Result(0, None, order.id)

    def flatten(self, account_id: int, contract: Contract | None = None) -> list[int]:
        """The trader closes positions with market orders (scenario ``flatten``)."""
        ids = []
        for (acct, cid), pos in list(self.positions.items()):
            if acct != account_id or (contract is not None and cid != contract.id):
                continue
            side = SELL if pos.type == LONG else BUY
            req = OrderRequest(account_id, cid, MARKET, side, pos.size)
            order = Order(self._take_order_id(), account_id, pos.contract, req.type, side, pos.size)
            self._open(order)
            self._fill(order, self._touch(order))
            ids.append(order.id)
        return ids

    def void_trade(self, trade: Trade) -> None:
        account = self.accounts[trade.account_id]
        if trade.voided:
            return
        trade.voided = True
        account.balance -= (trade.pnl or Decimal(0)) - trade.fees
        self._emit_user("GatewayUserTrade", trade.to_wire(), account, trade.contract.id)
        self._emit_account(account)

    # -- queries -----------------------------------------------------------------------------------------
    def open_positions(self, account_id: int) -> list[Position]:
        return sorted((p for p in self.positions.values() if p.account_id == account_id), key=lambda p: p.id)

    def working_orders(self, account_id: int) -> list[Order]:
        return [o for o in self.orders.values() if o.account_id == account_id and o.status in WORKING]

    def orders_between(self, account_id: int, start: datetime, end: datetime | None) -> list[Order]:
        return [
            o
            for o in self.orders.values()
            if o.account_id == account_id and o.created >= start and (end is None or o.created < end)
        ]

    def trades_between(self, account_id: int, start: datetime, end: datetime | None) -> list[Trade]:
        return [
            t
            for t in self.trades.values()
            if t.account_id == account_id and t.created >= start and (end is None or t.created < end)
        ]
