"""Apprise alert sinks against a real local HTTP receiver (Apprise's ``json://`` URL; no network).

Each URL is its own sink: delivery, the subject filter, the per-subject rate limit, a dead endpoint
that delays neither enforcement nor the other sinks, secrets never shown, and a hot reload that adds
and removes sinks in a running daemon.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from risk_manager.config.loader import AppConfig, ConfigError
from risk_manager.config.notify_urls import ALERT_SUBJECTS
from risk_manager.daemon.notify import (
    LockoutSet,
    Notifier,
    ProtectionChanged,
    RuleWarning,
    test_message,
)
from risk_manager.daemon.notify.alerts import alert_for
from risk_manager.daemon.notify.apprise_sink import AppriseSink
from tests.daemon.conftest import until
from tests.e2e.harness import ApiClient, Simulator

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
TOKEN = "TokSECRET9x7"


@dataclass
class Receiver:
    port: int
    got: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fail: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path}?token={TOKEN}"

    def of(self, path: str) -> list[dict[str, Any]]:
        return self.got.get(path, [])


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver(0)

    async def hook(request: web.Request) -> web.Response:
        path = request.match_info["path"]
        if state.fail.get(path, 0) > 0:
            state.fail[path] -= 1
            return web.Response(status=500)
        state.got.setdefault(path, []).append(await request.json())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/{path}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung endpoint)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for s in held:
            s.close()
        server.close()


def _not_protected(account: int = 7) -> ProtectionChanged:
    return ProtectionChanged(
        at=AT, account_id=account, login="x", state="disconnected", previous="protected",
        reason="broker connection lost", not_protected=True, protected_again=False, gap_s=None, connection={},
    )  # fmt: skip


def _lockout(account: int = 7) -> LockoutSet:
    return LockoutSet(at=AT, account_id=account, rule="RULE-003", reason="realized -512 < -500", view={}, record={})


async def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def test_every_subject_is_a_config_choice_and_warnings_are_alerts() -> None:
    warning = RuleWarning(
        at=AT, account_id=7, rule="RULE-003", message="daily realized loss at 80% of limit: 400.00 of 500.00",
        data={"threshold": 80, "pctUsed": 80.0, "value": "400.00", "limit": "500.00"},
    )  # fmt: skip
    alert = alert_for(warning)
    assert alert is not None and alert.subject == "limit_warning" and "80%" in alert.text
    note = RuleWarning(at=AT, account_id=7, rule="RULE-004", message="no quote yet for CON.F.US.X")
    assert alert_for(note) is None  # a rule's note without a threshold wakes nobody
    seen = {a.subject for a in (alert_for(_not_protected()), alert_for(_lockout()), alert) if a is not None}
    assert seen <= set(ALERT_SUBJECTS)


async def test_apprise_delivers_alerts_with_a_subject_filter_and_a_rate_limit(receiver: Receiver) -> None:
    now = [0.0]
    every = AppriseSink(receiver.url("all"), monotonic=lambda: now[0])
    locks_only = AppriseSink(receiver.url("locks"), ["lockout_set"], monotonic=lambda: now[0])
    notifier = Notifier()
    for sink in (every, locks_only):
        notifier.subscribe(sink)
    await notifier.start()
    notifier.publish(_not_protected())
    notifier.publish(_not_protected())  # same subject and account within the minute: not sent
    notifier.publish(_not_protected(account=8))  # another account: sent
    notifier.publish(_lockout())
    await _wait(lambda: len(receiver.of("all")) >= 3 and len(receiver.of("locks")) >= 1, 20, "deliveries")
    now[0] = 61.0
    notifier.publish(_not_protected())  # a minute later: sent again
    await _wait(lambda: len(receiver.of("all")) >= 4, 20, "the repeat after a minute")
    await notifier.aclose()
    titles = [g["title"] for g in receiver.of("all")]
    assert titles == [
        "risk-manager: NOT PROTECTED",
        "risk-manager: NOT PROTECTED",
        "risk-manager: Lockout set",
        "risk-manager: NOT PROTECTED",
    ]
    bodies = [g["message"] for g in receiver.of("all")]
    assert "account 7" in bodies[0] and "account 8" in bodies[1] and "broker connection lost" in bodies[0]
    assert [g["type"] for g in receiver.of("all")][:1] == ["failure"]
    assert [g["title"] for g in receiver.of("locks")] == ["risk-manager: Lockout set"]


async def test_a_failing_url_retries_then_gives_up_and_says_so_without_its_secret(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    sink = AppriseSink(receiver.url("flaky"), retry_pause_s=0.01)
    notifier = Notifier()
    notifier.subscribe(sink)
    await notifier.start()
    receiver.fail["flaky"] = 2  # two 500s, then delivered on the third try
    notifier.publish(_not_protected())
    await _wait(lambda: len(receiver.of("flaky")) == 1, 20, "delivery on the third try")
    receiver.fail["flaky"] = 100
    with caplog.at_level(logging.DEBUG):
        notifier.publish(_lockout())
        await _wait(lambda: sink.last_error is not None, 20, "the sink giving up")
        await _wait(lambda: any("could not deliver" in r.getMessage() for r in caplog.records), 5, "a warning")
    await notifier.aclose()
    assert sink.last_error is not None and "500" in sink.last_error
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "apprise json://127.0.0.1" in text  # the sink is named, masked
    assert TOKEN not in text and TOKEN not in sink.last_error and TOKEN not in sink.name
    # Apprise's own log (which can print raw URLs) never reaches the application's handlers; what it
    # said is reported, redacted, in the sink's own reason. (pytest 9 hooks non-propagating loggers
    # itself, so the check is on the logger, not on caplog.)
    assert logging.getLogger("apprise").propagate is False


async def test_a_hung_url_delays_neither_the_loop_nor_the_other_sinks(receiver: Receiver, black_hole: int) -> None:
    hung = AppriseSink(f"json://127.0.0.1:{black_hole}/hook?token={TOKEN}", retry_pause_s=0.01)
    good = AppriseSink(receiver.url("good"))
    notifier = Notifier()
    for sink in (hung, good):
        notifier.subscribe(sink)
    await notifier.start()
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    published = time.monotonic()
    for account in range(1, 6):
        notifier.publish(_not_protected(account))
    while len(receiver.of("good")) < 5:
        before = loop.time()
        await asyncio.sleep(0.01)
        lags.append(loop.time() - before - 0.01)
        assert time.monotonic() - published < 20, "the good sink was held up"
    # The hung endpoint still holds its first message (Apprise waits on its read timeout) while the
    # good one has delivered all five and the loop kept ticking.
    assert hung.sent == 0 and hung._busy
    assert max(lags) < 0.25, f"the event loop stalled for {max(lags):.3f} s"
    started = time.monotonic()
    await notifier.aclose()  # bounded: the hung send is abandoned, not waited for
    assert time.monotonic() - started < 3


EXIT_SCRIPT = """
import asyncio, sys, time
from datetime import UTC, datetime
from risk_manager.daemon.notify import Notifier, LockoutSet
from risk_manager.daemon.notify.apprise_sink import AppriseSink

async def main():
    sink = AppriseSink(sys.argv[1])
    notifier = Notifier()
    notifier.subscribe(sink)
    await notifier.start()
    notifier.publish(LockoutSet(at=datetime.now(UTC), account_id=1, rule="RULE-003", reason="x", view={}, record={}))
    while not sink._busy:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)  # the send is now stuck reading from the endpoint
    await notifier.aclose()
    print("closed", flush=True)

asyncio.run(main())
"""


def test_a_hung_send_does_not_hold_up_the_process_exit(black_hole: int) -> None:
    # Apprise's own thread pool is joined at interpreter exit; the sink sends inline on a daemon
    # thread instead, so a daemon stopping while an endpoint hangs exits at once, not after the
    # endpoint's read timeout (4 s).
    url = f"json://127.0.0.1:{black_hole}/hook?token={TOKEN}"
    proc = subprocess.Popen([sys.executable, "-c", EXIT_SCRIPT, url], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "closed"
        closed = time.monotonic()
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - closed < 2.0
    finally:
        proc.kill()


def test_apprise_urls_are_validated_and_never_shown() -> None:
    accounts = {"version": 1, "logins": [{"name": "a", "user_name": "u", "accounts": [{"id": 1, "name": "x"}]}]}
    bad = {
        "notifications": {
            "webhook_url": f"ftp://hooks.example.com/{TOKEN}",
            "apprise": [
                f"discrod://1234567/{TOKEN}",
                {"url": f"discord://{TOKEN}", "subjects": ["lockout_set"]},
                {"url": "json://127.0.0.1:9/x", "subjects": ["lockot_set"]},
                "not a url at all " + TOKEN,
            ],
        }
    }
    with pytest.raises(ConfigError) as caught:
        AppConfig.from_dicts({"version": 1}, accounts, daemon=bad, secrets={"api_keys": {"u": "k"}})
    issues = {i.path: i.message for i in caught.value.issues}
    text = "\n".join(str(i) for i in caught.value.issues)
    assert TOKEN not in text
    assert "did you mean discord://" in issues["notifications.apprise[0].url"]
    assert "Discord" in issues["notifications.apprise[1].url"] and "discord://***" in issues["notifications.apprise[1].url"]
    assert "lockot_set" in issues["notifications.apprise[2].subjects[0]"]
    assert "not a URL" in issues["notifications.apprise[3].url"]
    assert "ftp://hooks.example.com/***" in issues["notifications.webhook_url"]
    dup = {"notifications": {"apprise": ["json://127.0.0.1:9/x", {"url": "json://127.0.0.1:9/x"}]}}
    with pytest.raises(ConfigError) as caught:
        AppConfig.from_dicts({"version": 1}, accounts, daemon=dup, secrets={"api_keys": {"u": "k"}})
    assert [(i.path, i.message) for i in caught.value.issues] == [
        ("notifications.apprise[1].url", "the same URL is already listed as notifications.apprise[0]")
    ]


async def test_test_message_reports_per_url(receiver: Receiver) -> None:
    # Called the way the admin console will: a plain blocking call with the URLs of daemon.yaml (here
    # from a worker thread, because the receiver runs on this test's event loop).
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens here: connection refused
    results = await asyncio.to_thread(
        test_message,
        [receiver.url("t1"), f"json://127.0.0.1:{dead_port}/x?token={TOKEN}"],
        webhook_url=f"http://127.0.0.1:{receiver.port}/hook?token={TOKEN}",
    )
    assert [(r.kind, r.ok) for r in results] == [("webhook", True), ("apprise", True), ("apprise", False)], results
    assert [g["subject"] for g in receiver.of("hook")] == ["test"]  # the webhook's own JSON payload
    assert json.dumps([r.to_dict() for r in results]).count(TOKEN) == 0
    assert results[1].target == f"json://127.0.0.1:{receiver.port}/***" and results[1].detail == "delivered"
    assert "Connection" in results[2].detail or "connect" in results[2].detail.lower()
    assert [g["title"] for g in receiver.of("t1")] == ["risk-manager: Test notification"]


LOSS_RULE = {"daily_realized_loss": {"enabled": True, "loss_limit": 100, "lockout_until": "daily_reset"}}
CONTRACTS_RULE = {"max_contracts": {"enabled": True, "limit": 1, "count_type": "net", "enforcement": "close_all"}}


def _losing_round_trip(sim: Simulator, account: int, symbol: str) -> None:
    sim.quote(symbol, 2450.0, 2450.1)
    sim.order(account, symbol, "buy", 1)
    sim.quote(symbol, 2447.0, 2447.1)
    sim.order(account, symbol, "sell", 1)  # -3.1 points x $50 = -$155 < -$100


def _write_daemon_yaml(config_dir: Any, notifications: dict[str, Any]) -> None:
    (config_dir / "daemon.yaml").write_text(json.dumps({"notifications": notifications}), encoding="utf-8")


async def test_a_running_daemon_alerts_through_apprise_and_reload_swaps_the_urls(
    sim: Simulator, start_daemon: Any, receiver: Receiver, black_hole: int
) -> None:
    hung_url = f"json://127.0.0.1:{black_hole}/hang?token={TOKEN}"
    run = await start_daemon(
        {3001: LOSS_RULE, 3002: CONTRACTS_RULE, 3003: LOSS_RULE},
        daemon_yaml={"notifications": {"apprise": [receiver.url("a"), hung_url]}},
    )
    channels = run.daemon.channels
    assert sorted(s.shown for s in channels.sinks) == sorted(
        [f"json://127.0.0.1:{receiver.port}/***", f"json://127.0.0.1:{black_hole}/***"]
    )
    async with ApiClient(run.api_url) as api:
        await asyncio.to_thread(_losing_round_trip, sim, 3001, "RTY")
        await until(lambda: receiver.of("a"), 20, "the lockout alert on the working URL")
        assert receiver.of("a")[0]["title"] == "risk-manager: Lockout set"
        assert "account 3001" in receiver.of("a")[0]["message"]
        hung = next(s for s in channels.sinks if s.shown.endswith(f"{black_hole}/***"))
        await until(lambda: hung._busy, 5, "the hung URL stuck on its send")
        # Enforcement does not wait for the hung endpoint: an over-limit position is closed at once.
        await asyncio.to_thread(sim.order, 3002, "MGC", "buy", 3)
        await until(lambda: sim.positions(3002) == {}, 10, "3002 flattened while a sink hangs")
        await api.wait_for(
            lambda m: m.get("type") == "enforcement" and m.get("accountId") == 3002 and m["data"]["state"] == "done",
            10,
            "the flatten confirmed",
        )
        assert hung._busy and hung.sent == 0

        # Hot reload: the working URL and the hung one go, a new one (lockouts only) comes.
        _write_daemon_yaml(
            run.daemon.options.config_dir, {"apprise": [{"url": receiver.url("b"), "subjects": ["lockout_set"]}]}
        )
        started = time.monotonic()
        assert run.daemon.reloader is not None
        result = await run.daemon.reloader.reload()
        assert time.monotonic() - started < 5  # closing the hung sink is bounded
        assert [s.shown for s in channels.sinks] == [f"json://127.0.0.1:{receiver.port}/***"]
        assert set(run.daemon.notifier.sinks).isdisjoint({hung})
        changes = "\n".join(result["changes"])
        assert "notifications.apprise" in changes and TOKEN not in changes and "/***" in changes

        await asyncio.to_thread(_losing_round_trip, sim, 3003, "RTY")
        await until(lambda: receiver.of("b"), 20, "the lockout alert on the new URL")
        assert "account 3003" in receiver.of("b")[0]["message"]
        assert len(receiver.of("a")) == 1  # the removed URL gets nothing more
    assert await run.stop() == 0
    logs = "".join(p.read_text(encoding="utf-8") for p in run.daemon.options.log_dir.glob("*.log"))
    assert "notifications.apprise" in logs or "reload" in logs.lower()
    assert TOKEN not in logs


def test_config_check_shows_apprise_urls_masked_and_errors_with_their_line(tmp_path: Any) -> None:
    from tests.config.test_cli import run

    directory = tmp_path / "cfg"
    assert run("init", "--config-dir", str(directory)).returncode == 0
    daemon_yaml = directory / "daemon.yaml"
    good = (
        "notifications:\n"
        f"  webhook_url: https://hooks.example.com/risk?token={TOKEN}\n"
        "  apprise:\n"
        f"    - ntfy://{TOKEN}\n"
        f"    - url: mailto://me:{TOKEN}@gmail.com\n"
        "      subjects: [lockout_set, enforcement_failed]\n"
    )
    daemon_yaml.write_text(good, encoding="utf-8")
    ok = run("config", "check", "--config-dir", str(directory))
    assert ok.returncode == 0, ok.stderr
    assert "Notifications: 3" in ok.stdout
    assert "webhook https://hooks.example.com/***" in ok.stdout
    assert "ntfy://*** (all)" in ok.stdout
    assert "mailto://***@gmail.com (lockout_set, enforcement_failed)" in ok.stdout
    as_json = run("config", "check", "--config-dir", str(directory), "--json")
    assert json.loads(as_json.stdout)["notifications"]["apprise"][0] == {"url": "ntfy://***", "subjects": "all"}
    assert TOKEN not in ok.stdout + ok.stderr + as_json.stdout + as_json.stderr

    daemon_yaml.write_text(good.replace("ntfy://", "nfty://"), encoding="utf-8")
    bad = run("config", "check", "--config-dir", str(directory))
    assert bad.returncode == 1
    assert "daemon.yaml:4: notifications.apprise[0].url: unknown Apprise service nfty://" in bad.stderr
    assert TOKEN not in bad.stdout + bad.stderr
