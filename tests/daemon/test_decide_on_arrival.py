"""The pipeline decides an account event on arrival when nothing is ahead of it (docs/performance.md):
the same order as the FIFO, without a turn of the event loop; everything else still queues.

A real engine and a real pipeline; the action sink records what it was handed and when."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from risk_manager.daemon.enforcement.urgency import READ_PAUSE_S, Urgency
from risk_manager.daemon.pipeline import INLINE_MAX, InternalEvent, Pipeline
from risk_manager.engine import Action, Engine, events
from tests.engine.conftest import ES, config, engine_with_contracts, order, pos

NOW = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)  # a Tuesday, inside the session
ACCT = 123


class Sink:
    def __init__(self) -> None:
        self.decided: list[tuple[str, list[Action]]] = []
        self.applied: list[str] = []

    def on_actions(self, actions: list[Action], event: InternalEvent) -> None:
        self.decided.append((event.name, actions))

    def on_applied(self, event: InternalEvent) -> None:
        self.applied.append(event.name)


def engine() -> Engine:
    cfg = config({"max_contracts": {"limit": 1, "count_type": "net", "enforcement": "reduce_to_limit"}})
    return engine_with_contracts(cfg, NOW)


@pytest.fixture
async def rig() -> AsyncIterator[tuple[Pipeline, Sink, Urgency]]:
    sink = Sink()
    urgency = Urgency()
    pipeline = Pipeline(engine(), sink.on_actions, sink.on_applied, clock=lambda: NOW, urgency=urgency)
    task = asyncio.create_task(pipeline.run())
    await wait_for(lambda: pipeline._running)
    yield pipeline, sink, urgency
    pipeline.stop()
    await asyncio.wait_for(task, 5)


async def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


def working(order_id: int) -> dict[str, Any]:
    return order(order_id, ES, side=0, otype=1, limit=5990.0, at=NOW, account=ACCT)


def breach(size: int = 2) -> dict[str, Any]:
    return pos(ES, size, 6000.0, NOW, account=ACCT)


async def test_an_event_on_an_idle_pipeline_is_decided_before_the_call_returns(rig: Any) -> None:
    pipeline, sink, _ = rig
    pipeline.broker_event(events.POSITION, breach())
    # No await in between: the decision was made inside the call (the hub reader's callback).
    assert pipeline.decided_on_arrival == 1
    assert [name for name, _ in sink.decided] == [events.POSITION]
    assert sink.decided[0][1][0].kind in ("close_position", "reduce_position")
    assert sink.applied == [events.POSITION]
    assert pipeline.engine.account(ACCT).positions[ES].size == 2


async def test_a_not_running_pipeline_queues(rig: Any) -> None:
    sink = Sink()
    idle = Pipeline(engine(), sink.on_actions, sink.on_applied, clock=lambda: NOW)
    idle.broker_event(events.POSITION, breach())
    assert idle.decided_on_arrival == 0 and not sink.decided  # queued until run() serves it


async def test_events_behind_a_running_control_wait_their_turn(rig: Any) -> None:
    pipeline, sink, _ = rig
    gate = asyncio.Event()
    seen: list[str] = []

    async def reconcile() -> list[Action]:
        seen.append("control started")
        await gate.wait()  # e.g. a REST snapshot being read
        seen.append("control done")
        return []

    pipeline.control(reconcile, name="reconcile")
    await wait_for(lambda: seen == ["control started"])
    pipeline.broker_event(events.POSITION, breach())
    assert pipeline.decided_on_arrival == 0 and not sink.decided  # queued behind the control
    gate.set()
    await wait_for(lambda: bool(sink.decided))
    assert seen == ["control started", "control done"]
    assert [name for name, _ in sink.decided] == [events.POSITION]


async def test_while_an_enforcement_request_is_leaving_events_queue(rig: Any) -> None:
    pipeline, sink, urgency = rig
    urgency.hold()  # the executor holds the gate until its request is written
    pause = pipeline.reading_pause()  # the hub reader waits on this before its next frame
    assert pause is not None and not pause.done()
    pipeline.broker_event(events.ORDER, working(7))
    assert pipeline.decided_on_arrival == 0 and sink.applied == []
    urgency.release()
    assert pause.done() and pipeline.reading_pause() is None  # the reader goes on at once
    await wait_for(lambda: sink.applied == [events.ORDER])


async def test_the_hub_reader_never_waits_longer_than_its_bound_for_a_request(rig: Any) -> None:
    pipeline, _, urgency = rig
    urgency.hold()  # a request that cannot leave (e.g. the REST budget is spent)
    loop = asyncio.get_running_loop()
    started = loop.time()
    pause = pipeline.reading_pause()
    assert pause is not None
    await asyncio.wait_for(pause, 1.0)  # done by its own timer, the gate still held
    assert loop.time() - started >= READ_PAUSE_S * 0.9 and urgency.held
    urgency.release()


async def test_a_burst_is_decided_on_arrival_only_up_to_the_limit_then_queued_in_order(rig: Any) -> None:
    pipeline, sink, _ = rig
    total = INLINE_MAX + 10
    for i in range(total):
        pipeline.broker_event(events.ORDER, working(100 + i))
    assert pipeline.decided_on_arrival == INLINE_MAX  # then the loop must turn first
    await wait_for(lambda: len(sink.applied) == total)
    ids = list(pipeline.engine.account(ACCT).orders)
    assert ids == [100 + i for i in range(total)]  # arrival order kept across both paths


async def test_a_paused_account_buffers_even_on_arrival(rig: Any) -> None:
    pipeline, sink, _ = rig
    pipeline.pause_account(ACCT)
    pipeline.broker_event(events.POSITION, breach())
    assert not sink.decided and ES not in pipeline.engine.account(ACCT).positions
    pipeline.resume_account(ACCT)
    await wait_for(lambda: bool(sink.decided))
    assert pipeline.engine.account(ACCT).positions[ES].size == 2


async def test_a_malformed_event_on_arrival_is_skipped_and_the_next_one_decided(rig: Any) -> None:
    pipeline, sink, _ = rig
    pipeline.broker_event(events.POSITION, {"accountId": ACCT, "contractId": ES, "size": "lots"})
    assert pipeline.malformed == 1 and not sink.decided
    pipeline.broker_event(events.POSITION, breach())
    assert [name for name, _ in sink.decided] == [events.POSITION]


async def test_an_asynchronous_sink_still_runs_when_decided_on_arrival() -> None:
    handed: list[str] = []

    async def on_actions(actions: list[Action], event: InternalEvent) -> None:
        await asyncio.sleep(0)
        handed.append(event.name)

    pipeline = Pipeline(engine(), on_actions, clock=lambda: NOW)
    task = asyncio.create_task(pipeline.run())
    await wait_for(lambda: pipeline._running)
    pipeline.broker_event(events.POSITION, breach())
    await wait_for(lambda: handed == [events.POSITION])
    pipeline.stop()
    await asyncio.wait_for(task, 5)


async def test_a_stop_runs_the_deferred_bookkeeping_and_decides_nothing_after_it(rig: Any) -> None:
    pipeline, sink, _ = rig
    ran: list[str] = []
    pipeline.broker_event(events.POSITION, breach())
    pipeline.later(lambda: ran.append("the position's records"))  # waits for the lull (LATER_QUIET_S)
    pipeline.stop()  # before the pipeline's task had its turn: the records are queued now, not dropped
    assert ran == ["the position's records"]
    pipeline.later(lambda: ran.append("deferred after the stop"))
    assert ran[-1] == "deferred after the stop"  # nothing would run it later
    pipeline.broker_event(events.ORDER, working(7))
    assert pipeline.decided_on_arrival == 1 and sink.applied == [events.POSITION]  # not decided


async def test_after_a_turn_of_the_loop_events_are_decided_on_arrival_again(rig: Any) -> None:
    pipeline, sink, _ = rig
    for i in range(INLINE_MAX):
        pipeline.broker_event(events.ORDER, working(300 + i))
    assert pipeline.decided_on_arrival == INLINE_MAX
    await asyncio.sleep(0)  # the loop turns (nothing was queued)
    pipeline.broker_event(events.ORDER, working(400))
    assert pipeline.decided_on_arrival == INLINE_MAX + 1 and len(sink.applied) == INLINE_MAX + 1
