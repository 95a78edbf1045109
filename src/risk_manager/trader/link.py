"""The dashboard's link to the daemon: connect, snapshot, pushes, reconnect, offline fallback (§4).

One task owns the connection. A failed connect or a lost connection (closed, or silent for 10 s)
switches to the offline view at once and retries forever with backoff 1, 2, 4, 8, then every 10 s
(±10 % jitter); ``retry_now`` (the ``r`` key) cuts the wait short. While not live, the database is
polled every 2 s in a worker thread and the screen is updated only when the data changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Protocol

from websockets.exceptions import InvalidHandshake, InvalidURI

from risk_manager.daemon.api.protocol import SUPPORTED_VERSIONS
from risk_manager.trader.backoff import Backoff
from risk_manager.trader.client import SILENCE_S, ConnectionLost, DaemonClient
from risk_manager.trader.offline import OfflineError, read_snapshot

log = logging.getLogger("risk_manager.trader.link")

POLL_S = 2.0

CONNECTING = "connecting"
LIVE = "live"
RECONNECTING = "reconnecting"


class LinkSink(Protocol):
    """The app: every callback runs on the app's event loop."""

    def link_snapshot(self, data: dict[str, Any], *, recovered: bool) -> None: ...

    def link_message(self, msg: dict[str, Any]) -> None: ...

    def link_state(self, reason: str) -> None: ...

    def link_offline(self, data: dict[str, Any] | None, error: str | None) -> None: ...

    def link_protocol(self, text: str) -> None: ...


class Link:
    def __init__(
        self,
        url: str,
        db_path: Path | None,
        sink: LinkSink,
        *,
        backoff: Backoff | None = None,
        silence_s: float = SILENCE_S,
        poll_s: float = POLL_S,
    ) -> None:
        self.url = url
        self.db_path = db_path
        self.sink = sink
        self.backoff = backoff or Backoff()
        self.silence_s = silence_s
        self.poll_s = poll_s
        self.state = CONNECTING
        self.reason = ""
        self.retry_at: float | None = None  # monotonic time of the next attempt while reconnecting
        self.reconnects = 0
        self.client: DaemonClient | None = None
        self.sent_ops: list[str] = []  # every op sent over every connection (read-only proof)
        self.malformed_total = 0  # frames ignored as unusable, over every connection
        self.last_malformed = ""
        self.last_poll_at: float | None = None
        self.offline_error: str | None = None
        self._retry = asyncio.Event()
        self._offline_data: dict[str, Any] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._ever_live = False

    def _malformed(self, why: str) -> None:
        self.malformed_total += 1
        self.last_malformed = why
        self.sink.link_state(self.reason)

    @property
    def first_attempt(self) -> bool:
        """Still on the very first connection attempt: nothing is known yet, so the dashboard says
        "connecting", not "offline" (trader-cli.md §4.4: offline is entered when that attempt fails)."""
        return self.state == CONNECTING and not self._ever_live and self.retry_at is None and not self.reason

    @property
    def current_delay(self) -> float:
        return 0.0 if self.retry_at is None else max(0.0, self.retry_at - time.monotonic())

    def retry_now(self) -> None:
        self._retry.set()

    async def request(self, op: str, data: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """A read-only request on the live connection; None when not live or it failed."""
        client = self.client
        if client is None or self.state != LIVE:
            return None
        try:
            reply = await client.request(op, data)
        except (ConnectionLost, TimeoutError, ValueError) as exc:
            log.info("request %s failed: %s", op, exc)
            return None
        return reply if reply.get("ok") else None

    async def run(self) -> None:
        try:
            while True:
                await self._session()
                await self._wait_retry()
        finally:
            await self._stop_poller()
            if self.client is not None:
                await self.client.close()

    async def _session(self) -> None:
        client = DaemonClient(
            self.url, silence_s=self.silence_s, record=self.sent_ops, on_malformed=self._malformed
        )
        self.client = client
        try:
            await client.open()
            first = await client.receive()
            if first.get("type") == "error":
                error = (first.get("data") or {}) if isinstance(first.get("data"), dict) else {}
                self._protocol(error.get("message") or "the daemon refused the protocol version")
                return
            data = first.get("data") or {}
            version = data.get("protocol", first.get("v"))
            if (
                first.get("type") != "snapshot"
                or version not in SUPPORTED_VERSIONS
                or first.get("v") not in SUPPORTED_VERSIONS
            ):
                speaks = version if first.get("type") == "snapshot" else first.get("v")
                self._protocol(
                    f"Daemon speaks protocol {speaks}; this dashboard supports "
                    f"{', '.join(str(v) for v in SUPPORTED_VERSIONS)}. Update the risk manager."
                )
                return
            recovered = self._ever_live
            self._ever_live = True
            self.state = LIVE
            self.retry_at = None
            self.reason = ""
            self.backoff.reset()
            await self._stop_poller()
            self.sink.link_snapshot(data, recovered=recovered)
            self.sink.link_state("live")
            while True:
                msg = await client.receive()
                self.sink.link_message(msg)
                if client.gap:
                    client.gap = False
                    asyncio.get_running_loop().create_task(self._resync())
        except (OSError, ConnectionLost, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            self.reason = _describe(exc)
        finally:
            self.client = None
            with contextlib.suppress(Exception):
                await client.close()

    async def _resync(self) -> None:
        """A gap in ``seq``: something was missed, so a fresh snapshot replaces the model."""
        reply = await self.request("snapshot")
        if reply is not None and isinstance(reply.get("data"), dict):
            self.sink.link_snapshot(reply["data"], recovered=False)

    def _protocol(self, text: str) -> None:
        self.reason = text
        self.sink.link_protocol(text)

    async def _wait_retry(self) -> None:
        if self.state == LIVE:
            self.reconnects += 1
        self.state = RECONNECTING
        self._start_poller()
        delay = self.backoff.next_delay()
        self.retry_at = time.monotonic() + delay
        self.sink.link_state(self.reason)
        self._retry.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._retry.wait(), delay)
        self.retry_at = None
        self.state = CONNECTING
        self.sink.link_state(self.reason)

    # ----- offline polling -------------------------------------------------------------------------
    def _start_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll(), name="trader-offline-poll")

    async def _stop_poller(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
            self._poller = None
        self._offline_data = None
        self.offline_error = None

    async def _poll(self) -> None:
        while True:
            data: dict[str, Any] | None = None
            error: str | None = None
            if self.db_path is None:
                error = "no database path known (use --db)"
            else:
                try:
                    data = await asyncio.to_thread(read_snapshot, self.db_path)
                except OfflineError as exc:
                    error = str(exc)
            self.last_poll_at = time.monotonic()
            if data != self._offline_data or error != self.offline_error:
                self._offline_data, self.offline_error = data, error
                self.sink.link_offline(data, error)
            await asyncio.sleep(self.poll_s)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionLost):
        return str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the risk manager running?)"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{exc.__class__.__name__}: {exc}"[:200]
