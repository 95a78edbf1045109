"""The daemon against what the live gateway sends beyond the spec's minimum (issue 9), end to end.

One simulator and one daemon for the module. The simulator answers ``Position/searchOpen`` and
``Trade/search`` with bare arrays, keeps cancels pending for 1.5 s and charges a broker commission
on RTY; the daemon subtracts fees and commissions from realized P&L (``include_fees``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Stack
from .harness import ApiClient

USER = "fidelity"
NET_LOSS, BLOCKED, PLAIN = 5001, 5002, 5003
PENDING_MS = 1500
SIM_SETTINGS = {
    "bare_list_responses": True,
    "pending_cancel_ms": PENDING_MS,
    "commissions_per_side": {"RTY": 10},
}
RULES = {
    NET_LOSS: {"daily_realized_loss": {"enabled": True, "loss_limit": 100, "lockout_until": "daily_reset"}},
    BLOCKED: {"symbol_blocks": {"enabled": True, "blocked_symbols": ["CL"], "close_existing": True}},
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("fidelity")
    s = Stack(
        root,
        {USER: ("fidelity-key", [NET_LOSS, BLOCKED, PLAIN])},
        RULES,
        global_={"include_fees": True},
        sim_settings=SIM_SETTINGS,
    )
    try:
        s.start_daemon()
        yield s
    finally:
        s.close()


async def test_reconcile_accepts_bare_list_answers(stack: Stack) -> None:
    """Every reconcile reads positions and trades as bare arrays here: the accounts become protected."""
    assert stack.daemon is not None
    async with ApiClient(stack.daemon.api_url) as api:
        deadline = time.monotonic() + 15
        while True:
            status = (await api.request("status"))["data"]
            if status.get("protected") == 3:
                break
            assert time.monotonic() < deadline, f"accounts not protected: {status}"
            await asyncio.sleep(0.05)  # polling the daemon's status is the condition


async def test_commissions_count_toward_the_daily_loss_limit(stack: Stack) -> None:
    sim = stack.sim
    assert stack.daemon is not None
    async with ApiClient(stack.daemon.api_url) as api:  # listening before the trades: no push missed
        sim.quote("RTY", 2450.0, 2450.1)
        sim.order(NET_LOSS, "RTY", "buy", 1)  # at 2450.1
        sim.quote("RTY", 2448.3, 2448.4)
        sim.order(NET_LOSS, "RTY", "sell", 1)  # at 2448.3: -1.8 points x $50 = -$90 gross
        trades = [t for t in sim.state(NET_LOSS)["trades"] if t["accountId"] == NET_LOSS]
        assert [t["commissions"] for t in trades] == [10, 10]
        # net: -90 - 2 x 1.40 fees = -92.80 (inside the limit); - 2 x 10 commissions = -112.80 (breach)
        await api.wait_for(
            lambda m: (
                m.get("type") == "enforcement"
                and m.get("accountId") == NET_LOSS
                and m["data"].get("ruleId") == "RULE-003"
            ),
            15,
            "RULE-003 on the loss net of fees and commissions",
        )
        view = next(a for a in (await api.snapshot(NET_LOSS))["accounts"] if a["accountId"] == NET_LOSS)
        realized = view["pnl"]["realized"] if isinstance(view.get("pnl"), dict) else view.get("realized")
        assert float(realized) == -112.80, view


async def test_a_cancel_is_confirmed_only_when_the_broker_ends_the_pending_cancellation(stack: Stack) -> None:
    sim = stack.sim
    assert stack.daemon is not None
    async with ApiClient(stack.daemon.api_url) as api:
        placed = sim.order(BLOCKED, "CL", "buy", 1, "limit", limitPrice=50.0)
        oid = placed["orderId"]
        done = await api.wait_for(
            lambda m: (
                m.get("type") == "enforcement"
                and m.get("accountId") == BLOCKED
                and m["data"].get("action") == "cancel_order"
                and m["data"].get("state") == "done"
            ),
            15,
            "the cancel confirmed",
        )
        # confirmed after the broker's Cancelled, not at its PendingCancellation
        status = next(o["status"] for o in sim.state(BLOCKED)["orders"] if o["id"] == oid)
        assert status == 3, status
        assert done["data"]["confirmedMs"] >= PENDING_MS - 100, done
    cancels = [c for c in sim.mutating_calls(BLOCKED, "/api/Order/cancel") if c["body"]["orderId"] == oid]
    assert [c["response"]["success"] for c in cancels] == [True]  # one cancel: no second one while pending
