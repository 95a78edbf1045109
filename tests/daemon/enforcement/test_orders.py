"""Cancels, stop placement and stop modification, each verified against the broker's own state
(spec/daemon.md §4.1-4.2)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from risk_manager.daemon.enforcement.work import WorkState
from risk_manager.engine.enums import OrderType
from tests.daemon.enforcement.conftest import ACCT, ES, Rig, cancel, finish, modify_stop, place_stop
from tests.daemon.enforcement.fake_broker import Events


@pytest.mark.parametrize("events", ["before", "after"])
async def test_cancel_confirmed_by_the_order_event(rig: Rig, events: Events) -> None:
    rig.broker.events = events
    oid = rig.broker.add_order(ACCT, ES)
    item = rig.submit(cancel(oid))
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.names() == ["cancel_order"]  # no read: the broker's event is the proof
    assert rig.broker.working(ACCT) == []


async def test_cancel_without_an_event_is_confirmed_by_a_read(rig: Rig) -> None:
    rig.broker.events = "none"
    oid = rig.broker.add_order(ACCT, ES)
    item = rig.submit(cancel(oid))
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.names() == ["cancel_order", "open_orders"]


async def test_rejected_cancel_of_a_final_order_is_done(rig: Rig) -> None:
    rig.broker.events = "none"
    item = rig.submit(cancel(4242))  # no such working order: success:false means "verify"
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.names() == ["cancel_order", "open_orders"]


async def test_uncertain_cancel_is_read_before_anything_is_sent_again(rig: Rig) -> None:
    rig.broker.events = "none"
    oid = rig.broker.add_order(ACCT, ES)
    rig.broker.script("cancel_order", "uncertain_before")
    item = rig.submit(cancel(oid))
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.resent_after_read("cancel_order", "open_orders")
    assert rig.clock.slept == [0.11]


async def test_place_stop_after_an_uncertain_placement_is_found_by_its_tag(rig: Rig) -> None:
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.script("place_stop", "uncertain_after")  # placed, but no answer
    item = rig.submit(place_stop(price="4990.25"))
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.count("place_stop") == 1  # recognised among the orders, not placed twice
    stops = rig.broker.working(ACCT)
    assert len(stops) == 1
    assert stops[0]["customTag"] == "rm-" + item.key
    assert stops[0]["type"] == OrderType.STOP
    assert stops[0]["stopPrice"] == Decimal("4990.25")
    assert item.result == {"orderId": stops[0]["id"]}
    assert rig.states(item)[0] is WorkState.PENDING  # not urgent: reported before it is sent


async def test_place_stop_not_executed_is_placed_once_more(rig: Rig) -> None:
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.script("place_stop", "uncertain_before")
    item = rig.submit(place_stop())
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.count("place_stop") == 2
    assert len(rig.broker.working(ACCT)) == 1


async def test_place_stop_for_a_closed_position_is_skipped(rig: Rig) -> None:
    item = rig.submit(place_stop())
    await finish(item)
    assert item.state is WorkState.DONE
    assert item.result == {"skipped": "position already closed"}
    assert rig.broker.count("place_stop") == 0


async def test_periodic_retry_of_a_stop_never_places_a_second_one(rig: Rig) -> None:
    rig.broker.open_position(ACCT, ES, 1)
    # every attempt of the first ladder times out; the last one had in fact been executed
    rig.broker.script("place_stop", "uncertain_before", "uncertain_before", "uncertain_after")
    item = rig.submit(place_stop())
    await finish(item)
    assert WorkState.FAILED in rig.states(item)
    assert len(rig.broker.working(ACCT)) == 1  # one protective stop, not two
    assert rig.broker.count("place_stop") == 3


async def test_modify_stop_is_verified_by_reading_the_stop_price(rig: Rig) -> None:
    oid = rig.broker.add_order(ACCT, ES, order_type=OrderType.STOP, stop_price=Decimal("4980.00"))
    item = rig.submit(modify_stop(oid, "4985.50"))
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.names() == ["modify_order", "open_orders"]
    assert rig.broker.orders[ACCT][oid]["stopPrice"] == Decimal("4985.50")


async def test_modify_stop_not_applied_is_sent_again_after_the_read(rig: Rig) -> None:
    oid = rig.broker.add_order(ACCT, ES, order_type=OrderType.STOP, stop_price=Decimal("4980.00"))
    rig.broker.script("modify_order", "noop")  # success:true, the price did not move
    item = rig.submit(modify_stop(oid, "4985.50"))
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.names() == ["modify_order", "open_orders", "modify_order", "open_orders"]
    assert rig.clock.slept == [0.11]
    assert rig.broker.orders[ACCT][oid]["stopPrice"] == Decimal("4985.50")


async def test_modify_stop_of_an_order_no_longer_working_is_skipped(rig: Rig) -> None:
    item = rig.submit(modify_stop(4242, "4985.50"))
    await finish(item)
    assert item.state is WorkState.DONE
    assert item.result == {"skipped": "order no longer working"}
    assert rig.broker.count("modify_order") == 1
