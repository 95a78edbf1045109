"""Helpers for the rule-engine tests: broker-shaped payloads and a replay-driven session.

The configuration helper and the contract table are shared with ``tests/core``; what is added here
is a ``Session`` that feeds events through the real replay runner (its 1-second tick grid included)
while keeping the engine reachable for state checks, and builders for each broker payload.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from risk_manager.config.loader import AppConfig
from risk_manager.engine import Engine
from risk_manager.replay.runner import Replayer
from tests.core.conftest import CONTRACTS, GATEWAY, RULE_KEYS, T0, engine_with_contracts, position

__all__ = [
    "CONTRACTS",
    "ES",
    "MNQ",
    "RTY",
    "RULE_KEYS",
    "T0",
    "Session",
    "account_event",
    "config",
    "ct",
    "engine_with_contracts",
    "order",
    "position",
    "quote",
    "trade",
    "utc",
    "z",
]

MNQ = CONTRACTS["MNQ"]["id"]
ES = CONTRACTS["ES"]["id"]
RTY = CONTRACTS["RTY"]["id"]
ACCOUNT = 123


def config(
    enabled: dict[str, dict[str, Any]],
    accounts: list[dict[str, Any]] | None = None,
    *,
    holidays: list[Any] | None = None,
    global_: dict[str, Any] | None = None,
) -> AppConfig:
    """Every rule disabled except the ones given (as tests/core does), plus holidays and globals."""
    rules: dict[str, Any] = {key: {"enabled": False} for key in RULE_KEYS}
    for key, block in enabled.items():
        rules[key] = {"enabled": True, **block}
    risk: dict[str, Any] = {"version": 1, "rules": rules}
    if global_:
        risk["global"] = global_
    return AppConfig.from_dicts(
        risk,
        {
            "version": 1,
            "gateway": GATEWAY,
            "logins": [
                {
                    "name": "main",
                    "user_name": "t@example.com",
                    "accounts": accounts or [{"id": 123, "name": "A"}],
                }
            ],
        },
        {"version": 1, "holidays": holidays} if holidays is not None else None,
    )


def z(ts: datetime) -> str:
    """UTC ISO-8601 with a Z, as the replay output writes it."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def ct(*args: int) -> datetime:
    """A Chicago wall-clock time as an aware datetime (compare with UTC instants directly)."""
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo("America/Chicago"))  # type: ignore[misc]


def trade(
    i: int,
    pnl: float | None,
    at: datetime = T0,
    *,
    cid: str = MNQ,
    account: int = ACCOUNT,
    fees: float = 0.0,
    side: int = 1,
    size: int = 1,
    voided: bool = False,
) -> dict[str, Any]:
    return {
        "id": i,
        "accountId": account,
        "contractId": cid,
        "creationTimestamp": z(at),
        "price": 21000.0,
        "profitAndLoss": pnl,
        "fees": fees,
        "side": side,
        "size": size,
        "voided": voided,
        "orderId": 1000 + i,
    }


def order(
    i: int,
    cid: str,
    *,
    side: int,
    size: int = 1,
    otype: int = 4,
    status: int = 1,
    stop: float | None = None,
    limit: float | None = None,
    at: datetime = T0,
    account: int = ACCOUNT,
) -> dict[str, Any]:
    return {
        "id": i,
        "accountId": account,
        "contractId": cid,
        "symbolId": "F.US.X",
        "creationTimestamp": z(at),
        "updateTimestamp": z(at),
        "status": status,
        "type": otype,
        "side": side,
        "size": size,
        "limitPrice": limit,
        "stopPrice": stop,
        "trailPrice": None,
        "fillVolume": 0,
        "filledPrice": None,
        "customTag": None,
    }


def quote(cid: str, last: float | None, at: datetime = T0) -> dict[str, Any]:
    return {"contractId": cid, "lastPrice": last, "bestBid": None, "bestAsk": None, "timestamp": z(at)}


def account_event(can_trade: bool | None, account: int = ACCOUNT) -> dict[str, Any]:
    """Wrapped as the user hub sends it: ``{"action": 1, "data": {...}}``."""
    data: dict[str, Any] = {
        "id": account,
        "name": "A",
        "balance": 50000.0,
        "isVisible": True,
        "simulated": True,
    }
    if can_trade is not None:
        data["canTrade"] = can_trade
    return {"action": 1, "data": data}


def pos(
    cid: str, size: int, avg: float, at: datetime, *, short: bool = False, account: int = ACCOUNT
) -> dict[str, Any]:
    """A ``GatewayUserPosition`` payload opened at ``at`` (wrapped, as the hub may send it)."""
    return {"action": 1, "data": position(cid, size, avg, typ=2 if short else 1, account=account, at=at)}


class Session:
    """A recorded session played through ``Replayer`` line by line; ``feed`` returns action dicts.

    Contract details for MNQ, ES and RTY are loaded at ``start`` (as a replay file does first).
    """

    def __init__(self, cfg: AppConfig, start: datetime = T0) -> None:
        self.engine = Engine.from_config(cfg)
        self.replayer = Replayer(self.engine)
        self.log: list[dict[str, Any]] = []
        for c in CONTRACTS.values():
            self.feed(start, "Contract", c)

    def feed(self, at: datetime, event: str, data: Any = None) -> list[dict[str, Any]]:
        line = {"at": z(at), "event": event, "data": data if data is not None else {}}
        out = [a.to_dict() for a in self.replayer.feed(line)]
        self.log += out
        return out

    def tick(self, at: datetime) -> list[dict[str, Any]]:
        return self.feed(at, "Tick")


def enforcement(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Everything but the informational 80/90 % warnings."""
    return [a for a in actions if a["action"] != "warn"]


def shape(actions: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(rule, action, contractId or orderId) per action, warnings left out."""
    return [(a["rule"], a["action"], a.get("orderId", a.get("contractId"))) for a in enforcement(actions)]
