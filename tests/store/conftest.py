"""Fixtures for the store tests: real SQLite files in tmp_path and a real engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from risk_manager.config.loader import AppConfig
from risk_manager.config.models import RULE_KEYS
from risk_manager.engine import Engine

GATEWAY = {
    "environment": "custom",
    "api_url": "http://127.0.0.1:1",
    "user_hub_url": "http://127.0.0.1:1/hubs/user",
    "market_hub_url": "http://127.0.0.1:1/hubs/market",
}
MNQ = {"id": "CON.F.US.MNQ.Z25", "name": "MNQZ5", "symbolId": "F.US.MNQ", "tickSize": 0.25, "tickValue": 0.5}
T0 = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)  # Tuesday 10:00 Chicago
ACCOUNT = 123


def make_config(enabled: dict[str, dict[str, Any]]) -> AppConfig:
    rules: dict[str, Any] = {key: {"enabled": False} for key in RULE_KEYS}
    for key, block in enabled.items():
        rules[key] = {"enabled": True, **block}
    return AppConfig.from_dicts(
        {"version": 1, "rules": rules},
        {
            "version": 1,
            "gateway": GATEWAY,
            "logins": [
                {"name": "main", "user_name": "t@example.com", "accounts": [{"id": ACCOUNT, "name": "A"}]}
            ],
        },
    )


def make_engine() -> Engine:
    cfg = make_config(
        {
            "daily_realized_loss": {"loss_limit": 500},
            "trade_frequency_limit": {"per_minute": None, "per_hour": None, "per_session": {"limit": 50}},
        }
    )
    engine = Engine.from_config(cfg)
    engine.evaluate("Contract", MNQ, T0)
    return engine


def trade(trade_id: int, pnl: float | None, at: datetime, *, fees: float = 0.74) -> dict[str, Any]:
    return {
        "id": trade_id,
        "accountId": ACCOUNT,
        "contractId": MNQ["id"],
        "creationTimestamp": at.isoformat(),
        "price": 24500.25,
        "profitAndLoss": pnl,
        "fees": fees,
        "side": 1,
        "size": 1,
        "voided": False,
        "orderId": 9000 + trade_id,
    }


class Clock:
    """A settable clock for ``Persistence`` (the engine gets explicit times)."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine_factory() -> Callable[[], Engine]:
    return make_engine
