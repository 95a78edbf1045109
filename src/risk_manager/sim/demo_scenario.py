"""The built-in ``demo`` scenario (spec/gateway.md §6.8): about five minutes of a trader breaking rules.

The story is told on account 1001 (the one the demo's dashboard opens first): a compliant entry, a
max-contracts reduction, a blocked symbol, a missing stop with its grace countdown, a scalping burst
that takes trade frequency through yellow and red into a cooldown (a lockout with a countdown), a
broker hub outage (NOT PROTECTED, then recovery), and a daily loss that approaches its limit (yellow,
then red) and breaks it (locked until the daily reset). All along the net balance comes closer to the
trailing drawdown floor (RULE-013); on the last slide its ladder reaches the reduce-only rung (EXITS
ONLY) a few seconds before the daily loss locks the account. Account 1002 ends with a broker
restriction.

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
        {"at": 19, "say": "1001 buys 4 more MNQ: 6 held, the limit is 4 -> the risk manager reduces"},
        {"at": 20, **_o(1001, "MNQ", "buy", 4)},
        {"at": 34, "say": "1001 buys 1 CL, a blocked symbol -> closed and CL locked"},
        {"at": 35, **_o(1001, "CL", "buy", 1)},
        {"at": 49, "say": "1001 buys 1 MES without a stop loss: 20 s grace (see Positions), then it is closed"},
        {"at": 50, **_o(1001, "MES", "buy", 1)},
        {"at": 79, "say": "1001 scalps MES: trade frequency climbs to 10 a minute (Rules: yellow, red, then a cooldown)"},
        {"at": 80, **_o(1001, "MES", "buy", 1), "repeat": 6, "every": 3.5},
        {"at": 82, "flatten": {"account": 1001, "contract": "MES"}, "repeat": 6, "every": 3.5},
        {"at": 109, "say": "The broker connection drops for 15 s (hub outage): NOT PROTECTED until it is back"},
        {"at": 110, "fault": {"kind": "hub_outage", "duration_s": 15}},
        {"at": 169, "say": "Cooldown over. 1001 buys 3 MNQ with a far stop; MNQ falls 200 ticks (unrealized limit $250)"},
        {"at": 170, "flatten": {"account": 1001}},
        {"at": 170, "cancel": {"account": 1001, "all": True}},
        {"at": 173, **_o(1001, "MNQ", "buy", 3)},
        {"at": 174, **_o(1001, "MNQ", "sell", 3, "stop", stopOffsetTicks=300, label="far-sl")},
        {"at": 176, "move": {"contract": "MNQ", "ticks": -200, "over": "10s"}},
        {"at": 194, "say": "1001 loses about $60 more on 2 MNQ (daily loss limit $400)"},
        {"at": 194, "cancel": {"account": 1001, "all": True}},
        {"at": 195, **_o(1001, "MNQ", "buy", 2)},
        {"at": 196, "move": {"contract": "MNQ", "ticks": -60, "over": "3s"}},
        {"at": 201, "flatten": {"account": 1001}},
        {"at": 209, "say": "... and about $60 more: the daily loss is past 90 % of its limit"},
        {"at": 210, **_o(1001, "MNQ", "buy", 2)},
        {"at": 211, "move": {"contract": "MNQ", "ticks": -60, "over": "3s"}},
        {"at": 216, "flatten": {"account": 1001}},
        {"at": 224, "say": "1001 tries once more: 3 MNQ, stop 400 ticks away; MNQ slides 300 ticks over 25 s"},
        {"at": 225, **_o(1001, "MNQ", "buy", 3)},
        {"at": 226, **_o(1001, "MNQ", "sell", 3, "stop", stopOffsetTicks=400, label="far-sl-2")},
        {"at": 228, "move": {"contract": "MNQ", "ticks": -300, "over": "25s"}},
        {"at": 233, "say": "Net balance within $500 of the drawdown floor: reduce-only rung, EXITS ONLY (closing allowed)"},
        {"at": 242, "say": "... the unrealized-loss limit closes MNQ: the daily loss breaks its limit -> locked"},
        {"at": 249, "say": "1001 buys 1 MNQ while locked out -> closed at once"},
        {"at": 250, **_o(1001, "MNQ", "buy", 1)},
        {"at": 259, "say": "1002 buys 1 MES; the broker then restricts the account (canTrade false)"},
        {"at": 260, **_o(1002, "MES", "buy", 1)},
        {"at": 265, "can_trade": {"account": 1002, "value": False}},
        {"at": 285, "can_trade": {"account": 1002, "value": True}},
        {"at": 295, "say": "script finished; the market keeps moving (Ctrl+C or q to stop)"},
        {"at": 295, "end": {}},
    ],
}
