"""Market data on a thread of its own, so that a fill is never queued behind quotes.

Why: on the daemon's one event loop every quote frame costs a wake-up, WebSocket framing and JSON
decoding, and a fill's frames wait behind whatever quote frames the loop took first (the breakdown
in docs/performance.md). Here the market hub runs on its own event loop in a thread. Quotes are
coalesced there, latest wins per contract with the pipeline's own merge (``pipeline.merge_quote``),
and handed to the main loop in batches: one wake-up carries every quote that arrived since the last
one, and the main loop's readers are left to the account events.

Threading rules (spec/daemon.md §1, "no thread touches state"): the thread owns only its hub
connection and the pending-quotes table (under a lock); it reaches the daemon through
``loop.call_soon_threadsafe`` (quotes, hub state changes) and runs the token calls it needs on the
main loop (``run_coroutine_threadsafe``), since the REST session belongs to that loop. Subscribing and
stopping are done the other way round. The hub itself is the ordinary :class:`MarketHub` - same
reconnects, same resubscription, same health reporting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from risk_manager.daemon.pipeline import merge_quote
from risk_manager.engine import events
from risk_manager.gateway.hub import HubState, StateCallback, TokenProvider, TokenRejected
from risk_manager.gateway.hubs import MarketHub

log = logging.getLogger("risk_manager.daemon.market")

T = TypeVar("T")
QuoteBatch = dict[str, tuple[dict[str, Any], int]]  # contract -> (merged quote, first arrival ns)
STOP_TIMEOUT_S = 3.0


class MarketFeed:
    """The market hub of one login, run on a thread; quotes reach ``on_quotes`` on the main loop."""

    def __init__(
        self,
        url: str,
        token_provider: TokenProvider,
        on_quotes: Callable[[QuoteBatch], None],
        *,
        on_state: StateCallback | None = None,
        token_rejected: TokenRejected | None = None,
        name: str = "market",
    ) -> None:
        self.name = name
        self._token_provider = token_provider
        self._token_rejected = token_rejected
        self._on_quotes = on_quotes
        self._on_state = on_state
        self._main: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending: QuoteBatch = {}
        self._scheduled = False
        self.hub = MarketHub(
            url,
            self._token,
            self._on_event,
            on_state=self._state_changed,
            on_gap=None,
            token_rejected=self._rejected,
            name=name,
        )

    @property
    def state(self) -> HubState:
        return self.hub.state

    # ----- the thread ---------------------------------------------------------------------------
    def _ensure_thread(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        self._main = asyncio.get_running_loop()
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"market-data-{self.name}", daemon=True)
        self._thread.start()
        ready.wait(5.0)
        self._loop = loop
        return loop

    async def _on_thread(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the market thread's loop and wait for it from the main loop."""
        loop = self._ensure_thread()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    async def _on_main(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call()`` on the main loop and wait for it from the market thread."""
        assert self._main is not None

        async def there() -> T:
            return await call()

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(there(), self._main))

    # ----- what the login calls (main loop) -------------------------------------------------------
    def start(self) -> None:
        loop = self._ensure_thread()
        loop.call_soon_threadsafe(self.hub.start)

    async def stop(self) -> None:
        if self._loop is None:
            return
        loop, thread = self._loop, self._thread
        try:
            await asyncio.wait_for(self._on_thread(self.hub.stop()), STOP_TIMEOUT_S)
        except (TimeoutError, RuntimeError):
            log.warning("%s: market data thread did not stop in time", self.name)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            await asyncio.to_thread(thread.join, STOP_TIMEOUT_S)
        self._loop = None
        self._thread = None

    async def subscribe_quotes(self, contract_id: str) -> None:
        await self._on_thread(self.hub.subscribe_quotes(contract_id))

    async def unsubscribe_quotes(self, contract_id: str) -> None:
        await self._on_thread(self.hub.unsubscribe_quotes(contract_id))

    # ----- callbacks of the hub (market thread) ---------------------------------------------------
    async def _token(self) -> str:
        return await self._on_main(self._token_provider)

    async def _rejected(self, token: str) -> Any:
        rejected = self._token_rejected
        if rejected is not None:
            return await self._on_main(lambda: rejected(token))
        return None

    def _state_changed(self, state: HubState, detail: str) -> None:
        if self._on_state is not None and self._main is not None:
            self._main.call_soon_threadsafe(self._on_state, state, detail)

    def _on_event(self, target: str, payload: Any) -> None:
        if target != events.QUOTE:
            return
        cid = payload.get("contractId") if isinstance(payload, dict) else None
        if not isinstance(cid, str):
            log.warning("%s: quote without a contractId skipped", self.name)
            return
        with self._lock:
            previous = self._pending.get(cid)
            if previous is None:
                self._pending[cid] = (payload, time.perf_counter_ns())
            else:
                self._pending[cid] = (merge_quote(previous[0], payload), previous[1])
            if self._scheduled:
                return  # a hand-over is already on its way: it will carry this quote too
            self._scheduled = True
        assert self._main is not None
        with contextlib.suppress(RuntimeError):  # the main loop is closing
            self._main.call_soon_threadsafe(self._hand_over)

    # ----- main loop ------------------------------------------------------------------------------
    def _hand_over(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, {}
            self._scheduled = False
        if batch:
            self._on_quotes(batch)
