"""The numbers behind a decision: what a broker action records of what its rule saw
(``enforcement_log.seen``, the dispute report), and the numbers a warning carries (its alert)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from risk_manager.engine import Action
from tests.engine.conftest import MNQ, T0, Session, config, pos, trade, z

S = timedelta(seconds=1)


def feed(session: Session, at: datetime, event: str, data: Any) -> list[Action]:
    return list(session.replayer.feed({"at": z(at), "event": event, "data": data}))


def test_a_realized_loss_breach_records_the_figures_and_the_limit() -> None:
    s = Session(config({"daily_realized_loss": {"loss_limit": 500, "lockout_until": "daily_reset"}}))
    warned = feed(s, T0, "GatewayUserTrade", trade(1, -410.0))
    assert [(a.kind, a.extra) for a in warned] == [
        ("warn", {"threshold": 80, "pctUsed": 82.0, "value": "410.00", "limit": "500.00"})
    ]
    actions = feed(s, T0 + S, "GatewayUserTrade", trade(2, -102.4))
    flatten = [a for a in actions if a.kind in ("close_all", "cancel_all")]
    assert len(flatten) == 2
    for a in flatten:
        assert a.extra == {
            "realized": "-512.40",
            "openContracts": 0,
            "tradeCount": 2,
            "limit": "-500.00",
            "measure": "realized",
        }
    lock = [a for a in actions if a.kind == "lockout"]
    assert lock and lock[0].extra == {}  # bookkeeping actions record nothing


def test_an_unrealized_rule_records_prices_too() -> None:
    s = Session(config({"daily_unrealized_loss": {"loss_limit": 100, "scope": "total"}}))
    feed(s, T0, "GatewayUserPosition", pos(MNQ, 1, 21000.0, T0))
    actions = feed(s, T0 + S, "GatewayQuote", {"contractId": MNQ, "lastPrice": 20940.0, "timestamp": z(T0 + S)})
    close = [a for a in actions if a.kind in ("close_all", "close_position")]
    assert close, actions
    seen = close[0].extra
    assert seen["limit"] == "-100.00" and seen["measure"] == "unrealized"
    assert seen["unrealized"] == "-120.00" and seen["net"] == "-120.00" and seen["openContracts"] == 1
