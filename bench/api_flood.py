"""Local-API flood benchmark: breach -> close latency with and without four hostile local clients.

Any process on the machine may open the daemon's local API without logging in (issue 8 §5). This
bench measures what four of them can do to enforcement, against the real simulator and daemon set up
as in ``bench/latency.py`` (20 accounts, ``max_contracts`` limit 1 ``reduce_to_limit``, a random-walk
quote load, latency read from the simulator's journal: breaching ``GatewayUserPosition`` event ->
``closeContract`` call). First each account trades ``--day-trades`` round turns (no breach), so the
daemon holds a trading day's worth of trades, then breaches alternate between quiet rounds and
flooded rounds (``--rounds``), so machine noise hits both alike. Pacing for the daemon's REST limit
(200 requests per 60 s) happens before each round, outside both measured phases.

During a flooded round a separate process (this script with ``--flood URL``) runs four clients:

* snapshot loop: ``snapshot`` requests back to back, each answer awaited;
* slow reader: asks for snapshots (200/s) and never reads (reconnects whenever it is dropped);
* malformed frames: 5,000-digit integers, deep nesting, wrong types, 60 kB strings, NaN, binary;
* history loop: ``history.trades`` / ``history.enforcement`` pages back to back.

Printed: p50/p99 quiet vs flooded and their ratio (target <= 1.25), the daemon's RSS before the
first flood and its peak during the floods (target: growth < 10 MB; Linux ``/proc``), and what the
flooders got back (answers, ``rate_limited``, ``bad_request``, drops).

    .venv/bin/python bench/api_flood.py [--breaches 120] [--rounds 6] [--quote-rate 1000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from _stack import PY, Sim, percentile, start_daemon, users_file, write_config
from latency import (
    DAEMON_ACCOUNTS,
    DAEMON_KEY,
    DAEMON_USER,
    RULE,
    DaemonBudget,
    Observer,
    PositionWatch,
    _post,
    calibrate,
    print_table,
    run_breaches,
    stats,
    wait_protected,
)

MALFORMED: list[str | bytes] = [
    '{"id": "m1", "op": "history.trades", "data": {"accountId": ' + "7" * 5000 + "}}",
    "[" * 30000 + "]" * 30000,
    '{"id": "m3", "op": "snapshot", "data": {"accountId": [1, 2, {"x": null}]}}',
    '{"id": "m4", "op": "' + "x" * 60000 + '"}',
    '{"id": "m5", "op": "history.pnl", "data": {"limit": NaN}}',
    '{"id": "m6", "op": "history.trades", "data": {"before": 99999999999999999999999}}',
    b"\x00\xff\xfe binary \x00" * 1000,
    '{"id": "m8", "op": "auth", "data": {"password": "' + "p" * 50000 + '"}}',
]


# ----- the flooding process ---------------------------------------------------------------------------
class Tally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def reply(self, kind: str, raw: str | bytes) -> None:
        msg = json.loads(raw)
        if msg.get("type") != "response":
            return
        code = "ok" if msg.get("ok") else msg.get("error", {}).get("code", "?")
        self.counts[f"{kind}.{code}"] += 1


async def _request_loop(url: str, kind: str, tally: Tally, requests: list[dict[str, Any]]) -> None:
    n = 0
    while True:
        try:
            async with connect(url, max_size=None, close_timeout=0.5) as ws:
                await ws.recv()  # the connect snapshot
                while True:
                    n += 1
                    req = dict(requests[n % len(requests)], id=f"{kind}{n}")
                    await ws.send(json.dumps(req))
                    while True:  # pushes may come first
                        raw = await ws.recv()
                        if f'"id":"{kind}{n}"' in str(raw):
                            tally.reply(kind, raw)
                            break
        except (ConnectionClosed, OSError, InvalidStatus):
            tally.counts[f"{kind}.disconnected"] += 1
            await asyncio.sleep(0.1)


async def _slow_reader(url: str, tally: Tally) -> None:
    n = 0
    while True:
        try:
            # max_queue=1: the library stops reading the socket after one frame, like a stuck client.
            async with connect(url, max_size=None, max_queue=1, close_timeout=0.5) as ws:
                while True:
                    n += 1
                    await ws.send(json.dumps({"id": f"slow{n}", "op": "snapshot", "data": {}}))
                    tally.counts["slow.sent"] += 1
                    await asyncio.sleep(0.005)  # 200 requests/s: ample to fill any unread buffer
        except (ConnectionClosed, OSError, InvalidStatus):
            tally.counts["slow.dropped"] += 1
            await asyncio.sleep(0.1)


async def _malformed(url: str, tally: Tally) -> None:
    n = 0
    while True:
        try:
            async with connect(url, max_size=None, close_timeout=0.5) as ws:
                await ws.recv()

                async def read(conn: ClientConnection = ws) -> None:
                    async for raw in conn:
                        tally.reply("malformed", raw)

                reader = asyncio.create_task(read())
                try:
                    while True:
                        await ws.send(MALFORMED[n % len(MALFORMED)])
                        n += 1
                        tally.counts["malformed.sent"] += 1
                        await asyncio.sleep(0)
                finally:
                    reader.cancel()
        except (ConnectionClosed, OSError, InvalidStatus):
            tally.counts["malformed.disconnected"] += 1
            await asyncio.sleep(0.1)


KINDS = ("snapshot", "slow", "malformed", "history")


async def flood(url: str, kinds: list[str]) -> None:
    tally = Tally()
    history = [
        {"op": "history.trades", "data": {"accountId": DAEMON_ACCOUNTS[0], "limit": 500}},
        {"op": "history.enforcement", "data": {"limit": 500}},
    ]
    runners = {
        "snapshot": lambda: _request_loop(url, "snapshot", tally, [{"op": "snapshot", "data": {}}]),
        "slow": lambda: _slow_reader(url, tally),
        "malformed": lambda: _malformed(url, tally),
        "history": lambda: _request_loop(url, "history", tally, history),
    }
    tasks = [asyncio.create_task(runners[kind]()) for kind in kinds]
    await asyncio.sleep(1.0)  # connected and in steady state before the bench measures
    print("flooding", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def wait_for_stop_line() -> None:
        sys.stdin.readline()  # the bench writes one line (or closes stdin) when the round is over
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_stop_line, daemon=True).start()
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(dict(tally.counts)), flush=True)


class Flooder:
    """The flooding clients in their own process: a local process like any other."""

    def __init__(self, url: str, kinds: list[str]) -> None:
        self.p = subprocess.Popen(
            [PY, __file__, "--flood", url, "--kinds", ",".join(kinds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.p.stdout is not None
        line = self.p.stdout.readline()
        if line.strip() != "flooding":
            raise RuntimeError(f"flooder did not start: {line!r}")
        self.cpu_at_start = cpu_seconds(self.p.pid) or 0.0

    def stop(self) -> Counter[str]:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.cpu_s = (cpu_seconds(self.p.pid) or 0.0) - self.cpu_at_start
        self.p.stdin.write("stop\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline()
        self.p.wait(10)
        return Counter(json.loads(out)) if out.strip() else Counter()


# ----- measuring ----------------------------------------------------------------------------------------
def rss_bytes(pid: int) -> int | None:
    """Resident set size from /proc (Linux); None elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process from /proc (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssWatch:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_bytes(self.pid) or 0)
            await asyncio.sleep(0.2)  # sampling period

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def trading_day(http: httpx.AsyncClient, contracts: list[str], per_account: int) -> None:
    """Round turns of 1 contract on every account: trades for the day, no breach, no broker call."""
    for i in range(per_account):
        for account in DAEMON_ACCOUNTS:
            contract = contracts[(i + account) % len(contracts)]
            for side in ("buy", "sell"):
                body = {
                    "accountId": account,
                    "contractId": contract,
                    "type": "market",
                    "side": side,
                    "size": 1,
                }
                await _post(http, "/sim/orders", body)


async def main_async(args: argparse.Namespace) -> int:
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rm-bench-flood-") as tmp:
        root = Path(tmp)
        sim = Sim(users_file(root / "users.json", {DAEMON_USER: (DAEMON_KEY, DAEMON_ACCOUNTS)}))
        daemon = None
        http = httpx.AsyncClient(base_url=sim.urls["api_url"], timeout=30)
        quiet: list[float] = []
        flooded: list[float] = []
        got: Counter[str] = Counter()
        try:
            sim.control("POST", "/settings", {"rate_limit_enabled": False, "journal_max_entries": 60000})
            contracts = [c["id"] for c in sim.control("GET", "/state?accountId=0")["contracts"]]
            rate = await calibrate(sim, http, args.quote_rate)
            print(f"quote load: {len(contracts)} contracts, {rate:.0f} quotes/s (journal)")
            config = write_config(root / "config", sim.urls, DAEMON_USER, DAEMON_KEY, DAEMON_ACCOUNTS, RULE)
            daemon, api_url, _ = start_daemon(config, root / "daemon")
            await wait_protected(api_url, len(DAEMON_ACCOUNTS))
            watch = PositionWatch()
            observer = Observer(sim.urls, DAEMON_USER, DAEMON_KEY, DAEMON_ACCOUNTS, watch)
            await observer.start()
            budget = DaemonBudget()
            await run_breaches(http, DAEMON_ACCOUNTS, contracts, len(contracts), budget, "warm-up", watch)
            await trading_day(http, contracts, args.day_trades)
            print(f"daemon warm, {args.day_trades * 2 * len(DAEMON_ACCOUNTS)} trades made", flush=True)
            per_round = max(1, args.breaches // args.rounds)
            rss_before: int | None = None
            rss = RssWatch(daemon.p.pid)
            cpu = {"quiet": [0.0, 0.0], "flooded": [0.0, 0.0]}  # daemon CPU s, wall s
            pid = daemon.p.pid
            flooder_cpu = 0.0
            for r in range(args.rounds):
                # Pacing for the daemon's REST limit happens here, outside both measured phases, so
                # each phase is back-to-back breaches (the same density, comparable CPU figures).
                await budget.room_for(http, 4 * per_round + 8)
                c0, w0 = cpu_seconds(pid) or 0.0, time.monotonic()
                quiet += await run_breaches(
                    http, DAEMON_ACCOUNTS, contracts, per_round, budget, f"quiet {r + 1}", watch
                )
                cpu["quiet"][0] += (cpu_seconds(pid) or 0.0) - c0
                cpu["quiet"][1] += time.monotonic() - w0
                if rss_before is None:
                    rss_before = rss_bytes(daemon.p.pid)
                    rss.start()
                flooder = Flooder(api_url, args.kinds)
                c0, w0 = cpu_seconds(pid) or 0.0, time.monotonic()
                try:
                    flooded += await run_breaches(
                        http, DAEMON_ACCOUNTS, contracts, per_round, budget, f"flooded {r + 1}", watch
                    )
                finally:
                    cpu["flooded"][0] += (cpu_seconds(pid) or 0.0) - c0
                    cpu["flooded"][1] += time.monotonic() - w0
                    got += flooder.stop()
                    flooder_cpu += flooder.cpu_s
            await rss.stop()
            rss_after = rss_bytes(daemon.p.pid)
            alive = daemon.p.poll() is None
            await observer.stop()
            errors = root / "daemon" / "logs" / "error.log"
            tracebacks = errors.read_text(encoding="utf-8").count("Traceback") if errors.exists() else 0
        finally:
            await http.aclose()
            if daemon is not None:
                daemon.terminate()
            sim.close()

    qs, fs = stats(quiet), stats(flooded)
    print("\n== Breach -> close latency, quiet vs 4 flooding local-API clients (simulator journal) ==")
    print_table([("quiet", qs), ("flooded", fs)])
    r50, r99 = fs["p50"] / qs["p50"], fs["p99"] / qs["p99"]
    print(f"\nratio p50 flooded/quiet = {r50:.2f} (target <= 1.25)  {'OK' if r50 <= 1.25 else 'OVER'}")
    print(f"ratio p99 flooded/quiet = {r99:.2f} (target <= 1.25)  {'OK' if r99 <= 1.25 else 'OVER'}")
    if rss_before:
        growth = (max(rss.peak, rss_after or 0) - rss_before) / 1e6
        print(
            f"daemon RSS: {rss_before / 1e6:.1f} MB before the floods, peak {rss.peak / 1e6:.1f} MB, "
            f"{(rss_after or 0) / 1e6:.1f} MB after; growth {growth:.1f} MB (target < 10)  "
            f"{'OK' if growth < 10 else 'OVER'}"
        )
    else:
        print("daemon RSS: not available on this platform (/proc)")
    for phase, (used, wall) in cpu.items():
        if wall > 0:
            print(f"daemon CPU while {phase}: {used / wall:.0%} of one core ({used:.1f} s in {wall:.0f} s)")
    if cpu["flooded"][1] > 0:
        print(f"flooding process CPU: {flooder_cpu / cpu['flooded'][1]:.0%} of one core")
    print("flooders got: " + ", ".join(f"{k} {v}" for k, v in sorted(got.items())))
    print(f"daemon alive after the floods: {alive}; tracebacks in error.log: {tracebacks}")
    print(f"quiet p50 {percentile(quiet, 50):.2f} ms; total run {time.monotonic() - t_start:.0f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--breaches", type=int, default=120, help="per phase (quiet, flooded)")
    parser.add_argument("--rounds", type=int, default=6, help="alternations quiet -> flooded")
    parser.add_argument("--day-trades", type=int, default=25, help="round turns per account before measuring")
    parser.add_argument("--quote-rate", type=float, default=1000.0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 breaches per phase")
    parser.add_argument("--kinds", default=",".join(KINDS), help="flooders to run (default: all four)")
    parser.add_argument("--flood", metavar="URL", help=argparse.SUPPRESS)  # the flooding child process
    args = parser.parse_args()
    args.kinds = [k for k in args.kinds.split(",") if k]
    if set(args.kinds) - set(KINDS):
        parser.error(f"--kinds: choose from {', '.join(KINDS)}")
    if args.flood:
        asyncio.run(flood(args.flood, args.kinds))
        return 0
    if args.quick:
        args.breaches, args.rounds, args.day_trades = min(args.breaches, 20), 2, 5
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
