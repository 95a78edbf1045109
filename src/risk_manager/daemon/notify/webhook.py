"""The optional webhook (``daemon.yaml`` › ``notifications.webhook_url``; spec/daemon.md §7.4): one
JSON POST per alert, 5 s timeout, 3 tries, at most one message per subject (and account) per minute,
in its own bounded queue so a dead endpoint never touches anything else. The URL may hold a token:
it is never logged."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiohttp

from risk_manager.daemon.notify.alerts import Alert, alert_for
from risk_manager.daemon.notify.messages import Message
from risk_manager.daemon.notify.notifier import QueuedSink

log = logging.getLogger("risk_manager.daemon.notify")

TIMEOUT_S = 5.0
TRIES = 3
RETRY_PAUSE_S = 1.0
PER_SUBJECT_EVERY_S = 60.0


class WebhookSink(QueuedSink):
    name = "webhook"

    def __init__(
        self, url: str, monotonic: Callable[[], float] | None = None, retry_pause_s: float = RETRY_PAUSE_S
    ) -> None:
        super().__init__()
        self._url = url
        self._retry_pause_s = retry_pause_s
        self._session: aiohttp.ClientSession | None = None
        self._last_sent: dict[tuple[str, int | None], float] = {}
        self._monotonic = monotonic or time.monotonic
        self.sent = 0

    def wants(self, message: Message) -> bool:
        return alert_for(message) is not None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))
        await super().start()

    async def aclose(self) -> None:
        await super().aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def handle(self, message: Message) -> None:
        alert = alert_for(message)
        if alert is None or self._session is None:
            return
        key = (alert.subject, message.account_id)
        now = self._monotonic()
        last = self._last_sent.get(key)
        if last is not None and now - last < PER_SUBJECT_EVERY_S:
            return  # at most one per subject per minute
        self._last_sent[key] = now
        await self._post(alert)

    async def _post(self, alert: Alert) -> None:
        assert self._session is not None
        error = ""
        for attempt in range(TRIES):
            if attempt:
                await asyncio.sleep(self._retry_pause_s * attempt)
            try:
                async with self._session.post(self._url, json=alert.payload()) as response:
                    if response.status < 400:
                        self.sent += 1
                        return
                    error = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = type(exc).__name__
        raise RuntimeError(f"webhook delivery failed after {TRIES} tries ({error})")
