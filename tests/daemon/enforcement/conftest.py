"""The executor under test, wired to the in-memory broker and a manual clock, plus action builders."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from risk_manager.daemon.clock import ManualClock
from risk_manager.daemon.enforcement.executor import Executor
from risk_manager.daemon.enforcement.steps import ExecutorSettings
from risk_manager.daemon.enforcement.work import WorkItem, WorkState
from risk_manager.engine.actions import Action, ActionKind
from tests.daemon.enforcement.fake_broker import WAIT_S, FakeBroker

ACCT = 7001
OTHER = 7002  # a second account on the same broker
NO_SESSION = 7999  # an account whose broker session is missing
ES = "CON.F.US.EP.M26"
NQ = "CON.F.US.ENQ.M26"
RTY = "CON.F.US.RTY.M26"
AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

# Distinct from the defaults, so a test can tell the delays come from the settings; no jitter, so
# ``clock.slept`` is exact. Real waits are only the event waits of verify_wait_s.
SETTINGS = ExecutorSettings(
    backoff_s=(0.0, 0.11, 0.23, 0.47),
    jitter=0.0,
    verify_wait_s=0.02,
    max_rounds=3,
    max_seconds=10.0,
    retry_failed_every_s=30.0,
)


@dataclass
class Report:
    key: str
    state: WorkState
    attempts: int
    result: dict[str, Any]
    urgency_held: bool


@dataclass
class Rig:
    broker: FakeBroker
    clock: ManualClock
    executor: Executor
    reports: list[Report] = field(default_factory=list)
    sessions_asked: list[int] = field(default_factory=list)
    reported: asyncio.Event = field(default_factory=asyncio.Event)

    def submit(self, action: Action, cause: str = "evt-1") -> WorkItem:
        item = self.executor.submit(action, cause=cause)
        assert item is not None
        return item

    def states(self, item: WorkItem) -> list[WorkState]:
        return [r.state for r in self.reports if r.key == item.key]

    async def wait_state(self, item: WorkItem, state: WorkState) -> None:
        async with asyncio.timeout(WAIT_S):
            while item.state is not state:
                self.reported.clear()
                await self.reported.wait()


async def finish(*items: WorkItem) -> None:
    """Wait until every item has its outcome (fails after WAIT_S)."""
    await asyncio.wait_for(asyncio.gather(*(i.done.wait() for i in items)), WAIT_S)


async def settle() -> None:
    """Let every task that is ready run until it waits on something (no time passes). Used only
    before asserting that something did *not* happen."""
    for _ in range(50):
        await asyncio.sleep(0)


def make_rig(clock: ManualClock | None = None, settings: ExecutorSettings = SETTINGS) -> Rig:
    broker = FakeBroker()
    clock = clock or ManualClock()
    rig: Rig

    def ops_for(account_id: int) -> FakeBroker | None:
        rig.sessions_asked.append(account_id)
        return None if account_id == NO_SESSION else broker

    def on_update(item: WorkItem) -> None:
        rig.reports.append(
            Report(item.key, item.state, item.attempts, dict(item.result), rig.executor.urgency.held)
        )
        rig.reported.set()

    executor = Executor(ops_for, on_update, clock=clock, settings=settings)
    rig = Rig(broker, clock, executor)
    broker.executor = executor
    return rig


@pytest.fixture
def rig() -> Rig:
    return make_rig()


# ----- actions ------------------------------------------------------------------------------------------
def action(kind: ActionKind, account_id: int = ACCT, **fields: Any) -> Action:
    return Action(account_id, "RULE-003", kind, f"test {kind}", AT, **fields)


def close(contract_id: str = ES, account_id: int = ACCT, **fields: Any) -> Action:
    return action(ActionKind.CLOSE_POSITION, account_id, contract_id=contract_id, **fields)


def reduce(contract_id: str, by: int, account_id: int = ACCT) -> Action:
    return action(ActionKind.REDUCE_POSITION, account_id, contract_id=contract_id, size=by)


def close_all(account_id: int = ACCT) -> Action:
    return action(ActionKind.CLOSE_ALL, account_id)


def cancel_all(account_id: int = ACCT) -> Action:
    return action(ActionKind.CANCEL_ALL, account_id)


def cancel(order_id: int, account_id: int = ACCT) -> Action:
    return action(ActionKind.CANCEL_ORDER, account_id, order_id=order_id)


def place_stop(contract_id: str = ES, price: str = "4990.25", size: int = 1, side: int = 1) -> Action:
    return action(
        ActionKind.PLACE_STOP, contract_id=contract_id, size=size, side=side, stop_price=Decimal(price)
    )


def modify_stop(order_id: int, price: str, contract_id: str = ES) -> Action:
    return action(
        ActionKind.MODIFY_STOP, contract_id=contract_id, order_id=order_id, stop_price=Decimal(price)
    )
