"""Closing and reducing one position: verified by the broker's event or by a read, never sent twice
while the first call's outcome is unknown (spec/daemon.md §4.2)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from risk_manager.daemon.enforcement.work import WorkState
from risk_manager.engine.actions import Action
from tests.daemon.enforcement.conftest import ACCT, ES, Rig, close, close_all, finish, reduce
from tests.daemon.enforcement.fake_broker import Events, Mode


@pytest.mark.parametrize("events", ["before", "after"])
async def test_close_confirmed_by_the_position_event_needs_no_read(rig: Rig, events: Events) -> None:
    rig.broker.events = events  # the flat event overtakes the answer, or follows it
    rig.broker.open_position(ACCT, ES, 2)
    item = rig.submit(close())
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.names() == ["close_contract"]
    assert rig.broker.size(ACCT, ES) == 0
    assert item.result == {"size": 0, "confirmedBy": "position event"}
    assert item.attempts == 1
    assert rig.clock.slept == []


async def test_close_without_an_event_is_confirmed_by_a_read(rig: Rig) -> None:
    rig.broker.events = "none"
    rig.broker.open_position(ACCT, ES, 2)
    item = rig.submit(close())
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.names() == ["close_contract", "open_positions"]
    assert item.result == {"size": 0}


@pytest.mark.parametrize(
    ("mode", "second_state"),
    [("noop", WorkState.VERIFYING), ("uncertain_before", WorkState.UNCERTAIN)],
    ids=["success-reply-but-still-open", "no-answer-not-executed"],
)
async def test_close_still_open_is_resent_only_after_a_read(
    rig: Rig, mode: Mode, second_state: WorkState
) -> None:
    """A success reply is not proof, and no answer is not failure: the read decides."""
    rig.broker.events = "none"
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.script("close_contract", mode)
    item = rig.submit(close())
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.resent_after_read("close_contract", "open_positions")
    assert rig.clock.slept == [0.11]
    assert rig.states(item)[:2] == [WorkState.SENT, second_state]


@pytest.mark.parametrize("known", [False, True])
async def test_reduce_position_to_a_target_size(rig: Rig, known: bool) -> None:
    rig.broker.events = "none"
    rig.broker.open_position(ACCT, ES, 3)
    if known:
        rig.executor.on_position(ACCT, ES, 3)  # an event already showed the size: no read first
    item = rig.submit(reduce(ES, 1))
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.size(ACCT, ES) == 2
    partials = [c.args for c in rig.broker.calls if c.name == "partial_close"]
    assert partials == [(ES, 1)]
    assert rig.broker.count("close_contract") == 0
    expected = ["partial_close", "open_positions"]
    assert rig.broker.names() == (expected if known else ["open_positions", *expected])
    assert item.result == {"size": 2}


async def test_reduce_of_a_position_already_gone_sends_nothing(rig: Rig) -> None:
    item = rig.submit(reduce(ES, 1))
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.names() == ["open_positions"]


async def test_reduce_does_not_take_a_flat_event_for_the_size(rig: Rig) -> None:
    rig.broker.open_position(ACCT, ES, 2)
    rig.executor.on_position(ACCT, ES, 0)  # an older flat event: the size to reduce from is read
    item = rig.submit(reduce(ES, 2))
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.size(ACCT, ES) == 0
    assert [c.args for c in rig.broker.calls if c.name == "partial_close"] == [(ES, 2)]


@pytest.mark.parametrize(("events", "reads"), [("none", 1), ("before", 0)])
async def test_close_that_executed_but_answered_uncertain_is_verified_not_resent(
    rig: Rig, events: str, reads: int
) -> None:
    rig.broker.events = events
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.script("close_contract", "uncertain_after")
    item = rig.submit(close())
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.count("close_contract") == 1  # never a second blind close
    assert rig.broker.count("open_positions") == reads
    assert WorkState.UNCERTAIN in rig.states(item)
    assert rig.states(item)[-1] is WorkState.DONE


async def test_rejected_close_of_an_already_flat_position_is_done(rig: Rig) -> None:
    rig.broker.events = "none"
    item = rig.submit(close())  # nothing open: the broker answers success:false
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.count("close_contract") == 1
    assert rig.broker.names()[-1] == "open_positions"  # "verify", not "failed"
    assert rig.states(item) == [WorkState.SENT, WorkState.VERIFYING, WorkState.DONE]
    assert WorkState.FAILED not in rig.states(item)


@pytest.mark.parametrize("make", [close, close_all], ids=["close_position", "close_all"])
async def test_a_verification_read_without_an_answer_is_retried(rig: Rig, make: Callable[[], Action]) -> None:
    rig.broker.events = "none"
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.script("open_positions", "uncertain_before")  # one read times out
    item = rig.submit(make())
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.size(ACCT, ES) == 0
    assert rig.broker.count("close_contract") == 1


async def test_a_flat_event_while_the_answer_is_held_ends_the_wait_for_it(rig: Rig) -> None:
    """The broker executed the close and its position event says flat, but its answer hangs: the
    item is done on the event, without waiting for the answer (the call itself is abandoned)."""
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.hold("close_contract")  # the answer never comes while held
    item = rig.submit(close())
    await rig.broker.wait_calls("close_contract")
    rig.executor.on_position(ACCT, ES, 0)  # the hub's event: flat
    await finish(item)
    assert item.state is WorkState.DONE
    assert item.result == {"size": 0, "confirmedBy": "position event"}
    assert rig.states(item) == [WorkState.SENT, WorkState.VERIFYING, WorkState.DONE]
    assert rig.broker.names() == ["close_contract"]  # no read, no second close
    assert rig.broker.active_total == 0  # the held call was abandoned, not left running


async def test_a_stop_while_the_answer_is_held_still_interrupts_the_item(rig: Rig) -> None:
    """The executor's own cancellation (drain at shutdown) is never mistaken for the event's cut."""
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.hold("close_contract")
    item = rig.submit(close())
    await rig.broker.wait_calls("close_contract")
    left = await rig.executor.drain(timeout=0)
    assert left == [item] and item.state is WorkState.INTERRUPTED
    assert rig.broker.active_total == 0
