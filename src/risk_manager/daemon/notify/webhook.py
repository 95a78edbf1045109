"""The optional webhook (``daemon.yaml`` › ``notifications.webhook_url``; spec/daemon.md §7.4): one
JSON POST of ``Alert.payload()`` per alert, 5 s timeout, 3 tries, at most one message per subject (and
account) per minute, in its own bounded queue so a dead endpoint never touches anything else. The URL
may hold a token: it is never logged.

It stays a plain aiohttp POST rather than an Apprise ``json://`` URL: Apprise's JSON body has its own
shape (``title``, ``message``, ``type``), and this payload is documented and relied on."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from risk_manager.config.notify_urls import mask_url
from risk_manager.daemon.notify.alert_sink import RETRY_PAUSE_S, TRIES, AlertSink
from risk_manager.daemon.notify.alerts import Alert

TIMEOUT_S = 5.0
__all__ = ["TIMEOUT_S", "TRIES", "WebhookSink"]


class WebhookSink(AlertSink):
    name = "webhook"

    def __init__(
        self,
        url: str,
        monotonic: Callable[[], float] | None = None,
        retry_pause_s: float = RETRY_PAUSE_S,
        tries: int = TRIES,
    ) -> None:
        super().__init__(monotonic=monotonic, retry_pause_s=retry_pause_s, tries=tries)
        self.url = url
        self.shown = mask_url(url)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))
        await super().start()

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            if self._session is not None:
                await self._session.close()
                self._session = None

    async def attempt(self, alert: Alert) -> str | None:
        if self._session is None:
            return "not started"
        try:
            async with self._session.post(self.url, json=alert.payload()) as response:
                return None if response.status < 400 else f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return type(exc).__name__
