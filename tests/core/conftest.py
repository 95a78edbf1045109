"""Helpers for the engine-internals tests (fast path, parsing, replay plumbing)."""

from __future__ import annotations

from datetime import UTC, datetime
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

CONTRACTS = {
    "MNQ": {
        "id": "CON.F.US.MNQ.Z25",
        "name": "MNQZ5",
        "symbolId": "F.US.MNQ",
        "tickSize": 0.25,
        "tickValue": 0.5,
    },
    "ES": {
        "id": "CON.F.US.EP.Z25",
        "name": "ESZ5",
        "symbolId": "F.US.EP",
        "tickSize": 0.25,
        "tickValue": 12.5,
    },
    "RTY": {
        "id": "CON.F.US.RTY.Z25",
        "name": "RTYZ5",
        "symbolId": "F.US.RTY",
        "tickSize": 0.1,
        "tickValue": 5.0,
    },
    "CL": {
        "id": "CON.F.US.CLE.F26",
        "name": "CLF6",
        "symbolId": "F.US.CLE",
        "tickSize": 0.01,
        "tickValue": 10.0,
    },
}

T0 = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)  # Tuesday 10:00 Chicago


def config(enabled: dict[str, dict[str, Any]], accounts: list[dict[str, Any]] | None = None) -> AppConfig:
    rules: dict[str, Any] = {key: {"enabled": False} for key in RULE_KEYS}
    for key, block in enabled.items():
        rules[key] = {"enabled": True, **block}
    accounts = accounts or [{"id": 123, "name": "A"}]
    return AppConfig.from_dicts(
        {"version": 1, "rules": rules},
        {
            "version": 1,
            "gateway": GATEWAY,
            "logins": [{"name": "main", "user_name": "t@example.com", "accounts": accounts}],
        },
    )


def engine_with_contracts(cfg: AppConfig, now: datetime = T0) -> Engine:
    engine = Engine.from_config(cfg)
    for c in CONTRACTS.values():
        engine.evaluate("Contract", c, now)
    return engine


def position(
    cid: str, size: int, avg: float, *, typ: int = 1, account: int = 123, at: datetime = T0
) -> dict[str, Any]:
    return {
        "id": 1,
        "accountId": account,
        "contractId": cid,
        "creationTimestamp": at.isoformat(),
        "type": typ,
        "size": size,
        "averagePrice": avg,
    }


@pytest.fixture
def t0() -> datetime:
    return T0
