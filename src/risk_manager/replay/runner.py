"""Replay: feed a recorded session through the engine with its own clock.

No broker is involved, so positions stay open until the recording says otherwise and the same
decision may come back on later events; an identical action is reported at most once per second.
Between two events the engine's 1-second tick runs on the grid that starts at the earlier event, up
to and including the new line's time, but only at the instants where something can happen
(``Engine.next_deadline``); the skipped ticks would decide nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from risk_manager.engine import Action, Engine
from risk_manager.engine.events import EVENT_NAMES, TICK, MalformedEvent, parse_time

_SECOND = timedelta(seconds=1)


class ReplayInputError(ValueError):
    """A line of the recording that cannot be replayed (reported, then skipped)."""


@dataclass
class ReplayStats:
    events: int = 0
    skipped: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None


def parse_line(line: str, number: int) -> dict[str, Any] | None:
    """One JSONL line -> event dict; None for a blank line; ReplayInputError with the line number."""
    text = line.strip()
    if not text:
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReplayInputError(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ReplayInputError(f"line {number}: expected an object with 'at', 'event' and 'data'")
    return obj


class Replayer:
    """Drives an Engine over event dicts and yields the de-duplicated actions."""

    def __init__(self, engine: Engine, *, account: int | None = None) -> None:
        self.engine = engine
        self.account = account
        self.stats = ReplayStats()
        self._clock: datetime | None = None
        self._last_emitted: dict[tuple[Any, ...], datetime] = {}
        self._last_tick: datetime | None = None

    def _emit(self, actions: list[Action]) -> Iterator[Action]:
        for action in actions:
            if self.account is not None and action.account_id != self.account:
                continue
            key = action.key()
            last = self._last_emitted.get(key)
            if last is not None and action.at - last < _SECOND:
                continue
            self._last_emitted[key] = action.at
            self.stats.actions[action.rule] += 1
            yield action

    def _tick_until(self, at: datetime) -> Iterator[Action]:
        """Run the grid ticks up to and including ``at`` at which the engine has something due."""
        start = self._clock
        if start is None:
            return
        k = 1
        while True:
            due = self.engine.next_deadline()
            if due is None:
                return
            if due > start:
                k = max(k, -(-(due - start) // _SECOND))  # ceil: first grid tick at or after ``due``
            when = start + k * _SECOND
            if when > at:
                return
            self._last_tick = when
            yield from self._emit(self.engine.tick(when))
            k += 1

    def feed(self, event: dict[str, Any], where: str = "event") -> Iterator[Action]:
        name = event.get("event")
        at = parse_time(event.get("at"))
        if at is None or not isinstance(event.get("at"), str):
            raise ReplayInputError(f"{where}: 'at' must be an ISO-8601 UTC time, got {event.get('at')!r}")
        if name not in EVENT_NAMES:
            raise ReplayInputError(
                f"{where}: unknown event {name!r} (expected one of {', '.join(sorted(EVENT_NAMES))})"
            )
        if self._clock is not None and at < self._clock:
            raise ReplayInputError(f"{where}: time {event['at']} is earlier than the previous line")
        data = event.get("data", {})
        self.stats.first = self.stats.first or at
        self.stats.last = at
        yield from self._tick_until(at)
        self._clock = at
        if name == TICK:
            self.stats.events += 1
            if self._last_tick != at:  # the grid may already have ticked at this very instant
                yield from self._emit(self.engine.tick(at))
            return
        try:
            actions = self.engine.evaluate(name, data, at)
        except MalformedEvent as exc:
            raise ReplayInputError(f"{where}: malformed {name}: {exc}") from None
        self.stats.events += 1  # a skipped line is counted as skipped, not as replayed
        yield from self._emit(actions)

    def run(
        self, events: Iterable[dict[str, Any]], on_error: Callable[[str], None] | None = None
    ) -> Iterator[Action]:
        for index, event in enumerate(events, start=1):
            try:
                yield from self.feed(event, where=f"event {index}")
            except ReplayInputError as exc:
                self.stats.skipped += 1
                if on_error is None:
                    raise
                on_error(str(exc))


def replay_events(
    events: Iterable[dict[str, Any]], config: Any, *, account: int | None = None
) -> list[dict[str, Any]]:
    """Replay event dicts against a loaded configuration; returns the action dicts in order."""
    replayer = Replayer(Engine.from_config(config), account=account)
    return [a.to_dict() for a in replayer.run(events)]
