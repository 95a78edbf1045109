"""Mapping between the engine's records and table rows (spec/daemon.md §6.2).

Values are snapshotted here, on the event loop, at the moment the daemon hands a record over: the
engine keeps mutating its objects, and the writer thread runs later.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from risk_manager.engine.events import ContractInfo, OrderUpdate, TradeUpdate
from risk_manager.engine.lockouts import Lockout, LockoutKind
from risk_manager.engine.state import AccountState, PositionState
from risk_manager.engine.trading_day import trading_date
from risk_manager.store.codec import dumps, loads, money, parse_ts, ts


def kind_columns(kind: LockoutKind) -> tuple[str, str]:
    """The table's (``kind``, ``clears_on``) for an engine lockout kind; ``engine_kind`` inverts it."""
    return kind.family, kind.clears_on


def engine_kind(kind: str, clears_on: str) -> LockoutKind:
    return LockoutKind.from_columns(kind, clears_on)


def day_label(acct: AccountState, at: datetime) -> str:
    s = acct.settings
    return trading_date(at, s.reset_time, s.timezone).isoformat()


def current_day(acct: AccountState, now: datetime) -> str:
    """The trading day the engine is in for this account (the one that started at ``last_reset``)."""
    return day_label(acct, acct.last_reset or now)


# ----- lockouts ------------------------------------------------------------------------------------------
def lockout_values(
    lockout: Lockout, acct: AccountState | None, observed: bool, now: datetime
) -> dict[str, Any]:
    kind, clears_on = kind_columns(lockout.kind)
    return {
        "account_id": lockout.account_id,
        "rule_id": lockout.rule,
        "scope": lockout.scope,
        "symbol": lockout.symbol,
        "kind": kind,
        "created_at": ts(lockout.created),
        "until": ts(lockout.until),
        "clears_on": clears_on,
        "trading_day": None if acct is None else day_label(acct, lockout.created),
        "reason": lockout.reason,
        "observed": int(observed),
        "active": 1,
        "engine_id": lockout.id,
        "baseline": dumps(dict(lockout.baseline)),
        "engine_kind": str(lockout.kind),
    }


def _exact_kind(row: Any) -> LockoutKind:
    """``engine_kind`` (schema 2) when present and known, else the (kind, clears_on) pair."""
    exact = row["engine_kind"] if "engine_kind" in row.keys() else None
    if exact:
        try:
            return LockoutKind(exact)
        except ValueError:
            pass
    return engine_kind(row["kind"], row["clears_on"])


def lockout_from_row(row: Any) -> Lockout:
    created = parse_ts(row["created_at"])
    assert created is not None
    return Lockout(
        id=row["engine_id"] or f"DB{row['id']}",
        account_id=row["account_id"],
        rule=row["rule_id"],
        scope=row["scope"],
        kind=_exact_kind(row),
        until=parse_ts(row["until"]),
        reason=row["reason"] or "",
        created=created,
        symbol=row["symbol"],
        baseline={str(k): int(v) for k, v in (loads(row["baseline"]) or {}).items()},
    )


# ----- trades and daily P&L ---------------------------------------------------------------------------
def trade_values(acct: AccountState, trade: TradeUpdate, symbol: str | None, now: datetime) -> dict[str, Any]:
    return {
        "trade_id": trade.trade_id,
        "account_id": trade.account_id,
        "contract_id": trade.contract_id,
        "symbol": symbol,
        "trading_day": day_label(acct, trade.created or now),
        "executed_at": ts(trade.created or now),
        "side": trade.side,
        "size": trade.size,
        "price": money(trade.price),
        "pnl": money(trade.pnl),
        "fees": money(trade.charges),  # every charge of the fill (fees + commissions)
        "voided": int(trade.voided),
        "order_id": trade.order_id,
        "received_at": ts(now),
    }


def trade_payload(row: Any) -> dict[str, Any]:
    """A stored trade in the gateway's shape, to replay through ``Engine.apply_only``."""
    return {
        "id": row["trade_id"],
        "accountId": row["account_id"],
        "contractId": row["contract_id"],
        "creationTimestamp": row["executed_at"],
        "price": row["price"],
        "profitAndLoss": row["pnl"],
        "fees": row["fees"],
        "side": row["side"],
        "size": row["size"],
        "voided": bool(row["voided"]),
        "orderId": row["order_id"],
    }


def daily_pnl_values(acct: AccountState, now: datetime) -> dict[str, Any]:
    counted = [t for t in acct.trades.values() if not t.voided]
    return {
        "account_id": acct.account_id,
        "trading_day": current_day(acct, now),
        "realized": money(acct.realized),
        "fees": money(sum((t.charges for t in counted), Decimal(0))),
        "trade_count": acct.session_trades,
        "winning": sum(1 for t in counted if t.pnl is not None and t.pnl > 0),
        "losing": sum(1 for t in counted if t.pnl is not None and t.pnl < 0),
        "max_net": money(acct.realized),
        "min_net": money(acct.realized),
        "updated_at": ts(now),
    }


def day_state_values(acct: AccountState, now: datetime) -> dict[str, Any]:
    s = acct.settings
    return {
        "account_id": acct.account_id,
        "trading_day": current_day(acct, now),
        "reset_time": s.reset_time.strftime("%H:%M"),
        "timezone": getattr(s.timezone, "key", str(s.timezone)),
        "last_reset_at": ts(acct.last_reset),
        "next_reset_at": ts(acct.next_reset),
    }


# ----- rule memory (schema 2) ------------------------------------------------------------------------------
def rule_state_rows(account_id: int, state: Mapping[str, Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """``rule_state`` rows from ``Engine.rule_state`` (one per rule)."""
    return [
        {
            "account_id": account_id,
            "rule_id": rule,
            "trading_day": data.get("day"),
            "state": dumps(dict(data)),
            "updated_at": ts(now),
        }
        for rule, data in state.items()
    ]


def eod_values(account_id: int, state: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
    """The ``eod_balances`` row of RULE-013's latest end-of-day sample, if it has one."""
    last = state.get("lastEod")
    if not last:
        return None
    return {
        "account_id": account_id,
        "trading_day": last[0],
        "net_balance": last[1],
        "floor": state.get("floor"),
        "recorded_at": ts(now),
    }


# ----- positions, orders, contracts -------------------------------------------------------------------
def position_values(account_id: int, pos: PositionState, now: datetime) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "contract_id": pos.contract_id,
        "position_id": pos.position_id,
        "type": 1 if pos.direction > 0 else 2,
        "size": pos.size,
        "average_price": money(pos.average_price),
        "opened_at": ts(pos.opened_at),
        "updated_at": ts(now),
        "confirmed_at": ts(now),
    }


def order_values(account_id: int, order: OrderUpdate, now: datetime) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "account_id": account_id,
        "contract_id": order.contract_id,
        "type": order.type,
        "side": order.side,
        "size": order.size,
        "limit_price": money(order.limit_price),
        "stop_price": money(order.stop_price),
        "status": order.status,
        "custom_tag": order.custom_tag,
        "created_at": ts(order.updated or now),
        "updated_at": ts(order.updated or now),
    }


def contract_values(info: ContractInfo, now: datetime) -> dict[str, Any]:
    return {
        "contract_id": info.contract_id,
        "symbol": info.symbol_id,
        "name": info.name,
        "description": info.description,
        "tick_size": money(info.tick_size),
        "tick_value": money(info.tick_value),
        "fetched_at": ts(now),
    }


def contract_payload(row: Any) -> dict[str, Any]:
    return {
        "id": row["contract_id"],
        "name": row["name"],
        "symbolId": row["symbol"],
        "description": row["description"],
        "tickSize": row["tick_size"],
        "tickValue": row["tick_value"],
    }


# ----- SQL helpers ---------------------------------------------------------------------------------------
def insert_sql(
    table: str, values: Mapping[str, Any], *, conflict: tuple[str, ...] = (), keep: tuple[str, ...] = ()
) -> str:
    """``INSERT ... ON CONFLICT(conflict) DO UPDATE`` every column except the key and ``keep``."""
    cols = ", ".join(values)
    marks = ", ".join(f":{c}" for c in values)
    sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
    if conflict:
        updates = ", ".join(f"{c} = excluded.{c}" for c in values if c not in conflict and c not in keep)
        sql += f" ON CONFLICT({', '.join(conflict)}) DO UPDATE SET {updates}"
    return sql
