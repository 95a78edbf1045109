"""A work item: one engine action being carried out at the broker, and the states it goes through
(spec/daemon.md §4.1). The states are the ``state`` column of ``enforcement_log`` and the ``state`` of
an ``enforcement`` push."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from risk_manager.engine.actions import Action, ActionKind


class WorkState(StrEnum):
    PENDING = "pending"  # decided, first request not yet on the wire
    SENT = "sent"  # a money-moving request is on the wire
    VERIFYING = "verifying"  # answered; waiting for the broker's own state to confirm
    UNCERTAIN = "uncertain"  # no answer we can trust: the next step is a read, never a blind repeat
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"  # the bounded attempt ran out; retried periodically while the item is kept
    OBSERVED = "observed"  # observe-only: recorded, never sent
    INTERRUPTED = "interrupted"  # the daemon stopped first; re-checked at the next start

    @property
    def final(self) -> bool:
        """The item has its outcome (``enforcement.jsonl`` gets its one line)."""
        return self in _FINAL

    @property
    def completed(self) -> bool:
        """The record is complete (``completed_at`` is set; an earlier run's key may be reused)."""
        return self in _COMPLETED

    @classmethod
    def open_states(cls) -> tuple[WorkState, ...]:
        """States of an item still being worked on (marked ``interrupted`` at a clean stop)."""
        return tuple(s for s in cls if s not in _FINAL)

    @classmethod
    def unfinished(cls) -> tuple[WorkState, ...]:
        """States of a record whose outcome is unknown: re-checked against the broker at start."""
        return tuple(s for s in cls if s not in _COMPLETED)


_FINAL = frozenset({WorkState.DONE, WorkState.FAILED, WorkState.OBSERVED, WorkState.INTERRUPTED})
_COMPLETED = frozenset({WorkState.DONE, WorkState.FAILED, WorkState.OBSERVED})


def work_key(account_id: int, kind: str, target: object, cause: str) -> str:
    """The idempotency key of a decision: same account, action, target and causing event."""
    return hashlib.sha1(f"{account_id}|{kind}|{target}|{cause}".encode()).hexdigest()[:20]


@dataclass
class WorkItem:
    key: str
    action: Action
    cause: str
    received_ns: int | None  # perf_counter_ns of the causing event (latency figures)
    created: datetime
    state: WorkState = WorkState.PENDING
    attempts: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    first_request_ms: float | None = None
    confirmed_ms: float | None = None
    record_id: int | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    reported: tuple[Any, ...] | None = None  # last (state, attempts, confirmed) told to the world
    urgent: bool = False  # holds the pipeline's urgency gate until its first request is written
    #: set when the item must try again at once: a new breach joined it, or the broker's events
    #: showed a change while it rested after a failed bound (cleared at the start of each attempt)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    resting: bool = False  # failed its bounded attempt; waits for the periodic retry or a wake-up
    resumed: bool = False  # an unfinished record of an earlier run, re-checked against the broker
    stalled_s: float = 0.0  # time lost to verification reads the broker did not answer

    @property
    def account_id(self) -> int:
        return self.action.account_id

    @property
    def target(self) -> str | int | None:
        a = self.action
        if a.kind in (ActionKind.CANCEL_ORDER, ActionKind.MODIFY_STOP):
            return a.order_id
        return a.contract_id

    def elapsed_ms(self) -> float | None:
        if self.received_ns is None:
            return None
        return (time.perf_counter_ns() - self.received_ns) / 1e6
