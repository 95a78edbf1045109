"""The alert channels in force (``daemon.yaml`` › ``notifications``): the webhook and one sink per Apprise
URL, subscribed to the notifier, and changed in place by a hot reload (spec/daemon.md §8.3).

A reload keeps a channel whose URL and subjects did not change (with its queue and its rate-limit
memory), closes the ones that went away (each given ``CLOSE_S`` to finish the message it is sending)
and starts the new ones. Every URL's secret pieces are taught to the log redaction before the URL is
used.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from risk_manager.config.models import NotificationSettings
from risk_manager.config.notify_urls import url_secrets
from risk_manager.daemon.notify.alert_sink import AlertSink
from risk_manager.daemon.notify.apprise_sink import AppriseSink
from risk_manager.daemon.notify.notifier import Notifier
from risk_manager.daemon.notify.webhook import WebhookSink

CLOSE_S = 1.0
ChannelKey = tuple[str, str, frozenset[str] | None]  # (kind, url, subjects)


class AlertChannels:
    def __init__(self, notifier: Notifier, learn_secret: Callable[[str], None] | None = None) -> None:
        self._notifier = notifier
        self._learn = learn_secret
        self._sinks: dict[ChannelKey, AlertSink] = {}

    @property
    def sinks(self) -> tuple[AlertSink, ...]:
        return tuple(self._sinks.values())

    @staticmethod
    def wanted(settings: NotificationSettings) -> dict[ChannelKey, Callable[[], AlertSink]]:
        out: dict[ChannelKey, Callable[[], AlertSink]] = {}
        if settings.webhook_url:
            url = settings.webhook_url
            out[("webhook", url, None)] = lambda: WebhookSink(url)
        for target in settings.apprise:
            subjects = None if target.subjects is None else frozenset(target.subjects)

            def make(url: str = target.url, subjects: frozenset[str] | None = subjects) -> AlertSink:
                return AppriseSink(url, subjects)

            out[("apprise", target.url, subjects)] = make
        return out

    async def apply(self, settings: NotificationSettings) -> None:
        """Make the running channels those of ``settings`` (start-up and every reload)."""
        wanted = self.wanted(settings)
        gone = [key for key in self._sinks if key not in wanted]
        for key in gone:
            await self._close(self._sinks.pop(key))
        for key, make in wanted.items():
            if key in self._sinks:
                continue
            if self._learn is not None:
                for secret in url_secrets(key[1]):
                    self._learn(secret)
            sink = make()
            self._notifier.subscribe(sink)
            await sink.start()
            self._sinks[key] = sink

    async def _close(self, sink: AlertSink) -> None:
        self._notifier.unsubscribe(sink)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sink.aclose(), CLOSE_S)
