"""Each of the 12 rules enforced through the simulator by a real daemon process (issue 4, item 8).

One simulator and one daemon serve the whole module: twelve accounts, each with exactly one rule
switched on (per-account ``rule_overrides`` over an all-disabled rule set), each trading its own
contract so that one test's quotes cannot move another test's positions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Stack
from .harness import ApiClient, wait_until
from .rulesets import PER_ACCOUNT

USER = "e2e"
ACCOUNTS = sorted(PER_ACCOUNT)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("rules-live")
    s = Stack(root, {USER: ("e2e-key", ACCOUNTS)}, PER_ACCOUNT)
    try:
        s.start_daemon()
        yield s
    finally:
        s.close()


def flat(stack: Stack, account: int) -> bool:
    return stack.sim.positions(account) == {}


def calls(stack: Stack, account: int, path: str) -> list[dict]:
    return [c for c in stack.sim.mutating_calls(account, path) if c.get("status") == 200]


async def lockouts_of(api: ApiClient, account: int) -> list[dict]:
    snap = await api.snapshot(account)
    accounts = snap.get("accounts") or []
    for acct in accounts:
        if acct.get("accountId") == account:
            return acct.get("lockouts") or []
    return []


def test_rule_001_max_contracts_closes_all(stack: Stack) -> None:
    stack.sim.order(2001, "MNQ", "buy", 3)
    wait_until(lambda: flat(stack, 2001), 10, "account 2001 flattened")
    closes = calls(stack, 2001, "/api/Position/closeContract")
    # the daemon's enforcement calls go on its kept-open express lane (gateway/express.py)
    assert closes and closes[0]["agent"].startswith("risk-manager/") and closes[0]["agent"].endswith("(express)")


def test_rule_002_per_instrument_reduces_to_limit(stack: Stack) -> None:
    stack.sim.order(2002, "MNQ", "buy", 3)
    wait_until(lambda: list(stack.sim.positions(2002).values()) == [1], 10, "2002 reduced to 1 MNQ")
    partial = calls(stack, 2002, "/api/Position/partialCloseContract")
    assert [c["body"]["size"] for c in partial] == [2]


async def test_rule_003_realized_loss_locks_then_hard_lockout_enforced(stack: Stack) -> None:
    sim = stack.sim
    sim.quote("RTY", 2450.0, 2450.1)
    sim.order(2003, "RTY", "buy", 1)  # at 2450.1
    sim.quote("RTY", 2447.0, 2447.1)
    sim.order(2003, "RTY", "sell", 1)  # at 2447.0: -3.1 points x $50 = -$155 < -$100
    assert stack.daemon is not None
    async with ApiClient(stack.daemon.api_url) as api:
        await api.wait_for(
            lambda m: (
                m.get("type") == "lockout_set"
                and m.get("accountId") == 2003
                or (
                    m.get("type") == "snapshot"
                    and any(
                        lk.get("ruleId") == "RULE-003"
                        for a in (m.get("data") or {}).get("accounts", [])
                        if a.get("accountId") == 2003
                        for lk in a.get("lockouts") or []
                    )
                )
            ),
            10,
            "RULE-003 lockout on 2003",
        )
        # Hard lockout: a new position is flattened at once and a new order cancelled.
        sim.order(2003, "RTY", "buy", 2)
        wait_until(lambda: flat(stack, 2003), 10, "new position under lockout flattened")
        sim.order(2003, "RTY", "buy", 1, "limit", limitPrice=2400.0)
        wait_until(lambda: sim.working_orders(2003) == [], 10, "new order under lockout cancelled")
        assert calls(stack, 2003, "/api/Order/cancel")


def test_rule_004_unrealized_loss_closes_position(stack: Stack) -> None:
    sim = stack.sim
    sim.quote("NQ", 24500.00, 24500.25)
    sim.order(2004, "NQ", "buy", 1)
    wait_until(lambda: sim.positions(2004) != {}, 5, "2004 holds NQ")
    sim.quote("NQ", 24490.00, 24490.25)  # -10.25 points x $20 = -$205 < -$100
    wait_until(lambda: flat(stack, 2004), 10, "2004 closed on unrealized loss")


def test_rule_005_profit_target_closes_position(stack: Stack) -> None:
    sim = stack.sim
    sim.quote("ES", 6700.00, 6700.25)
    sim.order(2005, "ES", "buy", 1)
    wait_until(lambda: sim.positions(2005) != {}, 5, "2005 holds ES")
    sim.quote("ES", 6703.00, 6703.25)  # +2.75 points x $50 = $137.50 > $100
    wait_until(lambda: flat(stack, 2005), 10, "2005 closed at the profit target")


async def test_rule_006_trade_frequency_cooldown(stack: Stack) -> None:
    sim = stack.sim
    assert stack.daemon is not None
    async with ApiClient(stack.daemon.api_url) as api:
        sim.order(2006, "MES", "buy", 1)
        sim.order(2006, "MES", "sell", 1)
        sim.order(2006, "MES", "buy", 1)  # third trade within a minute: limit 2
        msg = await api.wait_for(
            lambda m: m.get("type") == "lockout_set" and m.get("accountId") == 2006, 10, "RULE-006 cooldown"
        )
        assert msg["data"]["ruleId"] == "RULE-006" and msg["data"]["lockoutKind"] == "cooldown"
    # A cooldown blocks new exposure: the position opened by the breaching trade is closed.
    wait_until(lambda: flat(stack, 2006), 10, "2006 flat during the cooldown")


async def test_rule_007_cooldown_after_loss(stack: Stack) -> None:
    sim = stack.sim
    assert stack.daemon is not None
    async with ApiClient(stack.daemon.api_url) as api:
        sim.quote("YM", 47000, 47001)
        sim.order(2007, "YM", "buy", 1)
        sim.quote("YM", 46990, 46991)
        sim.order(2007, "YM", "sell", 1)  # -11 points x $5 = -$55: tier 10 -> 120 s
        msg = await api.wait_for(
            lambda m: m.get("type") == "lockout_set" and m.get("accountId") == 2007, 10, "RULE-007 cooldown"
        )
        assert msg["data"]["ruleId"] == "RULE-007" and msg["data"]["lockoutKind"] == "cooldown"
        sim.order(2007, "YM", "buy", 1)
        wait_until(lambda: flat(stack, 2007), 10, "new exposure during the loss cooldown closed")


def test_rule_008_no_stop_loss_grace(stack: Stack) -> None:
    sim = stack.sim
    sim.order(2008, "M2K", "buy", 1)
    wait_until(lambda: sim.positions(2008) != {}, 5, "2008 holds M2K")
    wait_until(lambda: flat(stack, 2008), 15, "2008 closed after the 2 s stop-loss grace")


def test_rule_009_outside_session_closes(stack: Stack) -> None:
    stack.sim.order(2009, "GC", "buy", 1)
    wait_until(lambda: flat(stack, 2009), 10, "2009 position outside the session closed")


async def test_rule_010_can_trade_false_closes_locks_and_lifts(stack: Stack) -> None:
    sim = stack.sim
    assert stack.daemon is not None
    sim.order(2010, "MGC", "buy", 1)
    wait_until(lambda: sim.positions(2010) != {}, 5, "2010 holds MGC")
    async with ApiClient(stack.daemon.api_url) as api:
        sim.control("POST", "/accounts/2010/can-trade", {"canTrade": False})
        wait_until(lambda: flat(stack, 2010), 10, "2010 closed when the broker restricted it")
        await api.wait_for(
            lambda m: m.get("type") == "lockout_set" and m.get("accountId") == 2010, 10, "RULE-010 lockout"
        )
        sim.control("POST", "/accounts/2010/can-trade", {"canTrade": True})
        await api.wait_for(
            lambda m: m.get("type") == "lockout_cleared" and m.get("accountId") == 2010, 10, "RULE-010 unlock"
        )


def test_rule_011_blocked_symbol_closed(stack: Stack) -> None:
    stack.sim.order(2011, "CL", "buy", 1)
    wait_until(lambda: flat(stack, 2011), 10, "2011 CL position closed")


def test_rule_012_auto_stop_loss_placed(stack: Stack) -> None:
    sim = stack.sim
    sim.quote("MCL", 60.00, 60.01)
    sim.order(2012, "MCL", "buy", 1)  # at 60.01
    stop = wait_until(
        lambda: [
            o
            for o in sim.working_orders(2012)
            if o["type"] == 4 and (o.get("customTag") or "").startswith("rm-")
        ],
        10,
        "a protective stop placed by the daemon",
    )[0]
    assert stop["side"] == 1 and stop["size"] == 1
    assert abs(stop["stopPrice"] - 59.91) < 1e-9  # 10 ticks of 0.01 below the average price
