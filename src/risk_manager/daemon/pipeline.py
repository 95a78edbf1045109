"""The event pipeline (spec/daemon.md §3): one event at a time, on the loop, in arrival order.

Account events, clock ticks and control events go through one FIFO and are never dropped (spec §3.2;
it stays short because nothing in the pipeline waits for a disk, and a backlog beyond ``FIFO_WARN``
is logged). Quotes are coalesced latest-wins per contract and processed when the FIFO is empty (and
at least every 50 ms under a continuous flow), so a burst of quotes costs one evaluation per contract.
The events of an account being reconciled are buffered, at most ``PAUSED_MAX`` of them (the oldest go
first: the REST snapshot read after them supersedes them). ``docs/persistence.md`` lists every queue.

An account event that finds the pipeline idle (nothing queued, nothing being decided, no enforcement
request waiting to leave) is decided on arrival, inside the hub reader's callback, instead of being
queued for the pipeline's task: the order is the same (there is nothing ahead of it), and a breach no
longer waits for a turn of the event loop (docs/performance.md). At most ``INLINE_MAX`` events are
decided that way in a row before the loop turns; beyond that they queue, so a burst cannot keep the
loop from the local API and the other hub.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from risk_manager import latency_trace
from risk_manager.daemon.enforcement.urgency import READ_PAUSE_S, Urgency
from risk_manager.engine import Action, Engine, MalformedEvent, events

log = logging.getLogger("risk_manager.daemon.pipeline")

QUOTE_MAX_DELAY = 0.05
# Deferred bookkeeping waits until account events have paused this long (the events of one fill
# arrive as a burst: the bookkeeping of its first event must not delay the breaching one) ...
LATER_QUIET_S = 0.002
# ... but never longer than this after it was deferred (a continuous flow still gets its pushes).
LATER_MAX_DELAY_S = 0.05
LATER_MAX = 1000  # deferred pushes run at once beyond this many (memory stays bounded)
PAUSED_MAX = 10_000  # buffered events per reconciling account
FIFO_WARN = 10_000  # a FIFO this long means the pipeline is not keeping up: said once
INLINE_MAX = 16  # account events decided on arrival before the loop must turn (then they queue)


@dataclass
class InternalEvent:
    """An input to the pipeline: a broker event, a clock tick, or a control callable."""

    name: str
    data: Any = None
    received_ns: int = field(default_factory=time.perf_counter_ns)
    login: str | None = None
    control: Callable[[], Awaitable[list[Action]] | list[Action]] | None = None
    seq: int = 0


def merge_quote(previous: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Coalescing two quotes of one contract: the newer one's fields win, except those it leaves
    out (None), which keep the older value (a partial update only carries what changed)."""
    merged = dict(previous)
    merged.update({k: v for k, v in update.items() if v is not None})
    return merged


ActionSink = Callable[[list[Action], InternalEvent], Awaitable[None] | None]
EventSink = Callable[[InternalEvent], None]


class Pipeline:
    def __init__(
        self,
        engine: Engine,
        on_actions: ActionSink,
        on_applied: EventSink | None = None,
        clock: Callable[[], datetime] | None = None,
        urgency: Urgency | None = None,
    ) -> None:
        self.engine = engine
        self.urgency = urgency
        self._on_actions = on_actions
        self._on_applied = on_applied
        self._clock = clock or (lambda: datetime.now(UTC))
        self._fifo: asyncio.Queue[InternalEvent] = asyncio.Queue()
        self._quotes: dict[str, tuple[dict[str, Any], int]] = {}
        self._wake = asyncio.Event()
        self._seq = 0
        self._paused_accounts: dict[int, deque[InternalEvent]] = {}
        self._fifo_warned = False
        self._overflowed: set[int] = set()
        self._later: deque[Callable[[], None]] = deque()
        self._later_since = 0.0  # monotonic time the oldest deferred work was queued
        self._last_arrival = 0.0  # monotonic time the last account event arrived
        self.events_processed = 0
        self.malformed = 0
        self.decided_on_arrival = 0
        self._stopped = False
        self._busy = False  # an event is being decided (a control may be awaiting I/O meanwhile)
        self._running = False  # run() is serving the FIFO
        self._inline_run = 0  # events decided on arrival since the event loop last turned
        self._side: set[asyncio.Future[Any]] = set()

    # ----- inputs -------------------------------------------------------------------------------
    def put(self, event: InternalEvent) -> None:
        self._seq += 1
        event.seq = self._seq
        self._fifo.put_nowait(event)
        trace = latency_trace.TRACE
        if trace is not None:
            trace.queued(event.seq)
        self._wake.set()
        if self._fifo.qsize() > FIFO_WARN and not self._fifo_warned:
            self._fifo_warned = True
            log.warning("%d events are waiting in the pipeline: it is not keeping up", self._fifo.qsize())

    def broker_event(
        self, name: str, payload: Any, login: str | None = None, received_ns: int | None = None
    ) -> None:
        """Entry point for hub callbacks: quotes are coalesced, everything else queued in order."""
        ns = received_ns or time.perf_counter_ns()
        if name == events.QUOTE:
            cid = payload.get("contractId") if isinstance(payload, dict) else None
            if not isinstance(cid, str):
                self.malformed += 1
                log.warning("quote without a contractId skipped")
                return
            previous = self._quotes.get(cid)
            if previous is not None:
                self._quotes[cid] = (merge_quote(previous[0], payload), previous[1])
            else:
                self._quotes[cid] = (payload, ns)
            self._wake.set()
            return
        self._last_arrival = time.monotonic()
        event = InternalEvent(name, payload, ns, login)
        if self._may_decide_now():
            self._decide_now(event)
        else:
            self.put(event)

    def _may_decide_now(self) -> bool:
        """Nothing is ahead of an arriving event: deciding it now keeps the order (module doc)."""
        return (
            self._running
            and not self._stopped
            and not self._busy
            and self._inline_run < INLINE_MAX
            and self._fifo.empty()
            and not (self.urgency is not None and self.urgency.held)
        )

    def reading_pause(self) -> asyncio.Future[None] | None:
        """For the user hub's reader, after each frame: while an enforcement request waits to leave,
        a future to wait for (done once it is written, at most ``READ_PAUSE_S``), so the fill's
        next frames are not decoded and decided ahead of it; None otherwise."""
        if self.urgency is None:
            return None
        return self.urgency.cleared(READ_PAUSE_S)

    def _decide_now(self, event: InternalEvent) -> None:
        self._seq += 1
        event.seq = self._seq
        if not self._inline_run:  # the first of a run: counted until the loop turns
            asyncio.get_running_loop().call_soon(self._loop_turned)
        self._inline_run += 1
        self.decided_on_arrival += 1
        trace = latency_trace.TRACE
        if trace is not None:
            trace.queued(event.seq)
        pending = self._decide(event)
        if pending is not None:  # an asynchronous action sink (tests): it runs beside, in order
            future = asyncio.ensure_future(pending)
            self._side.add(future)
            future.add_done_callback(self._side_done)
        if self._later:
            self._wake.set()  # the pipeline's task runs the deferred bookkeeping after the lull

    def _loop_turned(self) -> None:
        self._inline_run = 0

    def _side_done(self, future: asyncio.Future[Any]) -> None:
        self._side.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("action dispatch failed", exc_info=future.exception())

    def control(
        self, fn: Callable[[], Awaitable[list[Action]] | list[Action]], name: str = "control"
    ) -> None:
        self.put(InternalEvent(name, control=fn))

    def tick(self) -> None:
        self.put(InternalEvent(events.TICK))

    def later(self, work: Callable[[], None]) -> None:
        """Informational work (dashboard pushes, state snapshots): run once the events that are
        already queued have been decided and account events have paused for ``LATER_QUIET_S``
        (at most ``LATER_MAX_DELAY_S`` after it was deferred), so a fill's position event never waits
        behind the bookkeeping of the order and trade events before it, even when they arrive in
        separate frames. Once the pipeline has stopped nothing would run it later: it runs now."""
        if self._stopped:
            self._run_one(work)
            return
        if not self._later:
            self._later_since = time.monotonic()
        self._later.append(work)
        if len(self._later) > LATER_MAX:
            self._run_later()
        self._wake.set()

    def _later_wait(self) -> float:
        """Seconds until the deferred bookkeeping may run: account events have paused for
        ``LATER_QUIET_S``, or the oldest deferred work has waited ``LATER_MAX_DELAY_S``."""
        now = time.monotonic()
        due = min(self._last_arrival + LATER_QUIET_S, self._later_since + LATER_MAX_DELAY_S)
        return max(0.0, due - now)

    async def _idle(self, timeout: float) -> None:
        """Wait for the next input, at most ``timeout`` seconds."""
        self._wake.clear()
        handle = asyncio.get_running_loop().call_later(timeout, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            handle.cancel()

    def run_deferred(self) -> None:
        """Run the deferred bookkeeping now (a record that must follow it is about to be queued)."""
        self._run_later()

    def _run_later(self) -> None:
        trace = latency_trace.TRACE
        started = latency_trace.now_ns() if trace is not None else 0
        while self._later:
            self._run_one(self._later.popleft())
        if trace is not None:
            trace.span("later", started)

    @staticmethod
    def _run_one(work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:
            log.exception("deferred state push failed")

    # ----- buffering during reconciliation -------------------------------------------------------
    def pause_account(self, account_id: int) -> None:
        if account_id not in self._paused_accounts:
            self._paused_accounts[account_id] = deque(maxlen=PAUSED_MAX)

    def buffered(self, account_id: int) -> int:
        """How many events of the account are buffered (0 when it is not paused)."""
        return len(self._paused_accounts.get(account_id, ()))

    def resume_account(self, account_id: int) -> None:
        """Re-queue buffered events of the account (after its REST snapshot was applied)."""
        self._overflowed.discard(account_id)
        for event in self._paused_accounts.pop(account_id, []):
            self.put(event)

    @staticmethod
    def _account_of(event: InternalEvent) -> int | None:
        data = event.data
        if isinstance(data, dict):
            nested = data.get("data")
            inner: dict[str, Any] = nested if isinstance(nested, dict) and "id" not in data else data
            if event.name == events.ACCOUNT:
                value = inner.get("id")
            else:
                value = inner.get("accountId")
            return value if isinstance(value, int) else None
        return None

    # ----- the loop ------------------------------------------------------------------------------
    def stop(self) -> None:
        """No event is decided after this. The deferred bookkeeping of the events already decided
        runs now: it queues their records (a fill's trade row among them), which a clean stop must
        commit before the database closes (docs/persistence.md)."""
        self._stopped = True
        self._wake.set()
        self._run_later()

    async def run(self) -> None:
        last_quotes = time.monotonic()
        self._running = True
        try:
            await self._serve(last_quotes)
        finally:
            self._running = False

    async def _serve(self, last_quotes: float) -> None:
        while not self._stopped:
            if self._fifo.empty() and not self._quotes:
                self._fifo_warned = False
                if self._later:
                    if self.urgency is not None and self.urgency.held:
                        await self.urgency.wait_clear()  # bookkeeping never delays a request
                        continue
                    wait = self._later_wait()
                    if wait > 0:
                        await self._idle(wait)  # an event arriving meanwhile goes first
                        continue
                    self._run_later()
                    continue
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.urgency is not None and self.urgency.held:
                await self.urgency.wait_clear()  # an enforcement request is leaving: let it go first
            if not self._fifo.empty() and (
                not self._quotes or time.monotonic() - last_quotes < QUOTE_MAX_DELAY
            ):
                await self._process(self._fifo.get_nowait())
            else:
                last_quotes = time.monotonic()
                await self._process_quotes()
            if (
                self._later
                and self._fifo.empty()
                and not (self.urgency and self.urgency.held)
                and self._later_wait() <= 0
            ):
                self._run_later()  # the queued events are decided: now the bookkeeping
            await asyncio.sleep(0)  # let hub readers and the API breathe between events

    async def _process_quotes(self) -> None:
        quotes, self._quotes = self._quotes, {}
        for cid, (payload, ns) in quotes.items():
            data = payload if payload.get("contractId") == cid else dict(payload, contractId=cid)
            self._seq += 1  # every event has its own id: it is the cause in enforcement keys
            await self._process(InternalEvent(events.QUOTE, data, ns, seq=self._seq))

    async def _process(self, event: InternalEvent) -> None:
        if event.control is None:
            await self._handed_over(self._decide(event))
            return
        self._busy = True
        try:
            await self._control(event)
        finally:
            self._busy = False

    async def _control(self, event: InternalEvent) -> None:
        assert event.control is not None
        try:
            result = event.control()
            actions = await result if inspect.isawaitable(result) else result
        except Exception:
            log.exception("engine error on %s (event skipped, daemon keeps running)", event.name)
            return
        self.events_processed += 1
        if actions:
            await self._handed_over(self._dispatch(actions, event))

    @staticmethod
    async def _handed_over(pending: Awaitable[None] | None) -> None:
        """Wait for an asynchronous action sink's work (the daemon's is synchronous: None)."""
        if pending is None:
            return
        try:
            await pending
        except Exception:
            log.exception("action dispatch failed")

    def _decide(self, event: InternalEvent) -> Awaitable[None] | None:
        """Apply one broker event or tick and hand its decision over; never waits (nothing here
        touches a disk or the network). Returns the action sink's awaitable if it has one."""
        if event.name not in (events.QUOTE, events.TICK) and self._paused_accounts:
            account = self._account_of(event)
            if account is not None and account in self._paused_accounts:
                buffered = self._paused_accounts[account]
                if len(buffered) == PAUSED_MAX and account not in self._overflowed:
                    self._overflowed.add(account)
                    log.warning("reconcile buffer full: the oldest buffered events give way", extra={"acct": account})
                buffered.append(event)  # beyond PAUSED_MAX the oldest one is dropped
                return None
        self._busy = True
        try:
            return self._apply(event)
        finally:
            self._busy = False

    def _apply(self, event: InternalEvent) -> Awaitable[None] | None:
        trace = latency_trace.TRACE
        started, marking = 0, False
        if trace is not None:
            started = latency_trace.now_ns()
            latency_trace.KEY.set(event.seq)
            marking = event.name != events.QUOTE  # quotes: a span each, no stage marks
            if marking:
                trace.mark(event.seq, "start", started)
        now = self._clock()
        actions: list[Action]
        try:
            if event.name == events.TICK:
                actions = self.engine.tick(now)
            else:
                actions = self.engine.evaluate(event.name, event.data, now)
        except MalformedEvent as exc:
            self.malformed += 1
            log.warning("malformed %s skipped: %s", event.name, exc)
            log.debug("malformed payload: %r", event.data)
            return None
        except Exception:
            log.exception("engine error on %s (event skipped, daemon keeps running)", event.name)
            return None
        self.events_processed += 1
        if marking and trace is not None:
            trace.mark(event.seq, "engine")
        if self._on_applied is not None:  # first: the executor's evidence must see this event
            try:
                self._on_applied(event)
            except Exception:
                log.exception("state push failed")
        pending = None
        if actions:
            if trace is not None:
                trace.mark(event.seq, "dispatched")  # handed over (the executor may start eagerly)
            pending = self._dispatch(actions, event)
        if trace is not None:
            trace.span(event.name, started)
        return pending

    def _dispatch(self, actions: list[Action], event: InternalEvent) -> Awaitable[None] | None:
        try:
            pending = self._on_actions(list(actions), event)
        except Exception:
            log.exception("action dispatch failed")
            return None
        return pending
