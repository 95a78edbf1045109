"""One bad number never switches a rule off (reliability issue §6), with real processes.

A simulator and a daemon process; the simulator's ``/sim/hub/send`` writes raw hub frames carrying
numbers no futures account can show (a fill with ``profitAndLoss: -1e30``, a NaN average price, an
order for a trillion contracts, a quote of 1e300). Before the fix the -1e30 fill became the day's
realized P&L: formatting it raised inside RULE-003, every later evaluation of that account was
dropped, and every new dashboard connection was closed because its snapshot could not be built.
Now each bad event is logged with its account and skipped, new dashboards get their snapshot, and
the next real breach is enforced as usual.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Stack
from .harness import ApiClient, wait_until

USER = "numbers"
ACCOUNT = 6001
RULES = {
    ACCOUNT: {
        "daily_realized_loss": {"enabled": True, "loss_limit": 100, "lockout_until": "daily_reset"},
        "max_contracts": {"enabled": True, "limit": 2, "count_type": "net", "enforcement": "close_all"},
    }
}
RS = "\x1e"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("bad-numbers")
    s = Stack(root, {USER: ("numbers-key", [ACCOUNT])}, RULES)
    try:
        s.start_daemon()
        yield s
    finally:
        s.close()


def contract_id(stack: Stack, name_prefix: str) -> str:
    for c in stack.sim.state()["contracts"]:
        if c["name"].startswith(name_prefix) and c["symbolId"].endswith("." + name_prefix):
            return str(c["id"])
    raise AssertionError(f"no {name_prefix} contract in the simulator")


def send(stack: Stack, hub: str, target: str, *arguments: Any) -> None:
    frame = json.dumps({"type": 1, "target": target, "arguments": list(arguments)}) + RS
    assert stack.sim.control("POST", "/hub/send", {"hub": hub, "frame": frame})["sent"] == 1


def log_text(stack: Stack) -> str:
    return (stack.root / "logs" / "daemon.log").read_text(encoding="utf-8")


def account_of(snapshot: dict[str, Any]) -> dict[str, Any]:
    [acct] = [a for a in snapshot["accounts"] if a["accountId"] == ACCOUNT]
    return acct


async def new_dashboard_snapshot(url: str) -> dict[str, Any]:
    """What a dashboard sees when it connects: the snapshot the daemon sends first."""
    async with ApiClient(url) as api:
        first = await api.wait_for(
            lambda m: m.get("type") == "snapshot", 10, "the snapshot of a new connection"
        )
        return dict(first["data"])


async def test_absurd_broker_numbers_are_skipped_and_rules_and_dashboards_keep_working(stack: Stack) -> None:
    assert stack.daemon is not None
    url = stack.daemon.api_url
    sim = stack.sim
    rty, mnq = contract_id(stack, "RTY"), contract_id(stack, "MNQ")
    before = account_of(await new_dashboard_snapshot(url))
    assert before["pnl"]["realized"] == "0.00"

    async with ApiClient(url) as watching:  # a dashboard that stays connected throughout
        await watching.wait_for(lambda m: m.get("type") == "snapshot", 10, "first snapshot")
        fill = {
            "id": 990001,
            "accountId": ACCOUNT,
            "contractId": rty,
            "creationTimestamp": sim.state()["now"],  # today: it would count
            "price": 2450.0,
            "profitAndLoss": -1e30,
            "fees": 0.0,
            "side": 1,
            "size": 1,
            "voided": False,
            "orderId": 990001,
        }
        send(stack, "user", "GatewayUserTrade", {"action": 1, "data": fill})
        position = {"id": 990002, "accountId": ACCOUNT, "contractId": mnq, "type": 1, "size": 1}
        send(stack, "user", "GatewayUserPosition", {**position, "averagePrice": float("nan")})
        order = {"id": 990003, "accountId": ACCOUNT, "contractId": mnq, "status": 1, "type": 1, "side": 0}
        send(stack, "user", "GatewayUserOrder", {**order, "size": 10**12, "limitPrice": 21000.0})
        send(stack, "market", "GatewayQuote", mnq, {"symbol": "F.US.MNQ", "lastPrice": 1e300})

        # A real order after the bad frames, on the same hub connection: once the dashboard has it,
        # the daemon has handled everything sent before it.
        marker = sim.order(ACCOUNT, "MNQ", "buy", 1, "limit", limitPrice=10000.0)["orderId"]
        await watching.wait_for(
            lambda m: m.get("type") == "order" and (m.get("data") or {}).get("orderId") == marker,
            10,
            "the marker order pushed to the dashboard",
        )
        sim.control("POST", f"/orders/{marker}/cancel", {})
        wait_until(lambda: sim.working_orders(ACCOUNT) == [], 10, "marker order cancelled")

        # A new dashboard still gets a snapshot, with nothing of the bad values in it.
        after = account_of(await new_dashboard_snapshot(url))
        assert after["pnl"]["realized"] == "0.00"
        assert after["positions"] == [] and after["trades"] == []
        assert [o["orderId"] for o in after["orders"]] in ([], [marker])  # its cancel may still be on its way
        assert after["ruleErrors"] == 0

        # The next real breaches are enforced: three contracts (RULE-001), then a loss (RULE-003).
        sim.order(ACCOUNT, "MNQ", "buy", 3)
        wait_until(lambda: sim.positions(ACCOUNT) == {}, 10, "RULE-001 flattened 3 MNQ")
        sim.quote("RTY", 2450.0, 2450.1)
        sim.order(ACCOUNT, "RTY", "buy", 1)  # at 2450.1
        sim.quote("RTY", 2447.0, 2447.1)
        sim.order(ACCOUNT, "RTY", "sell", 1)  # at 2447.0: -3.1 points x $50 = -$155 < -$100
        await watching.wait_for(
            lambda m: m.get("type") == "lockout_set" and m.get("accountId") == ACCOUNT,
            10,
            "RULE-003 lockout pushed to the dashboard that stayed connected",
        )

    # Each bad event was logged with its account (or its contract, for a quote) and skipped.
    lines = [line for line in log_text(stack).splitlines() if "malformed" in line]
    for field in ("profitAndLoss", "averagePrice", "'size'"):
        [line] = [ln for ln in lines if field in ln]
        assert f"account {ACCOUNT}:" in line, line
    assert any(f"quote for {mnq}" in ln and "1e+300" in ln for ln in lines), lines
    final = account_of(await new_dashboard_snapshot(url))
    assert [lk["ruleId"] for lk in final["lockouts"]] == ["RULE-003"]
    assert final["pnl"]["realized"] == "-156.50"  # -1.50 (3 MNQ in and out at the spread) - 155.00
    assert stack.daemon.proc.p.poll() is None
    assert "Traceback" not in log_text(stack)
    async with ApiClient(url) as api:
        heartbeat = await api.wait_for(lambda m: m.get("type") == "heartbeat", 10, "a heartbeat")
        assert heartbeat["data"]["ruleErrors"] == 0
        assert heartbeat["data"]["malformedEvents"] >= 4
