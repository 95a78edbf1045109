"""Read-only views of the engine state in the local API's shapes (daemon.md §9.2-§9.3).

Pure functions: the daemon's provider calls them for snapshots and pushes. Money goes out as decimal
strings, times as UTC ISO-8601 with Z.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from risk_manager.engine import Engine
from risk_manager.engine.actions import iso
from risk_manager.engine.context import RuleContext
from risk_manager.engine.lockouts import Lockout
from risk_manager.engine.money import CENT, fmt_money, fmt_price
from risk_manager.engine.state import AccountState, PositionState
from risk_manager.engine.stops import STOP_TAG_PREFIX
from risk_manager.engine.trading_day import trading_date


def money(value: Decimal | None) -> str | None:
    """Cents for display (half-even); decisions use the exact value, never this string."""
    return None if value is None else fmt_money(value.quantize(CENT, rounding=ROUND_HALF_EVEN))


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


def trade_view(trade: Any) -> dict[str, Any]:
    return {
        "tradeId": trade.trade_id,
        "contractId": trade.contract_id,
        "side": trade.side,
        "size": trade.size,
        "price": None if trade.price is None else str(trade.price),
        "pnl": money(trade.pnl),
        "fees": money(trade.fees),
        "executedAt": iso(trade.created),
        "voided": trade.voided,
    }


def lockout_view(record: Lockout, *, observed: bool = False) -> dict[str, Any]:
    clears = {
        "until_reset": "reset",
        "until_session_start": "time",
        "cooldown": "time",
        "indefinite": "condition",
        "permanent": "admin",
    }[record.kind]
    return {
        "lockoutId": record.id,
        "ruleId": record.rule,
        "scope": record.scope,
        "symbol": record.symbol,
        "kind": "cooldown" if record.kind == "cooldown" else "hard",
        "lockoutKind": record.kind,
        "createdAt": iso(record.created),
        "until": iso(record.until),
        "clearsOn": clears,
        "reason": record.reason,
        "observed": observed,
    }


def pnl_view(engine: Engine, acct: AccountState, now: datetime) -> dict[str, Any]:
    ctx = RuleContext(engine.state, acct, now)
    unrealized = ctx.total_unrealized()
    fees = sum((t.fees for t in acct.trades.values() if not t.voided), Decimal(0))
    return {
        "realized": money(acct.realized),
        "unrealized": money(unrealized),
        "net": money(acct.realized + unrealized),
        "fees": money(fees),
        "tradeCount": acct.session_trades,
    }


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
    return {
        "accountId": s.account_id,
        "name": acct.name or s.name,
        "nickname": s.name,
        "login": login,
        "mode": "observe" if s.observe_only else "enforce",
        "protection": protection,
        "canTrade": acct.can_trade,
        "balance": money(acct.balance),
        "tradingDay": trading_date(now, s.reset_time, s.timezone).isoformat(),
        "nextResetAt": iso(acct.next_reset),
        "timezone": s.timezone.key,
        "resetTime": s.reset_time.strftime("%H:%M"),
        "pnl": pnl_view(engine, acct, now),
        "positions": [position_view(engine, acct, p, now) for p in acct.positions.values()],
        "orders": [order_view(o) for o in acct.orders.values()],
        "trades": [trade_view(t) for t in sorted(acct.trades.values(), key=lambda t: t.trade_id)],
        "rules": rules or [],
        "lockouts": [lockout_view(r, observed=s.observe_only) for r in acct.lockouts],
        "lockoutHistory": [],
        "enforcement": enforcement or [],
        "connection": connection,
    }
