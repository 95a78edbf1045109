"""Scripted trading on the simulator that breaches each of the twelve rules once, three per account.

The accounts and what breaches them (the rule set is the one ``test_production`` configures with
``risk-manager admin``; each account trades its own contracts, so one account's quotes never move
another account's positions):

| Account | Login | Rules, in order | Contracts |
|---|---|---|---|
| 7101 | alice | RULE-002 per instrument, RULE-001 max contracts, RULE-011 blocked symbol | MNQ, MES, RTY |
| 7102 | alice | RULE-005 profit target, RULE-004 unrealized loss, RULE-003 realized loss (locks) | ES |
| 7201 | bob | RULE-012 automatic stop, RULE-010 broker permission, RULE-006 trade frequency | NQ, MYM |
| 7202 | bob | RULE-008 no stop, RULE-007 cooldown after a loss; RULE-009 later (after the unlock) | M2K, YM |
"""

from __future__ import annotations

from risk_manager.service.layout import Layout
from tests.e2e.harness import Simulator, wait_until

from .records import active_lockouts, wait_enforced, wait_lockout

A1, A2, B1, B2 = 7101, 7102, 7201, 7202
EXPECTED = {
    A1: {"RULE-001", "RULE-002", "RULE-011"},
    A2: {"RULE-003", "RULE-004", "RULE-005"},
    B1: {"RULE-006", "RULE-010", "RULE-012"},
    B2: {"RULE-007", "RULE-008", "RULE-009"},
}


def flat(sim: Simulator, account: int) -> bool:
    return sim.positions(account) == {}


def holds(sim: Simulator, account: int) -> bool:
    return sim.positions(account) != {}


def product_stops(sim: Simulator, account: int) -> list[dict[str, object]]:
    return [
        o
        for o in sim.working_orders(account)
        if o["type"] == 4 and str(o.get("customTag") or "").startswith("rm-")
    ]


def alice_7101(sim: Simulator, layout: Layout) -> None:
    sim.quote("MNQ", 24500.00, 24500.25)
    sim.order(A1, "MNQ", "buy", 3)  # MNQ limit 2: reduced to 2
    wait_until(lambda: list(sim.positions(A1).values()) == [2], 10, "7101 reduced to 2 MNQ")
    wait_enforced(layout, A1, "RULE-002", "reduce_position")
    sim.quote("MES", 6700.00, 6700.25)
    sim.order(A1, "MES", "buy", 3)  # 2 MNQ + 3 MES = 5 contracts > 4: everything closed
    wait_until(lambda: flat(sim, A1), 10, "7101 flattened by RULE-001")
    wait_enforced(layout, A1, "RULE-001", "close_all")
    sim.quote("RTY", 2450.0, 2450.1)
    sim.order(A1, "RTY", "buy", 1)  # a blocked symbol: closed, RTY locked for good
    wait_until(lambda: flat(sim, A1), 10, "7101 RTY closed")
    wait_lockout(layout, A1, "RULE-011")
    wait_enforced(layout, A1, "RULE-011", "close_position")


def alice_7102(sim: Simulator, layout: Layout) -> None:
    sim.quote("ES", 6700.00, 6700.25)
    sim.order(A2, "ES", "buy", 1)  # at 6700.25
    wait_until(lambda: holds(sim, A2), 5, "7102 holds ES")
    sim.quote("ES", 6715.00, 6715.25)  # +14.75 points x $50 = +$737.50 > $600 target
    wait_until(lambda: flat(sim, A2), 10, "7102 closed at the profit target")
    wait_enforced(layout, A2, "RULE-005", "close_position")
    sim.order(A2, "ES", "buy", 1)  # at 6715.25
    wait_until(lambda: holds(sim, A2), 5, "7102 holds ES again")
    sim.quote("ES", 6709.00, 6709.25)  # -6.25 points x $50 = -$312.50 < -$250
    wait_until(lambda: flat(sim, A2), 10, "7102 closed on the unrealized loss")
    wait_enforced(layout, A2, "RULE-004", "close_position")
    sim.order(A2, "ES", "buy", 1)  # at 6709.25; realized so far +425.00
    wait_until(lambda: holds(sim, A2), 5, "7102 holds ES a third time")
    sim.quote("ES", 6689.00, 6689.25)  # -$1,012.50 open: closed, realized -587.50 < -400: locked
    wait_until(lambda: flat(sim, A2), 10, "7102 flat")
    wait_lockout(layout, A2, "RULE-003")
    wait_enforced(layout, A2, "RULE-003", "close_all")


def bob_7201(sim: Simulator, layout: Layout) -> None:
    sim.quote("NQ", 24500.00, 24500.25)
    sim.order(B1, "NQ", "buy", 1)  # RULE-012 places a stop 10 ticks away
    wait_until(lambda: product_stops(sim, B1), 10, "the automatic stop on 7201")
    wait_enforced(layout, B1, "RULE-012", "place_stop")
    sim.control("POST", f"/accounts/{B1}/can-trade", {"canTrade": False})  # the broker restricts it
    wait_until(lambda: flat(sim, B1) and sim.working_orders(B1) == [], 10, "7201 flat, no orders")
    wait_lockout(layout, B1, "RULE-010")
    wait_enforced(layout, B1, "RULE-010", "close_all")
    sim.control("POST", f"/accounts/{B1}/can-trade", {"canTrade": True})  # restored: unlocked
    wait_lockout(layout, B1, "RULE-010", active=False)
    sim.quote("MYM", 47000, 47001)
    for _ in range(4):  # 3 fills a minute allowed: the 4th starts a 15 min cooldown
        if "RULE-006" in active_lockouts(layout, B1):
            break
        sim.order(B1, "MYM", "buy", 1)
        wait_until(
            lambda: product_stops(sim, B1) or "RULE-006" in active_lockouts(layout, B1),
            10,
            "a stop on the new MYM position, or the cooldown",
        )
        if holds(sim, B1):
            sim.order(B1, "MYM", "sell", 1)
        wait_until(lambda: flat(sim, B1) and sim.working_orders(B1) == [], 10, "7201 flat again")
    wait_lockout(layout, B1, "RULE-006")
    wait_until(lambda: flat(sim, B1) and sim.working_orders(B1) == [], 10, "7201 flat in the cooldown")


def bob_7202(sim: Simulator, layout: Layout) -> None:
    sim.quote("M2K", 2450.0, 2450.1)
    sim.order(B2, "M2K", "buy", 1)  # no stop: closed when the 3 s grace ends
    wait_until(lambda: holds(sim, B2), 5, "7202 holds M2K")
    wait_until(lambda: flat(sim, B2), 15, "7202 closed after the stop-loss grace")
    wait_enforced(layout, B2, "RULE-008", "close_position")
    sim.quote("YM", 47000, 47001)
    sim.order(B2, "YM", "buy", 1)  # at 47001
    wait_until(lambda: holds(sim, B2), 5, "7202 holds YM")
    sim.quote("YM", 46975, 46976)
    sim.order(B2, "YM", "sell", 1)  # at 46975: -26 points x $5 = -$130: a 5 min cooldown
    wait_lockout(layout, B2, "RULE-007")
    wait_until(lambda: flat(sim, B2), 10, "7202 flat")


def bob_7202_outside_session(sim: Simulator, layout: Layout) -> None:
    """After the admin moved 7202's session window away from now."""
    sim.order(B2, "YM", "buy", 1)
    wait_until(lambda: flat(sim, B2), 10, "7202 closed outside its session")
    wait_lockout(layout, B2, "RULE-009")
    wait_enforced(layout, B2, "RULE-009", "close_position")
