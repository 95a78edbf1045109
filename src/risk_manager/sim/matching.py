"""Orders, positions, trades and P&L (spec/gateway.md §6.4): the broker's truth inside the simulator.

Everything here is synchronous and deterministic; every state change publishes its user-hub events in
the order §6.4 prescribes through ``emit``, so an execution's events are already queued when the REST
handler that caused it returns. The one deferred step is the end of a pending cancellation
(``pending_cancel_ms``), run through the ``scheduler`` the simulator installs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from risk_manager.sim.brackets import Brackets
from risk_manager.sim.contracts import Contract, ContractTable
from risk_manager.sim.events import Emit, Event
from risk_manager.sim.market import Market
from risk_manager.sim.records import Account, Order, OrderRequest, Position, Result, Trade
from risk_manager.sim.settings import Settings
from risk_manager.sim.wire import (
    BUY,
    JOIN_ASK,
    JOIN_BID,
    LIMIT,
    LISTED_OPEN,
    LIVE,
    LONG,
    MARKET,
    SELL,
    SHORT,
    ST_CANCELLED,
    ST_FILLED,
    ST_OPEN,
    ST_PENDING,
    ST_PENDING_CANCEL,
    ST_SUSPENDED,
    STOP,
    STOP_LIMIT,
    TRAILING_STOP,
    WORKING,
    money,
    utcnow,
)

_AVG = Decimal("0.000000001")
MAX_TRAIL_TICKS = 1000  # the live gateway's limit on a trailing distance (topstep-sdk, verified live)
FIRST_ORDER_ID, FIRST_TRADE_ID, FIRST_POSITION_ID = 10000001, 20000001, 30000001


class Broker(Brackets):
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
        # runs ``callback`` after ``delay_s`` (set by the simulator; None: no loop, finish at once)
        self.scheduler: Callable[[float, Callable[[], None]], object] | None = None
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
            stop, trail, problem = self._trail(req.side, trail, contract)
            if problem:
                return Result(2, problem)
        crossed = (
            req.type in (STOP, STOP_LIMIT, TRAILING_STOP)
            and stop is not None
            and self._crossed(req.side, stop, contract)
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
        if order.sl_bracket or order.tp_bracket:
            self.suspend_children(order)
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

    def _trail(self, side: int, trail: Decimal, contract: Contract) -> tuple[Decimal, Decimal, str | None]:
        """(initial stop, trailing distance, problem) of a trailing stop's ``trailPrice``.

        Setting ``trail_price``: ``anchor`` (default) reads it as the absolute stop price the order
        starts at, ``distance`` as the distance from the market; either way the distance must be
        between one tick and 1000 ticks."""
        q = self.market.quote_of(contract)
        ref = q.bid if side == SELL else q.ask
        if self.settings["trail_price"] == "anchor":
            stop, distance = trail, abs(ref - trail)
        else:
            distance = trail
            stop = ref - trail if side == SELL else ref + trail
        limit = MAX_TRAIL_TICKS * contract.tick_size
        if not contract.tick_size <= distance <= limit:
            return stop, distance, (
                f"trailing distance {distance} is outside 1 to {MAX_TRAIL_TICKS} ticks of {contract.name}"
            )
        return stop, distance, None

    def _crossed(self, side: int, stop: Decimal, contract: Contract) -> bool:
        q = self.market.quote_of(contract)
        return stop <= q.ask if side == BUY else stop >= q.bid

    def _take_order_id(self) -> int:
        self._next_order += 1
        return self._next_order - 1

    def _open(self, order: Order, suspended: bool = False) -> None:
        self.orders[order.id] = order
        self.working.setdefault(order.contract.id, {})[order.id] = order
        if suspended:
            order.status = ST_SUSPENDED
        elif self.settings["order_pending_event"]:
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
        if order.status not in LIVE:
            return
        if order.type == MARKET:
            self._fill(order, self._touch(order))
        elif order.type in (LIMIT, JOIN_BID, JOIN_ASK):
            if self._marketable(order):
                self._fill(order, self._touch(order))
        elif order.type in (STOP, TRAILING_STOP) and crossed:
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
            if order is None or order.status not in LIVE:
                continue  # cancelled meanwhile (OCO sibling, flat position), or a suspended child
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
        commission_rate = self.settings.commission(contract.product.root)
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
            trade.commissions = None if commission_rate is None else money(commission_rate * piece)
            self._next_trade += 1
            self.trades[trade.id] = trade
            account.balance += (pnl or Decimal(0)) - trade.charges
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
        if order.status == ST_FILLED and order.oco_group is not None:  # OCO: the sibling goes
            self.cancel_children(o for o in self.children_of(order.oco_group) if o.id != order.id)
        if key not in self.positions:
            self.cancel_children(self.live_children(order.account_id, order.contract.id))
            if order.status == ST_FILLED:  # an entry that only flattened: nothing to protect
                self.cancel_children(self.children_of(order.id))
        elif order.status == ST_FILLED and (order.sl_bracket or order.tp_bracket):
            self.activate_children(order)

    # -- cancel / modify / close -----------------------------------------------------------------------
    def _cancel(self, order: Order, requested: bool = False) -> None:
        """Cancel a working order: status 7 (PendingCancellation, setting ``order_pending_cancel_event``)
        and then 3. A requested cancel (REST, trader) stays pending ``pending_cancel_ms``; meanwhile the
        order is still in the book and may fill, as a live order may while its cancel is in flight."""
        if self.settings["order_pending_cancel_event"] and order.status != ST_PENDING_CANCEL:
            order.status = ST_PENDING_CANCEL
            order.updated = utcnow()
            self._emit_order(order)
            delay = float(self.settings["pending_cancel_ms"]) / 1000 if requested else 0.0
            if delay > 0 and self.scheduler is not None:
                self.scheduler(delay, lambda: self._complete_cancel(order))
                return
        self._complete_cancel(order)

    def _complete_cancel(self, order: Order) -> None:
        if self.orders.get(order.id) is not order or order.status not in WORKING:
            return  # filled while the cancel was pending, or the simulator was reset
        order.updated = utcnow()
        self._finish(order, ST_CANCELLED)
        self._emit_order(order)
        self.cancel_children(self.children_of(order.id))  # an entry takes its suspended brackets along

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
        if order.status == ST_PENDING_CANCEL:
            return None, Result(4, f"order {order_id} is pending cancellation")
        return order, Result()

    def cancel(self, account_id: int | None, order_id: int, user: str | None) -> Result:
        order, result = self._own_order(account_id, order_id, user)
        if order is not None:
            self._cancel(order, requested=True)
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
            new_stop, trail, problem = self._trail(order.side, trail, contract)
            if problem:
                return Result(3, problem)
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
        account.balance -= (trade.pnl or Decimal(0)) - trade.charges
        self._emit_user("GatewayUserTrade", trade.to_wire(), account, trade.contract.id)
        self._emit_account(account)

    # -- queries -----------------------------------------------------------------------------------------
    def open_positions(self, account_id: int) -> list[Position]:
        return sorted((p for p in self.positions.values() if p.account_id == account_id), key=lambda p: p.id)

    def working_orders(self, account_id: int) -> list[Order]:
        """``Order/searchOpen``: Open, Pending and PendingCancellation; suspended children are left out."""
        return [o for o in self.orders.values() if o.account_id == account_id and o.status in LISTED_OPEN]

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
