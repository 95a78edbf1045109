"""History queries of the local API (daemon.md §9.4) over real rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from risk_manager.daemon.enforcement.work import WorkItem
from risk_manager.daemon.persist.persistence import Persistence
from risk_manager.engine import Action, events
from risk_manager.engine.actions import ActionKind
from risk_manager.store.queries import QueryError
from tests.store.conftest import ACCOUNT, T0, Clock, make_engine, trade


async def test_history_pages(tmp_path: Path, clock: Clock) -> None:
    engine = make_engine()
    p = await Persistence.open(tmp_path, clock=clock)
    try:
        await p.restore(engine, T0)
        for i in range(1, 6):
            at = T0 + timedelta(minutes=i)
            payload = trade(i, -10 * i, at)
            actions = engine.evaluate(events.TRADE, payload, at)
            await p.trade(engine.account(ACCOUNT), events.parse_trade(payload))
            assert not [a for a in actions if a.lockout is not None]
            clock.advance(60)
            p.heartbeat()
        ids = []
        for i in range(3):
            act = Action(ACCOUNT, "RULE-001", ActionKind.CLOSE_ALL, f"reason {i}", T0)
            ids.append(
                await p.enforcement(
                    WorkItem(f"key{i}", act, f"e{i}", None, created=T0, state="done"), {"target": None}
                )
            )
        await p._writer.flush()

        page = await p.history("history.enforcement", {"accountId": ACCOUNT, "limit": 2})
        assert [x["id"] for x in page["items"]] == ids[::-1][:2] and page["more"] is True
        page = await p.history("history.enforcement", {"accountId": ACCOUNT, "before": ids[1]})
        assert [x["id"] for x in page["items"]] == [ids[0]] and page["more"] is False
        assert page["items"][0]["tradingDay"] == "2026-11-17"

        trades = await p.history("history.trades", {"accountId": ACCOUNT, "tradingDay": "2026-11-17"})
        assert [t["tradeId"] for t in trades["items"]] == [5, 4, 3, 2, 1]
        assert trades["items"][0]["pnl"] == "-50" and trades["items"][0]["symbol"] == "MNQ"

        pnl = await p.history("history.pnl", {"accountId": ACCOUNT})
        assert pnl["items"][0]["realized"] == "-150" and pnl["items"][0]["tradeCount"] == 5
        samples = await p.history(
            "history.pnl", {"accountId": ACCOUNT, "tradingDay": "2026-11-17", "intraday": True}
        )
        assert len(samples["items"]) == 5 and samples["items"][-1]["realized"] == "-150"

        lockouts = await p.history("history.lockouts", {"accountId": ACCOUNT, "from": "2026-11-01"})
        assert lockouts == {"items": [], "more": False}

        for op, data in (
            ("history.trades", {"tradingDay": "yesterday"}),
            ("history.enforcement", {"accountId": "123"}),
            ("history.enforcement", {"limit": 0}),
            ("history.pnl", {"intraday": True}),
            ("history.nothing", {}),
        ):
            with pytest.raises(QueryError) as err:  # the local API answers it as bad_request
                await p.history(op, data)
            assert str(err.value)
    finally:
        await p.close(clean=True)
