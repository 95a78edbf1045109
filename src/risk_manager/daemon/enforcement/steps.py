"""The mechanics every procedure shares: state changes that are reported, a money-moving call that
is classified without ever being repeated blindly, verification reads that are retried rather than
trusted to fail, back-off, and the urgency gate around requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from risk_manager.broker_ops import BrokerRejected, OutcomeUncertain
from risk_manager.daemon.clock import Clock
from risk_manager.daemon.enforcement.urgency import Urgency
from risk_manager.daemon.enforcement.work import WorkItem, WorkState
from risk_manager.gateway.errors import GatewayError
from risk_manager.gateway.session import REQUEST_SENT

log = logging.getLogger("risk_manager.daemon.executor")

#: what a verification read may fail with when the broker (not our code) is the cause
READ_FAILURES: tuple[type[BaseException], ...] = (
    BrokerRejected,
    OutcomeUncertain,
    GatewayError,
    OSError,
    TimeoutError,
)

T = TypeVar("T")


@dataclass(frozen=True)
class ExecutorSettings:
    """The bounds of spec/daemon.md §4.2."""

    backoff_s: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0)
    jitter: float = 0.1  # +-10 % on each back-off
    verify_wait_s: float = 0.3  # how long a confirming event is waited for before a read
    max_rounds: int = 5
    max_seconds: float = 10.0
    retry_failed_every_s: float = 30.0


class Steps:
    def __init__(
        self,
        clock: Clock,
        urgency: Urgency,
        report: Callable[[WorkItem], None],
        settings: ExecutorSettings,
    ) -> None:
        self.clock = clock
        self.urgency = urgency
        self.settings = settings
        self._report = report

    def set(self, item: WorkItem, state: WorkState) -> None:
        if item.state != state:
            item.state = state
            self._report(item)

    def report(self, item: WorkItem) -> None:
        self._report(item)

    async def backoff(self, attempt: int) -> None:
        delays = self.settings.backoff_s
        delay = delays[min(attempt, len(delays) - 1)]
        if delay:
            j = self.settings.jitter
            await self.clock.sleep(delay * random.uniform(1 - j, 1 + j))

    def mark_request(self, item: WorkItem) -> None:
        item.attempts += 1
        if item.first_request_ms is None:
            item.first_request_ms = item.elapsed_ms()

    def release(self, item: WorkItem) -> None:
        if item.urgent:
            item.urgent = False
            self.urgency.release()

    @contextlib.contextmanager
    def sending(self, item: WorkItem) -> Iterator[None]:
        """Around money-moving calls: the moment a request is on the wire the pipeline may go on
        (urgency released) and the item is reported ``sent``; released in any case at the end.

        The HTTP layer calls ``sent`` right after the write (``gateway/session.py``); by then the
        broker's own event may already have moved the item on (``mutate_until``), and aiohttp may
        signal one body more than once: ``sent`` is told once, and a newer state is never set back."""
        started = item.state

        def sent() -> None:
            self.release(item)
            if item.state is started:
                self.set(item, WorkState.SENT)

        token = REQUEST_SENT.set(sent)
        try:
            yield
        finally:
            REQUEST_SENT.reset(token)
            self.release(item)

    async def mutate(self, item: WorkItem, call: Awaitable[Any]) -> Any:
        """Send one money-moving call; classify its outcome without ever repeating it blindly."""
        self.mark_request(item)
        try:
            with self.sending(item):
                result = await call
        except BrokerRejected as exc:
            item.result = {"rejected": str(exc)}
            self.set(item, WorkState.VERIFYING)
            return None
        except OutcomeUncertain as exc:
            item.result = {"uncertain": str(exc)}
            self.set(item, WorkState.UNCERTAIN)
            return None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any other answer (a 400, a garbled body): the broker's state decides
            item.result = {"error": f"{type(exc).__name__}: {exc}"}
            self.set(item, WorkState.VERIFYING)
            return None
        self.set(item, WorkState.VERIFYING)
        return result

    async def mutate_until(
        self, item: WorkItem, call: Coroutine[Any, Any, Any], confirmed: Coroutine[Any, Any, bool]
    ) -> bool:
        """Send one money-moving call, and stop waiting for its answer as soon as the broker's own
        event confirms the goal (``confirmed``): an answer held back by a slow or timing-out broker
        must not keep a position that is already flat reported as "sent". Returns True when the
        event confirmed it (the call's answer, if still outstanding, is abandoned)."""
        me = asyncio.current_task()
        assert me is not None
        watching = asyncio.ensure_future(confirmed)
        cut = False
        answering = True

        def on_confirmed(done: asyncio.Future[bool]) -> None:
            nonlocal cut
            if answering and not done.cancelled() and done.exception() is None and done.result():
                cut = True
                me.cancel()  # stop waiting for the answer: the broker's own event confirmed the goal

        watching.add_done_callback(on_confirmed)
        try:
            try:
                # In this task, not a new one: the request leaves without waiting for a turn of the loop.
                await self.mutate(item, call)
            except asyncio.CancelledError:
                if cut and me.uncancel() == 0:  # only our own cut (a stop would still be pending)
                    item.result = {"answer": "not awaited: the broker's event confirmed it first"}
                    self.set(item, WorkState.VERIFYING)
                    return True
                raise
            finally:
                answering = False
            return watching.done() and not watching.cancelled() and watching.exception() is None and watching.result()
        finally:
            if not watching.done():
                watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)

    async def read(self, item: WorkItem, fetch: Callable[[], Awaitable[T]]) -> T:
        """A verification read that is retried until the broker answers (spec/daemon.md §4.2).

        A failed read says nothing about the broker's state, so it never ends an item: the item is
        ``uncertain`` meanwhile and the read is repeated with the back-off (at most 2 s apart). The
        time lost is added to ``item.stalled_s`` (a bound counts the broker's answers, not its silence)."""
        failures = 0
        started = self.clock.monotonic()
        while True:
            try:
                value = await fetch()
            except READ_FAILURES as exc:  # the broker did not answer usefully; a bug in our code
                failures += 1  # is not retried: it fails the item like any other crash
                self.release(item)  # nothing is leaving: the pipeline must not wait for this
                item.result = dict(item.result) | {"readError": f"{type(exc).__name__}: {exc}"}
                self.set(item, WorkState.UNCERTAIN)
                log.warning(
                    "verification read failed (%s: %s); reading again", type(exc).__name__, exc,
                    extra={"acct": item.account_id},
                )
                await self.backoff(failures)
                continue
            if failures:
                # The time the broker would not answer does not count against the item's bound.
                item.stalled_s += self.clock.monotonic() - started
            return value
