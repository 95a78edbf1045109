"""Send one test message to notification URLs and say, per URL, whether it arrived
(``risk-manager admin test notify``).

The admin console calls ``test_message`` from its own process with the URLs of ``daemon.yaml``; the
daemon is not involved, so a test works while the service is stopped too. Every URL is tried once,
all at the same time, each through the same sink class the daemon uses (so the test exercises the
real delivery path: Apprise on its own thread, the webhook's JSON POST). Results show URLs masked.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from risk_manager.daemon.notify.alert_sink import AlertSink
from risk_manager.daemon.notify.alerts import alert_for
from risk_manager.daemon.notify.apprise_sink import AppriseSink
from risk_manager.daemon.notify.messages import TestNotification
from risk_manager.daemon.notify.webhook import WebhookSink

TEST_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class NotifyTestResult:
    """One URL's outcome. ``target`` is the URL masked; ``detail`` is the reason of a failure."""

    __test__ = False  # not a pytest test class, despite the name
    kind: str  # "apprise" | "webhook"
    target: str
    ok: bool
    detail: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(text: str | None) -> str:
    if text:
        return text
    return f"Test notification from risk-manager on {socket.gethostname()}: alerts reach this channel."


async def _one(sink: AlertSink, kind: str, message: TestNotification, timeout: float) -> NotifyTestResult:
    alert = alert_for(message)
    assert alert is not None
    started = time.monotonic()
    try:
        await sink.start()
        await asyncio.wait_for(sink.send(alert), timeout)
        ok, detail = True, "delivered"
    except TimeoutError:
        ok, detail = False, f"no answer within {timeout:.0f} s"
    except Exception:
        ok, detail = False, sink.last_error or "delivery failed"
    finally:
        await sink.aclose()
    return NotifyTestResult(kind, getattr(sink, "shown", sink.name), ok, detail, round(time.monotonic() - started, 3))


async def send_test_message(
    urls: Sequence[str],
    *,
    webhook_url: str | None = None,
    text: str | None = None,
    timeout: float = TEST_TIMEOUT_S,
) -> list[NotifyTestResult]:
    """The coroutine behind ``test_message`` (for a caller that already runs an event loop)."""
    message = TestNotification(at=datetime.now(UTC), text=_text(text))
    jobs: list[tuple[AlertSink, str]] = []
    if webhook_url:
        jobs.append((WebhookSink(webhook_url, tries=1), "webhook"))
    jobs += [(AppriseSink(url, tries=1), "apprise") for url in urls]
    return list(await asyncio.gather(*(_one(sink, kind, message, timeout) for sink, kind in jobs)))


def test_message(
    urls: Sequence[str],
    *,
    webhook_url: str | None = None,
    text: str | None = None,
    timeout: float = TEST_TIMEOUT_S,
) -> list[NotifyTestResult]:
    """Send one test message to each Apprise URL in ``urls`` (and to ``webhook_url`` if given); block
    until every one has answered, failed or timed out; return one result per URL (webhook first).

    Safe to call from any thread, with or without a running event loop (it runs its own loop on a
    helper thread). Never raises for a failed delivery: that is a result with ``ok=False``.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="notify-test") as pool:
        return pool.submit(
            lambda: asyncio.run(send_test_message(urls, webhook_url=webhook_url, text=text, timeout=timeout))
        ).result()


test_message.__test__ = False  # type: ignore[attr-defined]  # a product function, not a pytest test
