"""The notifier fans out to isolated sinks; the webhook sink posts alerts to a real local receiver."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from risk_manager.daemon.notify import (
    DashboardUpdate,
    EnforcementChanged,
    LockoutSet,
    Message,
    Notifier,
    ProtectionChanged,
    QueuedSink,
)
from risk_manager.daemon.notify.webhook import WebhookSink

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class Recorder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.got: list[Message] = []

    def deliver(self, message: Message) -> None:
        self.got.append(message)


class Broken:
    name = "broken"

    def deliver(self, message: Message) -> None:
        raise RuntimeError("sink is down")


def _update(n: int) -> DashboardUpdate:
    return DashboardUpdate(at=AT, account_id=1, type="account", data={"n": n})


def _not_protected(account: int = 7) -> ProtectionChanged:
    return ProtectionChanged(
        at=AT,
        account_id=account,
        login="x",
        state="disconnected",
        previous="protected",
        reason="broker connection lost",
        not_protected=True,
        protected_again=False,
        gap_s=None,
        connection={},
    )


def test_a_failing_sink_never_stops_the_others(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier()
    first, last = Recorder("first"), Recorder("last")
    for sink in (first, Broken(), last):
        notifier.subscribe(sink)
    with caplog.at_level(logging.WARNING, logger="risk_manager.daemon.notify"):
        for n in range(5):
            notifier.publish(_update(n))
    assert [m.data["n"] for m in first.got] == [0, 1, 2, 3, 4]  # type: ignore[attr-defined]
    assert [m.data["n"] for m in last.got] == [0, 1, 2, 3, 4]  # type: ignore[attr-defined]
    complaints = [r for r in caplog.records if "broken" in r.getMessage()]
    assert len(complaints) == 1  # at most one warning a minute per sink, not one per message


async def test_a_queued_sink_drops_beyond_its_bound_and_keeps_going() -> None:
    release = asyncio.Event()
    handled: list[int] = []

    class Slow(QueuedSink):
        name = "slow"

        async def handle(self, message: Message) -> None:
            await release.wait()
            handled.append(message.data["n"])  # type: ignore[attr-defined]

    sink = Slow(maxsize=3)
    notifier = Notifier()
    notifier.subscribe(sink)
    await notifier.start()
    for n in range(10):
        notifier.publish(_update(n))  # never blocks, however slow the sink is
    assert sink.dropped >= 6
    release.set()
    for _ in range(100):
        if len(handled) >= 3:
            break
        await asyncio.sleep(0.01)
    await notifier.aclose()
    assert handled[:3] == sorted(handled[:3]) and len(handled) <= 4


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]], dict[str, int]]]:
    got: list[dict[str, Any]] = []
    control = {"fail": 0}

    async def hook(request: web.Request) -> web.Response:
        if control["fail"] > 0:
            control["fail"] -= 1
            return web.Response(status=500)
        got.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/hook?token=secret", got, control
    finally:
        await runner.cleanup()


async def _drain(sink: WebhookSink, want: int, got: list[dict[str, Any]]) -> None:
    for _ in range(300):
        if len(got) >= want and sink._queue.empty():
            return
        await asyncio.sleep(0.01)


async def test_webhook_posts_alerts_only_once_per_subject_a_minute(
    receiver: tuple[str, list[dict[str, Any]], dict[str, int]],
) -> None:
    url, got, _ = receiver
    now = [0.0]
    sink = WebhookSink(url, monotonic=lambda: now[0])
    notifier = Notifier()
    notifier.subscribe(sink)
    await notifier.start()
    notifier.publish(_update(1))  # not an alert
    notifier.publish(_not_protected())
    notifier.publish(_not_protected())  # same subject within the minute: not sent
    notifier.publish(_not_protected(account=8))  # another account: its own subject
    lock = LockoutSet(
        at=AT, account_id=7, rule="RULE-003", reason="realized -512 < -500", view={"until": "x"}, record={}
    )
    notifier.publish(lock)
    await _drain(sink, 3, got)
    now[0] = 61.0
    notifier.publish(_not_protected())  # a minute later: sent again
    await _drain(sink, 4, got)
    await notifier.aclose()
    subjects = [(g["subject"], g["accountId"]) for g in got]
    assert subjects == [
        ("not_protected", 7),
        ("not_protected", 8),
        ("lockout_set", 7),
        ("not_protected", 7),
    ]
    assert all("secret" not in str(g) for g in got)


async def test_webhook_retries_then_gives_up_without_blocking(
    receiver: tuple[str, list[dict[str, Any]], dict[str, int]], caplog: pytest.LogCaptureFixture
) -> None:
    url, got, control = receiver
    sink = WebhookSink(url, retry_pause_s=0.01)
    notifier = Notifier()
    notifier.subscribe(sink)
    await notifier.start()
    control["fail"] = 2  # two 500s, then success: delivered on the third try
    failed = EnforcementChanged(
        at=AT, account_id=9, rule="RULE-001", state="failed", final=True, failed=True, entry={}, record={}
    )
    notifier.publish(failed)
    await _drain(sink, 1, got)
    assert [g["subject"] for g in got] == ["enforcement_failed"]
    control["fail"] = 10  # the endpoint stays down
    with caplog.at_level(logging.WARNING, logger="risk_manager.daemon.notify"):
        notifier.publish(_not_protected(account=9))
        for _ in range(600):
            if sink._queue.empty() and any("webhook" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.01)
    await notifier.aclose()
    assert len(got) == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("could not deliver" in m for m in messages)
    assert not any("secret" in m for m in messages)  # the URL (with its token) is never logged
