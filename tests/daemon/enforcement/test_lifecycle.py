"""The executor around the procedures: joining, observe-only, what the update hook is told and when,
the urgency gate, missing sessions, drain at shutdown, bounded memory and per-target serialisation
(spec/daemon.md §4.1-4.2)."""

from __future__ import annotations

import asyncio

from risk_manager.daemon.enforcement.work import WorkState
from risk_manager.eager_tasks import EAGER
from tests.daemon.enforcement.conftest import (
    ACCT,
    ES,
    NO_SESSION,
    NQ,
    Rig,
    cancel,
    close,
    close_all,
    finish,
    make_rig,
    place_stop,
    reduce,
    settle,
)


def enforce_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("enforce-")]


# ----- joining ------------------------------------------------------------------------------------------
async def test_same_action_in_flight_joins_the_item(rig: Rig) -> None:
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.hold("close_contract")
    item = rig.submit(close(), cause="fill-1")
    await rig.broker.wait_calls("close_contract")
    assert rig.submit(close(), cause="fill-1") is item
    assert rig.submit(close(), cause="quote-2") is item  # another event repeating the decision
    assert rig.submit(reduce(ES, 1)) is item  # one item per position
    rig.broker.release("close_contract")
    await finish(item)
    assert rig.broker.count("close_contract") == 1
    assert item.state is WorkState.DONE

    again = rig.submit(close(), cause="fill-1")  # finished items are not joined
    assert again is not item
    await finish(again)
    assert again.state is WorkState.DONE
    assert rig.broker.count("close_contract") == 1  # the broker's event showed it flat: nothing resent


async def test_different_targets_run_in_parallel(rig: Rig) -> None:
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.open_position(ACCT, NQ, 1)
    rig.broker.hold("close_contract")
    a, b = rig.submit(close(ES)), rig.submit(close(NQ))
    assert a is not b
    await rig.broker.wait_active(2)
    rig.broker.release("close_contract")
    await finish(a, b)
    assert a.state is b.state is WorkState.DONE


async def test_same_contract_items_are_serialised(rig: Rig) -> None:
    """A stop for a contract being closed waits for the close, then finds nothing to protect."""
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.hold("close_contract")
    closing = rig.submit(close(ES))
    await rig.broker.wait_calls("close_contract")
    stop = rig.submit(place_stop(ES))
    await settle()
    assert rig.broker.names() == ["close_contract"]  # the stop did not even read
    assert stop.state is WorkState.PENDING
    rig.broker.release("close_contract")
    await finish(closing, stop)
    assert stop.result == {"skipped": "position already closed"}
    assert rig.broker.count("place_stop") == 0
    assert rig.broker.max_active[(ACCT, ES)] == 1


# ----- observe-only --------------------------------------------------------------------------------------
async def test_observe_only_makes_no_broker_call_and_reports_once(rig: Rig) -> None:
    rig.broker.open_position(ACCT, ES, 1)
    item = rig.submit(close(observe_only=True))
    assert item.state is WorkState.OBSERVED
    assert item.done.is_set()
    await settle()
    assert [(r.key, r.state) for r in rig.reports] == [(item.key, WorkState.OBSERVED)]
    assert rig.broker.calls == []
    assert rig.sessions_asked == []
    assert rig.executor.in_flight == []
    assert not rig.executor.urgency.held
    assert enforce_tasks() == []
    assert rig.broker.size(ACCT, ES) == 1


# ----- what the update hook sees ------------------------------------------------------------------------
async def test_urgent_close_reports_sent_first_and_releases_urgency_on_the_wire(rig: Rig) -> None:
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.hold("close_contract")
    item = rig.submit(close())
    if EAGER:  # Python 3.12+: the request went on the wire inside submit()
        assert rig.broker.count("close_contract") == 1
    else:
        assert rig.executor.urgency.held  # the pipeline steps aside from the moment of the decision
        assert item.state is WorkState.PENDING
        assert rig.reports == []
    await rig.broker.wait_calls("close_contract")
    assert not rig.executor.urgency.held  # the request is on the wire, the answer not yet in
    assert [r.state for r in rig.reports] == [WorkState.SENT]
    assert rig.reports[0].urgency_held is False
    assert rig.reports[0].attempts == 1
    rig.broker.release("close_contract")
    await finish(item)
    assert rig.states(item) == [WorkState.SENT, WorkState.VERIFYING, WorkState.DONE]


async def test_urgency_is_held_per_urgent_item(rig: Rig) -> None:
    rig.broker.open_position(ACCT, ES, 1)
    oid = rig.broker.add_order(ACCT, NQ)
    rig.broker.hold("close_contract")
    rig.broker.hold("cancel_order")
    a, b = rig.submit(close()), rig.submit(cancel(oid))
    await rig.broker.wait_calls("close_contract")
    await rig.broker.wait_calls("cancel_order")
    assert not rig.executor.urgency.held  # both first requests left
    rig.broker.release("close_contract")
    rig.broker.release("cancel_order")
    await finish(a, b)


async def test_stop_placement_is_not_urgent_and_reports_pending_first(rig: Rig) -> None:
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.hold("place_stop")
    item = rig.submit(place_stop())
    assert not rig.executor.urgency.held
    await rig.broker.wait_calls("place_stop")
    assert rig.states(item) == [WorkState.PENDING, WorkState.SENT]
    rig.broker.release("place_stop")
    await finish(item)
    assert rig.states(item) == [WorkState.PENDING, WorkState.SENT, WorkState.VERIFYING, WorkState.DONE]


async def test_a_failing_update_hook_does_not_stop_enforcement() -> None:
    rig = make_rig()

    def broken(item: object) -> None:
        raise RuntimeError("sink down")

    rig.executor.set_update_hook(broken)
    rig.broker.open_position(ACCT, ES, 1)
    item = rig.submit(close())
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.size(ACCT, ES) == 0


# ----- failures -----------------------------------------------------------------------------------------
async def test_missing_broker_session_fails_at_once(rig: Rig) -> None:
    item = rig.submit(close(account_id=NO_SESSION))
    await finish(item)
    assert item.state is WorkState.FAILED
    assert item.result == {"error": "no broker session for this account"}
    assert rig.states(item) == [WorkState.FAILED]  # reported once, never retried
    assert rig.clock.slept == []
    assert rig.broker.calls == []
    assert not rig.executor.urgency.held
    assert rig.executor.in_flight == []
    assert len(rig.executor._locks) == 0


async def test_a_crashing_item_fails_with_its_error_and_the_executor_goes_on(rig: Rig) -> None:
    rig.broker.open_position(ACCT, ES, 3)

    async def broken_read(account_id: int) -> list[dict[str, object]]:
        raise KeyError("contractId")

    rig.broker.open_positions = broken_read  # type: ignore[method-assign]
    item = rig.submit(reduce(ES, 1))
    await finish(item)
    assert item.state is WorkState.FAILED
    assert item.result == {"error": "KeyError: 'contractId'"}
    assert not rig.executor.urgency.held
    oid = rig.broker.add_order(ACCT, ES)
    nxt = rig.submit(cancel(oid))
    await finish(nxt)
    assert nxt.state is WorkState.DONE


# ----- shutdown -----------------------------------------------------------------------------------------
async def test_drain_marks_unfinished_items_interrupted(rig: Rig) -> None:
    b = rig.broker
    b.open_position(ACCT, ES, 1)
    b.open_position(ACCT, NQ, 1)
    finished = rig.submit(close(NQ))
    await finish(finished)
    b.hold("close_contract")
    stuck = rig.submit(close(ES))
    await b.wait_calls("close_contract", 2)

    left = await rig.executor.drain(0.01)
    assert left == [stuck]
    assert stuck.state is WorkState.INTERRUPTED
    assert rig.states(stuck)[-1] is WorkState.INTERRUPTED
    assert finished.state is WorkState.DONE
    assert WorkState.INTERRUPTED not in rig.states(finished)
    await finish(stuck)  # its task is cancelled and cleans up
    assert stuck.state is WorkState.INTERRUPTED
    assert rig.executor.in_flight == []
    assert len(rig.executor._locks) == 0
    assert not rig.executor.urgency.held


async def test_drain_lets_items_finish_within_its_timeout(rig: Rig) -> None:
    rig.broker.events = "none"
    rig.broker.open_position(ACCT, ES, 1)
    item = rig.submit(close())
    assert await rig.executor.drain(2.0) == []
    assert item.state is WorkState.DONE


async def test_an_item_failing_while_stopping_is_not_retried(rig: Rig) -> None:
    rig.broker.events = "none"
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.always("close_contract", "noop")
    rig.broker.hold("close_contract")
    item = rig.submit(close())
    await rig.broker.wait_calls("close_contract")
    draining = asyncio.create_task(rig.executor.drain(2.0))
    await settle()
    assert rig.executor.stopping
    rig.broker.release("close_contract")
    assert await asyncio.wait_for(draining, 3.0) == []
    assert item.state is WorkState.FAILED
    assert rig.executor.settings.retry_failed_every_s not in rig.clock.slept


# ----- bounded memory -----------------------------------------------------------------------------------
async def test_no_lock_is_kept_for_finished_targets(rig: Rig) -> None:
    b = rig.broker
    orders = [b.add_order(ACCT, ES) for _ in range(30)]
    b.open_position(ACCT, ES, 1)
    b.hold("cancel_order")
    b.hold("close_contract")
    cancels = [rig.submit(cancel(oid)) for oid in orders]
    closing = rig.submit(close(ES))
    stop = rig.submit(place_stop(ES))  # shares the contract's lock with the close
    flatten = rig.submit(close_all(account_id=7003))  # nothing open there
    await b.wait_calls("cancel_order", 30)
    await b.wait_calls("close_contract")
    await finish(flatten)
    assert len(rig.executor._locks) > 0  # held while the items are in flight
    b.release("cancel_order")
    b.release("close_contract")
    await finish(*cancels, closing, stop, flatten)
    assert all(i.state is WorkState.DONE for i in [*cancels, closing, stop, flatten])
    assert len(rig.executor._locks) == 0
    assert rig.executor.in_flight == []
    assert enforce_tasks() == []
