"""Market data on its own thread (daemon/broker/market_feed.py), against the real simulator: quotes
reach the main loop coalesced per contract, state changes arrive on the main loop, and stopping
ends the thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx

from risk_manager.daemon.broker.market_feed import MarketFeed, QuoteBatch
from risk_manager.gateway.hub import HubState
from tests.daemon.conftest import KEY, USER, until
from tests.e2e.harness import Simulator


async def test_quotes_arrive_on_the_main_loop_coalesced_and_stop_ends_the_thread(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.urls["api_url"]) as http:
        token = (await http.post("/api/Auth/loginKey", json={"userName": USER, "apiKey": KEY})).json()["token"]
    contract = next(c["id"] for c in sim.state()["contracts"] if ".MES." in c["id"])
    main_thread = threading.get_ident()
    batches: list[QuoteBatch] = []
    states: list[HubState] = []
    threads: set[int] = set()

    def on_quotes(batch: QuoteBatch) -> None:
        threads.add(threading.get_ident())
        batches.append(batch)

    def on_state(state: HubState, detail: str) -> None:
        threads.add(threading.get_ident())
        states.append(state)

    async def token_provider() -> str:
        assert threading.get_ident() == main_thread  # the REST session's loop
        return str(token)

    feed = MarketFeed(sim.urls["market_hub_url"], token_provider, on_quotes, on_state=on_state, name="t/market")
    feed.start()
    try:
        await until(lambda: feed.state is HubState.CONNECTED, 10, "market hub connected")
        await feed.subscribe_quotes(contract)
        await asyncio.to_thread(sim.quote, contract, 5000.25, 5000.75, 5000.5)

        def seen(field: str, value: float) -> bool:
            return any(
                (q := b.get(contract)) is not None and q[0].get(field) == value for b in list(batches)
            )

        await until(lambda: seen("bestBid", 5000.25), 10, "the quote on the main loop")

        # Two updates before the main loop runs again: one hand-over, merged (a field the newer
        # update leaves out keeps the older value).
        before = len(batches)
        partial: dict[str, Any] = {"contractId": contract, "bestBid": 4999.0, "lastPrice": None}
        feed._on_event("GatewayQuote", {"contractId": contract, "bestBid": 4998.0, "lastPrice": 4998.5})
        feed._on_event("GatewayQuote", partial)
        await until(lambda: len(batches) > before, 5, "the coalesced hand-over")
        merged = batches[before][contract][0]
        assert merged["bestBid"] == 4999.0 and merged["lastPrice"] == 4998.5
    finally:
        await feed.stop()
    assert threads == {main_thread} and HubState.CONNECTED in states
    assert not any(t.name.startswith("market-data-t/market") for t in threading.enumerate())
