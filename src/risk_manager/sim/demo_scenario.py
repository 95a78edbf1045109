"""The built-in ``demo`` scenario (spec/gateway.md §6.8): about four minutes of a trader breaking rules.

Paired with the demo rule set in ``risk_manager.demo.demo_config``: each block below is meant to
breach exactly one rule of it. Timings are seconds after the daemon's first subscription.
"""

from __future__ import annotations

from typing import Any

_WALK = {"every": "250ms", "sigma_ticks": 1.0, "drift_ticks": 0}


def _o(
    account: int, contract: str, side: str, size: int, type_: str = "market", **extra: Any
) -> dict[str, Any]:
    return {
        "order": {
            "account": account,
            "contract": contract,
            "type": type_,
            "side": side,
            "size": size,
            **extra,
        }
    }


DEMO: dict[str, Any] = {
    "version": 1,
    "name": "demo",
    "start": "first_subscription",
    "users": [
        {
            "userName": "demo",
            "apiKey": "demo-key",
            "accounts": [
                {"id": 1001, "name": "50KTC-V2-1001", "balance": 50000, "canTrade": True, "simulated": True},
                {"id": 1002, "name": "50KTC-V2-1002", "balance": 50000, "canTrade": True, "simulated": True},
            ],
        }
    ],
    "market": {
        "MNQ": {"bid": 24500.00, "ask": 24500.25, "walk": dict(_WALK)},
        "MES": {"bid": 6700.00, "ask": 6700.25, "walk": dict(_WALK)},
        "CL": {"bid": 60.00, "ask": 60.01, "walk": dict(_WALK)},
    },
    "steps": [
        {"at": 4, "say": "1001 buys 2 MNQ and protects them with a stop (compliant)"},
        {"at": 5, **_o(1001, "MNQ", "buy", 2, label="entry")},
        {"at": 7, **_o(1001, "MNQ", "sell", 2, "stop", stopOffsetTicks=40, label="sl")},
        {"at": 19, "say": "1001 buys 4 more MNQ: 6 held, the limit is 4"},
        {"at": 20, **_o(1001, "MNQ", "buy", 4)},
        {"at": 34, "say": "1001 buys 1 CL, a blocked symbol"},
        {"at": 35, **_o(1001, "CL", "buy", 1)},
        {"at": 49, "say": "1002 buys 1 MES without a stop loss (20 s grace)"},
        {"at": 50, **_o(1002, "MES", "buy", 1)},
        {"at": 79, "say": "1002 starts scalping MES: 8 round trips in 28 s (limit 10 trades a minute)"},
        {"at": 80, **_o(1002, "MES", "buy", 1), "repeat": 8, "every": 3.5},
        {"at": 82, "flatten": {"account": 1002, "contract": "MES"}, "repeat": 8, "every": 3.5},
        {"at": 119, "say": "1001 flattens, then buys 3 MNQ with a far stop; MNQ falls 200 ticks"},
        {"at": 120, "flatten": {"account": 1001}},
        {"at": 120, "cancel": {"account": 1001, "all": True}},
        {"at": 125, **_o(1001, "MNQ", "buy", 3)},
        {"at": 126, **_o(1001, "MNQ", "sell", 3, "stop", stopOffsetTicks=300, label="far-sl")},
        {"at": 130, "move": {"contract": "MNQ", "ticks": -200, "over": "10s"}},
        {"at": 149, "say": "1001 tries again: 3 MNQ, stop 400 ticks away; MNQ falls 300 ticks"},
        {"at": 150, "cancel": {"account": 1001, "all": True}},
        {"at": 151, **_o(1001, "MNQ", "buy", 3)},
        {"at": 152, **_o(1001, "MNQ", "sell", 3, "stop", stopOffsetTicks=400, label="far-sl-2")},
        {"at": 155, "move": {"contract": "MNQ", "ticks": -300, "over": "10s"}},
        {"at": 174, "say": "1001 buys 1 MNQ while locked out"},
        {"at": 175, **_o(1001, "MNQ", "buy", 1)},
        {"at": 189, "say": "1002 buys 1 MES; the broker then restricts the account (canTrade false)"},
        {"at": 190, **_o(1002, "MES", "buy", 1)},
        {"at": 200, "can_trade": {"account": 1002, "value": False}},
        {"at": 230, "can_trade": {"account": 1002, "value": True}},
        {"at": 240, "say": "script finished; the market keeps moving"},
        {"at": 240, "end": {}},
    ],
}
