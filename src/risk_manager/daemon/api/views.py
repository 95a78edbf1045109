"""Read-only views of the engine state in the local API's shapes (spec/daemon.md §9.2-§9.3).

Pure functions: the daemon's provider calls them for snapshots and pushes. Money goes out as decimal
strings, times as UTC ISO-8601 with Z. A snapshot never fails as a whole because of one value: money
formatting never raises, and each part of an account (P&L, every position, order, trade, lockout) is
built on its own; a part that cannot be built is sent in a reduced form (its identity, the rest
null) and logged once, instead of closing every new dashboard connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from risk_manager.engine import Engine
from risk_manager.engine.context import RuleContext
from risk_manager.engine.lockouts import Lockout
from risk_manager.engine.money import fmt_cents, fmt_price
from risk_manager.engine.state import AccountState, PositionState
from risk_manager.engine.stops import STOP_TAG_PREFIX
from risk_manager.engine.timefmt import iso
from risk_manager.engine.trading_day import trading_date

log = logging.getLogger("risk_manager.daemon.api")
_reported: set[str] = set()  # parts whose failure was logged already (once per kind of part)
T = TypeVar("T")
Item = TypeVar("Item")


def money(value: Decimal | None) -> str | None:
    """Cents for display (half-even); decisions use the exact value, never this string. Never raises."""
    return None if value is None else fmt_cents(value)


def _part(what: str, build: Callable[[], T], reduced: Callable[[], T]) -> T:
    """``build()``, or the reduced form when it raises (logged once per kind of part)."""
    try:
        return build()
    except Exception:
        if what not in _reported:
            _reported.add(what)
            log.exception("snapshot: a %s could not be built; it is sent in reduced form", what)
        return reduced()


def _each(
    what: str,
    items: Iterable[Item],
    build: Callable[[Item], dict[str, Any]],
    reduced: Callable[[Item], dict[str, Any]],
) -> list[dict[str, Any]]:
    return [_part(what, partial(build, item), partial(reduced, item)) for item in items]


def position_view(engine: Engine, acct: AccountState, pos: PositionState, now: datetime) -> dict[str, Any]:
    ctx = RuleContext(engine.state, acct, now)
    info = engine.state.contracts.get(pos.contract_id)
    return {
        "contractId": pos.contract_id,
        "symbol": ctx.symbol(pos.contract_id),
        "type": 1 if pos.direction > 0 else 2,
        "size": pos.size,
        "averagePrice": fmt_price(pos.average_price, info.tick_size if info else None),
        "unrealized": money(ctx.unrealized(pos)),
        "openedAt": iso(pos.opened_at),
    }


def _reduced_pos(pos: PositionState) -> dict[str, Any]:
    return {
        "contractId": pos.contract_id,
        "symbol": pos.contract_id,
        "type": 1 if pos.direction > 0 else 2,
        "size": pos.size,
        "averagePrice": None,
        "unrealized": None,
        "openedAt": None,
    }


def closed_position_view(contract_id: str, symbol: str) -> dict[str, Any]:
    return {
        "contractId": contract_id,
        "symbol": symbol,
        "type": 0,
        "size": 0,
        "averagePrice": None,
        "unrealized": None,
    }


def order_view(order: Any) -> dict[str, Any]:
    return {
        "orderId": order.order_id,
        "contractId": order.contract_id,
        "type": order.type,
        "side": order.side,
        "size": order.size,
        "limitPrice": None if order.limit_price is None else str(order.limit_price),
        "stopPrice": None if order.stop_price is None else str(order.stop_price),
        "status": order.status,
        "placedByRiskManager": (order.custom_tag or "").startswith(STOP_TAG_PREFIX),
    }


def _reduced_order(order: Any) -> dict[str, Any]:
    keys = ("orderId", "contractId", "type", "side", "size", "limitPrice", "stopPrice", "status")
    return dict.fromkeys(keys) | {"orderId": order.order_id, "placedByRiskManager": False}


def trade_view(trade: Any) -> dict[str, Any]:
    return {
        "tradeId": trade.trade_id,
        "contractId": trade.contract_id,
        "side": trade.side,
        "size": trade.size,
        "price": None if trade.price is None else str(trade.price),
        "pnl": money(trade.pnl),
        "fees": money(trade.charges),  # every charge of the fill (fees + commissions)
        "executedAt": iso(trade.created),
        "voided": trade.voided,
    }




def lockout_view(record: Lockout, *, observed: bool = False) -> dict[str, Any]:
    return {
        "lockoutId": record.id,
        "ruleId": record.rule,
        "scope": record.scope,
        "symbol": record.symbol,
        "kind": record.kind.family,
        "lockoutKind": str(record.kind),
        "createdAt": iso(record.created),
        "until": iso(record.until),
        "clearsOn": record.kind.clears_on,
        "reason": record.reason,
        "observed": observed,
    }


def _reduced_lock(record: Lockout) -> dict[str, Any]:
    keys = ("scope", "symbol", "kind", "lockoutKind", "createdAt", "until", "clearsOn", "reason")
    return dict.fromkeys(keys) | {"lockoutId": record.id, "ruleId": record.rule, "observed": False}


def pnl_view(engine: Engine, acct: AccountState, now: datetime) -> dict[str, Any]:
    ctx = RuleContext(engine.state, acct, now)
    unrealized = ctx.total_unrealized()
    fees = sum((t.charges for t in acct.trades.values() if not t.voided), Decimal(0))
    return {
        "realized": money(acct.realized),
        "unrealized": money(unrealized),
        "net": money(acct.realized + unrealized),
        "fees": money(fees),
        "tradeCount": acct.session_trades,
    }


def _trading_day(acct: AccountState, now: datetime) -> str:
    s = acct.settings
    return trading_date(now, s.reset_time, s.timezone).isoformat()


def _reduced_pnl(acct: AccountState) -> dict[str, Any]:
    return dict.fromkeys(("realized", "unrealized", "net", "fees")) | {"tradeCount": acct.session_trades}


def account_view(
    engine: Engine,
    acct: AccountState,
    now: datetime,
    *,
    login: str,
    protection: str,
    connection: dict[str, Any],
    enforcement: list[dict[str, Any]] | None = None,
    rules: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    s = acct.settings
    observed = s.observe_only
    pos_view = partial(position_view, engine, acct, now=now)
    return {
        "accountId": s.account_id,
        "name": acct.name or s.name,
        "nickname": s.name,
        "login": login,
        "mode": "observe" if s.observe_only else "enforce",
        "protection": protection,
        "canTrade": acct.can_trade,
        "balance": money(acct.balance),
        "tradingDay": _part("trading day", lambda: _trading_day(acct, now), lambda: None),
        "nextResetAt": iso(acct.next_reset),
        "timezone": s.timezone.key,
        "resetTime": s.reset_time.strftime("%H:%M"),
        "pnl": _part("P&L", lambda: pnl_view(engine, acct, now), lambda: _reduced_pnl(acct)),
        "drawdown": drawdown_of(engine, acct, now),
        "positions": _each("position", acct.positions.values(), pos_view, _reduced_pos),
        "orders": _each("order", acct.orders.values(), order_view, _reduced_order),
        # Today's trades are paged with ``history.trades`` (docs/local-api.md): a day of trades in every
        # snapshot made each one grow with the day. The key stays (always empty) for v1 clients;
        # ``pnl.tradeCount`` says how many there are.
        "trades": [],
        "rules": rules or [],
        "lockouts": _each("lockout", acct.lockouts, partial(lockout_view, observed=observed), _reduced_lock),
        "ruleErrors": acct.rule_errors,
        "lockoutHistory": [],
        "enforcement": enforcement or [],
        "connection": connection,
    }


def drawdown_of(engine: Engine, acct: AccountState, now: datetime) -> dict[str, Any] | None:
    """RULE-013's distance to the floor (``Engine.drawdown``, docs/rules-extra.md §1); null when the
    rule is off or no balance was seen yet, and when it cannot be built (logged once)."""
    account_id = acct.settings.account_id
    return _part("drawdown", lambda: engine.drawdown(account_id, now), lambda: None)


def account_summary_view(engine: Engine, acct: AccountState, now: datetime) -> dict[str, Any]:
    """The ``account`` push: P&L, balance, ``canTrade`` and RULE-013's ``drawdown``."""
    data = pnl_view(engine, acct, now)
    data.update(
        {"balance": money(acct.balance), "canTrade": acct.can_trade, "drawdown": drawdown_of(engine, acct, now)}
    )
    return data


def lockout_cleared_view(record: Lockout, at: datetime, cleared_by: str, reason: str | None) -> dict[str, Any]:
    return {
        "lockoutId": record.id,
        "ruleId": record.rule,
        "clearedAt": iso(at),
        "clearedBy": cleared_by,
        "reason": reason,
    }
