"""Sliding-window limiter with a real clock: tests wait on task completion, never on sleeps."""

from __future__ import annotations

import asyncio

import pytest

from risk_manager.gateway.ratelimit import SlidingWindowLimiter
from tests.gateway.conftest import wait_until

pytestmark = pytest.mark.timeout(30)


async def test_window_limits_and_frees() -> None:
    limiter = SlidingWindowLimiter(3, 0.3, routine_share=1.0)
    for _ in range(3):
        await asyncio.wait_for(limiter.acquire(), 0.1)
    assert limiter.in_window() == 3
    blocked = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert not blocked.done() and limiter.waiting == 1
    await asyncio.wait_for(blocked, 2)  # admitted once the oldest entry leaves the window
    assert limiter.granted_routine == 4


async def test_waiting_enforcement_goes_first() -> None:
    limiter = SlidingWindowLimiter(2, 0.3, routine_share=1.0)
    await limiter.acquire()
    await limiter.acquire()
    order: list[str] = []

    async def take(name: str, priority: bool) -> None:
        await limiter.acquire(priority=priority)
        order.append(name)

    tasks = [asyncio.create_task(take("r1", False)), asyncio.create_task(take("r2", False))]
    await wait_until(lambda: limiter.waiting == 2, 2, "routine waiters")
    tasks += [asyncio.create_task(take("p1", True)), asyncio.create_task(take("p2", True))]
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == ["p1", "p2", "r1", "r2"]


async def test_routine_share_keeps_room_for_enforcement() -> None:
    limiter = SlidingWindowLimiter(10, 30.0, routine_share=0.5)
    assert limiter.routine_limit == 5
    for _ in range(5):
        await asyncio.wait_for(limiter.acquire(), 0.1)
    routine = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert not routine.done()
    for _ in range(5):  # enforcement still gets the other half at once, past the waiting routine call
        await asyncio.wait_for(limiter.acquire(priority=True), 0.1)
    assert limiter.granted_priority == 5
    blocked = asyncio.create_task(limiter.acquire(priority=True))
    await asyncio.sleep(0)
    assert not blocked.done()  # the hard limit holds everyone
    routine.cancel()
    blocked.cancel()
    await asyncio.gather(routine, blocked, return_exceptions=True)
    assert limiter.waiting == 0


async def test_cancelled_head_hands_over() -> None:
    limiter = SlidingWindowLimiter(1, 0.3, routine_share=1.0)
    await limiter.acquire()
    first = asyncio.create_task(limiter.acquire(priority=True))
    second = asyncio.create_task(limiter.acquire())
    await wait_until(lambda: limiter.waiting == 2, 2, "two waiters")
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 2)
    assert limiter.waiting == 0
