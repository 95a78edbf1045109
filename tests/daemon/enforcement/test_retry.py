"""The retry ladder: back-off from the settings, bounded by rounds and seconds, then ``failed``, then
a periodic retry while the item is kept (spec/daemon.md §4.2)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from risk_manager.daemon.enforcement.work import WorkState
from tests.daemon.enforcement.conftest import (
    ACCT,
    ES,
    NQ,
    SETTINGS,
    close,
    close_all,
    finish,
    make_rig,
)
from tests.daemon.enforcement.fake_broker import WAIT_S, HeldClock

RETRY_S = SETTINGS.retry_failed_every_s


async def wait_failed(clock: HeldClock) -> None:
    """Until the item has failed and sleeps towards its periodic retry."""
    await asyncio.wait_for(clock.waiting.wait(), WAIT_S)


async def test_close_ladder_backs_off_as_configured_fails_then_retries_periodically() -> None:
    clock = HeldClock(RETRY_S)
    rig = make_rig(clock)
    rig.broker.events = "none"
    rig.broker.open_position(ACCT, ES, 2)
    rig.broker.always("close_contract", "noop")  # accepted, never executed
    item = rig.submit(close())

    await wait_failed(clock)
    attempts = SETTINGS.max_rounds * 2  # a single close gets two attempts per round
    assert item.state is WorkState.FAILED
    assert not item.done.is_set()
    assert rig.broker.count("close_contract") == attempts
    assert item.attempts == attempts
    assert item.result["error"] == "position still open"
    # attempt n waits backoff_s[n] (the last one repeats), then the periodic retry's wait
    assert clock.slept == [0.11, 0.23, 0.47, 0.47, 0.47, RETRY_S]
    assert rig.states(item).count(WorkState.FAILED) == 1
    assert rig.executor.in_flight == [item]
    assert rig.submit(close(), cause="evt-2") is item  # a failed item still carries its target

    rig.broker.always("close_contract", "ok")  # the broker acts again
    clock.release()
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.count("close_contract") == attempts + 1
    assert rig.broker.size(ACCT, ES) == 0
    assert rig.states(item)[-5:] == [
        WorkState.FAILED,
        WorkState.RETRYING,
        WorkState.SENT,
        WorkState.VERIFYING,
        WorkState.DONE,
    ]
    assert rig.executor.in_flight == []


async def test_periodic_retry_reads_before_it_sends() -> None:
    """After ``failed`` the position may have been closed by hand: the retry reads first."""
    clock = HeldClock(RETRY_S)
    rig = make_rig(clock)
    rig.broker.events = "none"
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.always("close_contract", "noop")
    item = rig.submit(close())
    await wait_failed(clock)
    sent = rig.broker.count("close_contract")

    rig.broker.positions[ACCT].clear()  # the trader closed it meanwhile
    clock.release()
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.count("close_contract") == sent
    assert rig.broker.names()[-1] == "open_positions"


async def test_close_ladder_is_bounded_by_seconds() -> None:
    settings = replace(SETTINGS, max_rounds=10, max_seconds=0.5)
    clock = HeldClock(RETRY_S)
    rig = make_rig(clock, settings)
    rig.broker.events = "none"
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.always("close_contract", "noop")
    item = rig.submit(close())
    await wait_failed(clock)
    # sent at t=0, 0.11 and 0.34; at t=0.81 the 0.5 s bound has passed: no fourth close
    assert rig.broker.count("close_contract") == 3
    assert clock.slept == [0.11, 0.23, 0.47, RETRY_S]
    assert item.state is WorkState.FAILED
    clock.release()  # the periodic retry has the same bound
    await wait_failed(clock)
    assert rig.broker.count("close_contract") == 6
    assert clock.slept[4:] == [0.11, 0.23, 0.47, RETRY_S]
    assert await rig.executor.drain(0.01) == [item]
    assert item.state is WorkState.INTERRUPTED


async def test_flatten_is_bounded_by_rounds_then_fails_and_retries() -> None:
    clock = HeldClock(RETRY_S)
    rig = make_rig(clock)
    rig.broker.events = "none"
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.open_position(ACCT, NQ, 1)
    rig.broker.always("close_contract", "noop")
    item = rig.submit(close_all())

    await wait_failed(clock)
    rounds = SETTINGS.max_rounds
    assert rig.broker.count("close_contract") == 2 * rounds  # both positions, every round
    assert item.attempts == rounds
    assert clock.slept == [0.11, 0.23, 0.47, RETRY_S]  # rounds back off, then the periodic retry
    assert item.state is WorkState.FAILED
    assert item.result == {
        "error": "still open after the bounded flatten",
        "positions": [ES, NQ],
        "orders": [],
    }

    rig.broker.always("close_contract", "ok")
    clock.release()
    await finish(item)
    assert item.state is WorkState.DONE
    assert rig.broker.positions[ACCT] == {ES: 0, NQ: 0}
    assert rig.states(item)[-1] is WorkState.DONE


async def test_backoff_jitter_stays_within_its_band() -> None:
    jitter = 0.1
    settings = replace(SETTINGS, jitter=jitter)
    clock = HeldClock(RETRY_S)
    rig = make_rig(clock, settings)
    rig.broker.events = "none"
    rig.broker.open_position(ACCT, ES, 1)
    rig.broker.always("close_contract", "noop")
    rig.submit(close())
    await wait_failed(clock)
    ladder = clock.slept[:-1]
    nominal = [0.11, 0.23, 0.47, 0.47, 0.47]
    assert len(ladder) == len(nominal)
    for got, want in zip(ladder, nominal, strict=True):
        assert want * (1 - jitter) <= got <= want * (1 + jitter)
    await rig.executor.drain(0.01)
