"""Trader dashboard benchmark: push-to-screen latency and the dashboard's CPU share under load.

Real processes: the gateway simulator and the daemon (one account, no rule enabled). A scenario random
walk on every built-in contract feeds the daemon about 1,000 quotes/s (measured from the simulator
journal); the account holds a position in four contracts, so the daemon pushes their coalesced quotes
(at most 4 per second per contract) to the dashboard. A driver thread buys and sells 1 MES through
``POST /sim/orders`` at 10 fills/s; every fill becomes ``trade``, ``position``, ``order`` and ``account``
pushes.

The dashboard is the real ``TraderApp`` (Textual, headless driver, 110x32) on the P&L tab, connected
over the real WebSocket. Push-to-screen latency of a ``trade`` or ``account`` push = the moment Textual
has refreshed the screen after applying it (``call_after_refresh``) minus the daemon's envelope ``ts``
(both wall clock, same machine). The baseline, in the same run, is a bare client on its own thread
and event loop: it receives the same pushes and only JSON-decodes them (push-to-receive); the ratio
shows what the dashboard adds. CPU share = CPU time of the dashboard's thread / wall time (one core =
100 %).

    .venv/bin/python bench/dashboard.py [--seconds 20] [--quote-rate 1000] [--fill-rate 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from _stack import Sim, percentile, start_daemon, users_file, write_config
from latency import calibrate
from risk_manager.trader.app import TraderApp
from risk_manager.trader.fmt import parse_time
from risk_manager.trader.notifier import RecordingNotifier

ACCOUNT = 9001
HELD = ("MNQ", "ES", "NQ", "RTY")
MEASURED = ("trade", "account")


def ts_of(msg: dict[str, Any]) -> float:
    at = parse_time(msg.get("ts"))
    return at.timestamp() if at is not None else time.time()


class MeasuredApp(TraderApp):
    """The real app; records when each measured push is on screen."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.latencies: list[float] = []
        self.recording = False

    def link_message(self, msg: dict[str, Any]) -> None:
        super().link_message(msg)
        if self.recording and msg.get("type") in MEASURED:
            pushed = ts_of(msg)
            self.call_after_refresh(lambda: self.latencies.append(time.time() - pushed))


class Baseline(threading.Thread):
    """A bare local-API client on its own loop: receive and decode, nothing else."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.latencies: list[float] = []
        self.recording = False
        self.stop = threading.Event()

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        async with connect(self.url, max_size=None) as ws:
            while not self.stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                msg = json.loads(raw)
                if self.recording and msg.get("type") in MEASURED:
                    self.latencies.append(time.time() - ts_of(msg))


class Driver(threading.Thread):
    """10 fills/s: alternate buy and sell of 1 MES for the account."""

    def __init__(self, base_url: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self.interval = 1.0 / rate
        self.stop = threading.Event()
        self.fills = 0

    def run(self) -> None:
        side = "buy"
        next_at = time.monotonic()
        while not self.stop.is_set():
            body = {"accountId": ACCOUNT, "contractId": "MES", "type": "market", "side": side, "size": 1}
            self.http.post("/sim/orders", json=body)
            self.fills += 1
            side = "sell" if side == "buy" else "buy"
            next_at += self.interval
            self.stop.wait(max(0.0, next_at - time.monotonic()))
        self.http.close()


def stats(values: list[float]) -> tuple[float, float]:
    ms = [v * 1000 for v in values]
    return percentile(ms, 50), percentile(ms, 99)


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    sim = Sim(users_file(work / "users.json", {"bench": ("bench-key", [ACCOUNT])}))
    daemon = None
    try:
        config = write_config(work / "config", sim.urls, "bench", "bench-key", [ACCOUNT], {})
        daemon, url, _ = start_daemon(config, work)
        async with httpx.AsyncClient(base_url=sim.urls["api_url"], timeout=30) as http:
            rate = await calibrate(sim, http, args.quote_rate)
            for symbol in HELD:
                sim.control(
                    "POST",
                    "/orders",
                    {"accountId": ACCOUNT, "contractId": symbol, "type": "market", "side": "buy", "size": 1},
                )
            print(
                f"quote load: {rate:.0f} quotes/s into the daemon (journal); held: {', '.join(HELD)}",
                flush=True,
            )
            baseline = Baseline(url)
            baseline.start()
            # settle_gc as ``risk-manager trader`` does (the bench process is the dashboard's)
            app = MeasuredApp(url, account=ACCOUNT, notifier=RecordingNotifier(), settle_gc=True)
            driver = Driver(sim.urls["api_url"], args.fill_rate)
            async with app.run_test(size=(110, 32)) as pilot:
                deadline = time.monotonic() + 30
                while app.link.state != "live" or app.view is None:
                    if time.monotonic() > deadline:
                        raise SystemExit("dashboard did not connect")
                    await asyncio.sleep(0.1)  # polling the link state, bounded by the deadline above
                await pilot.press("2")  # the P&L tab: figures, chart and recent trades move with every fill
                driver.start()
                await asyncio.sleep(2.0)  # warm-up, not synchronisation
                cpu0, wall0, msgs0 = time.thread_time(), time.monotonic(), app.model.messages
                app.recording = baseline.recording = True
                await asyncio.sleep(args.seconds)  # the measuring window
                app.recording = baseline.recording = False
                cpu, wall, msgs = (
                    time.thread_time() - cpu0,
                    time.monotonic() - wall0,
                    app.model.messages - msgs0,
                )
                driver.stop.set()
                baseline.stop.set()
                await pilot.pause(0.5)
            driver.join(5)
            baseline.join(5)
            quotes_after = await _quote_rate(sim, http)
    finally:
        if daemon is not None:
            daemon.terminate()
        sim.close()
    if not app.latencies or not baseline.latencies:
        print("no measurements", file=sys.stderr)
        return 1
    d50, d99 = stats(app.latencies)
    b50, b99 = stats(baseline.latencies)
    print(f"machine: {sys.platform}, python {sys.version.split()[0]}, {datetime.now(UTC):%Y-%m-%d}")
    print(
        f"window {args.seconds:.0f} s: {driver.fills / (args.seconds + 2):.1f} fills/s sent, {msgs / wall:.0f} messages/s to the dashboard, "
        f"quote load {quotes_after:.0f}/s at the end"
    )
    print(
        f"push-to-screen (dashboard, n={len(app.latencies)}): p50 {d50:.1f} ms  p99 {d99:.1f} ms  (target p99 <= 100 ms)"
    )
    print(f"push-to-receive (bare client, n={len(baseline.latencies)}): p50 {b50:.1f} ms  p99 {b99:.1f} ms")
    print(f"ratio dashboard / bare client: p50 {d50 / max(b50, 0.01):.2f}x  p99 {d99 / max(b99, 0.01):.2f}x")
    print(f"dashboard CPU share: {cpu / wall:.1%} of one core")
    return 0 if d99 <= 100 else 2


async def _quote_rate(sim: Sim, http: httpx.AsyncClient) -> float:
    from latency import measure_quote_rate

    rate, _ = await measure_quote_rate(sim, http, 1.0)
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quote-rate", type=float, default=1000.0)
    parser.add_argument("--fill-rate", type=float, default=10.0)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
