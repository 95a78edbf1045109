"""close_all / cancel_all: parallel cancels and closes, re-read, repeated until flat; a flatten in
flight covers the single closes and cancels of its account (spec/daemon.md §4.2)."""

from __future__ import annotations

import asyncio
import contextlib

from risk_manager.daemon.enforcement.work import WorkState
from tests.daemon.enforcement.conftest import (
    ACCT,
    ES,
    NQ,
    OTHER,
    RTY,
    SETTINGS,
    Rig,
    cancel,
    cancel_all,
    close,
    close_all,
    finish,
    make_rig,
    place_stop,
    reduce,
    settle,
)
from tests.daemon.enforcement.fake_broker import WAIT_S, Call, HeldClock


async def test_flatten_cancels_and_closes_in_parallel_then_rereads(rig: Rig) -> None:
    b = rig.broker
    b.open_position(ACCT, ES, 1)
    b.open_position(ACCT, NQ, 2)
    o1 = b.add_order(ACCT, ES)
    o2 = b.add_order(ACCT, NQ)
    b.hold("cancel_order")
    b.hold("close_contract")
    item = rig.submit(close_all())
    await b.wait_active(4)  # two cancels and two closes on the wire at the same time
    assert sorted(c.args[0] for c in b.calls if c.name == "cancel_order") == [o1, o2]
    assert sorted(c.args[0] for c in b.calls if c.name == "close_contract") == sorted([ES, NQ])
    b.release("cancel_order")
    b.release("close_contract")
    await finish(item)
    assert item.state is WorkState.DONE
    assert b.working(ACCT) == []
    assert b.positions[ACCT] == {ES: 0, NQ: 0}
    assert item.result == {"rounds": 1}
    assert item.attempts == 1
    assert b.count("open_orders") == b.count("open_positions") == 2  # first read and the re-read


async def test_flatten_repeats_until_a_position_opened_mid_flatten_is_closed(rig: Rig) -> None:
    b = rig.broker
    b.open_position(ACCT, ES, 1)

    def entry_fills(call: Call) -> None:  # a working entry order fills while ES is being closed
        if call.args == (ES,):
            b.open_position(ACCT, RTY, 1)

    b.on_execute = entry_fills
    item = rig.submit(close_all())
    await finish(item)
    assert item.state is WorkState.DONE
    assert [c.args[0] for c in b.calls if c.name == "close_contract"] == [ES, RTY]
    assert b.positions[ACCT] == {ES: 0, RTY: 0}
    assert item.result == {"rounds": 2}
    assert rig.clock.slept == []  # the broker's own events confirmed each round: nothing waited for
    assert WorkState.RETRYING in rig.states(item)


async def test_flatten_round_survives_rejections_and_uncertain_answers(rig: Rig) -> None:
    b = rig.broker
    b.open_position(ACCT, ES, 1)
    b.open_position(ACCT, NQ, 1)
    b.script("close_contract", "uncertain_before", "reject")  # ES: no answer, NQ: success:false
    item = rig.submit(close_all())
    await finish(item)
    assert item.state is WorkState.DONE
    assert b.positions[ACCT] == {ES: 0, NQ: 0}
    assert b.count("close_contract") == 4  # both again in the second round, after the re-read


async def test_cancel_all_leaves_positions_alone(rig: Rig) -> None:
    b = rig.broker
    b.open_position(ACCT, ES, 2)
    orders = [b.add_order(ACCT, ES), b.add_order(ACCT, NQ)]
    item = rig.submit(cancel_all())
    await finish(item)
    assert item.state is WorkState.DONE
    assert b.working(ACCT) == []
    assert sorted(c.args[0] for c in b.calls if c.name == "cancel_order") == orders
    assert b.count("close_contract") == 0
    assert b.count("open_positions") == 0
    assert b.size(ACCT, ES) == 2


async def test_close_all_covers_single_closes_and_cancels_of_its_account(rig: Rig) -> None:
    b = rig.broker
    b.open_position(ACCT, ES, 1)
    b.open_position(OTHER, ES, 1)
    oid = b.add_order(ACCT, ES)
    b.hold("close_contract")
    flatten = rig.submit(close_all())
    await b.wait_calls("close_contract")
    assert rig.submit(close(ES)) is flatten
    assert rig.submit(reduce(ES, 1)) is flatten
    assert rig.submit(cancel(oid)) is flatten
    other = rig.submit(close(ES, account_id=OTHER))  # another account is not covered
    assert other is not flatten
    await b.wait_calls("close_contract", 2)
    b.release("close_contract")
    await finish(flatten, other)
    assert flatten.state is other.state is WorkState.DONE
    assert [(c.account_id, c.args[0]) for c in b.calls if c.name == "close_contract"] == [
        (ACCT, ES),
        (OTHER, ES),
    ]
    assert b.count("cancel_order") == 1


async def test_cancel_all_covers_cancels_but_not_closes(rig: Rig) -> None:
    b = rig.broker
    b.open_position(ACCT, ES, 1)
    oid = b.add_order(ACCT, NQ)
    b.hold("cancel_order")
    flatten = rig.submit(cancel_all())
    await b.wait_calls("cancel_order")
    assert rig.submit(cancel(oid)) is flatten
    closing = rig.submit(close(ES))
    assert closing is not flatten
    await b.wait_calls("close_contract")
    b.release("cancel_order")
    await finish(flatten, closing)
    assert flatten.state is closing.state is WorkState.DONE
    assert b.count("cancel_order") == 1
    assert b.size(ACCT, ES) == 0


# A flatten works around the other items in flight on its account (no second close of a contract
# being closed; before calling the account flat it lets a stop placement in flight land and reads
# again): spec/daemon.md §4.2.


async def test_close_all_never_closes_a_contract_beside_a_close_in_flight(rig: Rig) -> None:
    b = rig.broker
    b.open_position(ACCT, ES, 1)
    b.open_position(ACCT, NQ, 1)
    b.hold("close_contract")
    single = rig.submit(close(ES))
    await b.wait_calls("close_contract")
    flatten = rig.submit(close_all())
    assert flatten is not single  # a close in flight does not cover a flatten
    await settle()
    b.release("close_contract")
    await finish(single, flatten)
    assert flatten.state is WorkState.DONE
    assert b.max_active[(ACCT, ES)] == 1  # never two closes of ES on the wire at once


async def test_a_stop_in_flight_is_not_left_working_on_a_flattened_position(rig: Rig) -> None:
    """The flatten's last read comes before the stop lands: a stop on a flat position is an entry."""
    b = rig.broker
    b.open_position(ACCT, ES, 1)
    b.hold("place_stop")
    stop = rig.submit(place_stop(ES))
    await b.wait_calls("place_stop")  # it saw ES open; the placement is on the wire
    flatten = rig.submit(close_all())
    with contextlib.suppress(TimeoutError):  # done at once when it does not wait for the stop
        await asyncio.wait_for(flatten.done.wait(), 0.3)
    b.release("place_stop")
    await finish(stop, flatten)
    assert b.size(ACCT, ES) == 0
    assert b.working(ACCT) == []


async def test_a_close_parked_after_its_bound_never_holds_back_a_flatten() -> None:
    """A close that failed its bound rests until its periodic retry (30 s); it closes nothing
    meanwhile, so a flatten decided then closes that contract itself instead of waiting for it
    (seen in the kill -9 chaos run: an account held over its limit for the whole retry period)."""
    clock = HeldClock(SETTINGS.retry_failed_every_s)
    rig = make_rig(clock)
    b = rig.broker
    b.open_position(ACCT, ES, 1)
    b.open_position(ACCT, NQ, 2)
    b.always("close_contract", "noop")  # accepted, never executed: the close fails its bound
    parked = rig.submit(close(ES))
    await asyncio.wait_for(clock.waiting.wait(), WAIT_S)
    assert parked.state is WorkState.FAILED and not parked.done.is_set()

    b.always("close_contract", "ok")  # the broker acts again; a new breach decides a flatten
    flatten = rig.submit(close_all(), cause="evt-2")
    await finish(flatten, parked)  # no wait for the periodic retry (the held clock never releases it)
    assert flatten.state is WorkState.DONE
    assert parked.state is WorkState.DONE  # the broker's flat event verified it
    assert b.size(ACCT, ES) == 0 and b.size(ACCT, NQ) == 0
    assert clock.slept.count(SETTINGS.retry_failed_every_s) == 1
