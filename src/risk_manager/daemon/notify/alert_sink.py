"""What every alert channel (the JSON webhook, each Apprise URL) does the same way (spec/daemon.md §7.4).

Only alerts take a queue slot (optionally only some subjects); at most one message per subject and
account per minute; a delivery gets ``TRIES`` tries with growing pauses, then is dropped and said once
a minute. The channel itself only implements one ``attempt``. Each channel is its own ``QueuedSink``:
its own bounded queue and task, so a dead endpoint delays nothing but its own messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from risk_manager.daemon.notify.alerts import Alert, alert_for
from risk_manager.daemon.notify.messages import Message
from risk_manager.daemon.notify.notifier import QueuedSink

TRIES = 3
RETRY_PAUSE_S = 1.0
PER_SUBJECT_EVERY_S = 60.0
TEST_SUBJECT = "test"  # a test message passes every subject filter and every rate limit


class DeliveryFailed(RuntimeError):
    """The channel gave up on one alert; the message names no URL (it may hold a token)."""


class AlertSink(QueuedSink):
    name = "alerts"

    def __init__(
        self,
        subjects: Iterable[str] | None = None,
        *,
        monotonic: Callable[[], float] | None = None,
        retry_pause_s: float = RETRY_PAUSE_S,
        tries: int = TRIES,
    ) -> None:
        super().__init__()
        self.subjects = None if subjects is None else frozenset(subjects)
        self._monotonic = monotonic or time.monotonic
        self._retry_pause_s = retry_pause_s
        self._tries = tries
        self._last_sent: dict[tuple[str, int | None], float] = {}
        self.sent = 0
        self.last_error: str | None = None

    def accepts(self, alert: Alert) -> bool:
        return alert.subject == TEST_SUBJECT or self.subjects is None or alert.subject in self.subjects

    def wants(self, message: Message) -> bool:
        alert = alert_for(message)
        return alert is not None and self.accepts(alert)

    async def handle(self, message: Message) -> None:
        alert = alert_for(message)
        if alert is None or not self.accepts(alert):
            return
        if alert.subject != TEST_SUBJECT:
            key = (alert.subject, message.account_id)
            now = self._monotonic()
            last = self._last_sent.get(key)
            if last is not None and now - last < PER_SUBJECT_EVERY_S:
                return  # at most one per subject and account per minute
            self._last_sent[key] = now
        await self.send(alert)

    async def send(self, alert: Alert) -> None:
        """Deliver now (``TRIES`` tries); raises ``DeliveryFailed`` naming the last error."""
        error = "not tried"
        for attempt in range(self._tries):
            if attempt:
                await asyncio.sleep(self._retry_pause_s * attempt)
            failure = await self.attempt(alert)
            if failure is None:
                self.sent += 1
                self.last_error = None
                return
            error = failure
        self.last_error = error
        raise DeliveryFailed(f"delivery failed after {self._tries} tries ({error})")

    async def attempt(self, alert: Alert) -> str | None:  # pragma: no cover - overridden
        """One try: None when delivered, else a short reason without secrets."""
        raise NotImplementedError
