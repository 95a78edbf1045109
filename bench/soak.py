"""Soak benchmark: does the daemon run for weeks? (spec/daemon.md §13, issue 8 §8)

Real processes: the gateway simulator and the daemon, 20 accounts on one login. For ``--minutes``
(default 10) the simulator's random walk sends quotes on all 12 built-in contracts (default 1,000
quotes/s, calibrated from its journal); twelve accounts hold one contract each for the whole run, so
the daemon receives and judges every quote; a trader makes a round trip (buy 1, sell 1) on a random
account every few seconds, and now and then breaches ``max_contracts`` (buys 3 against a limit of 2),
which the daemon must reduce; the bench then goes flat again. Each account also runs
``daily_unrealized_loss`` (a limit never reached), so quotes reach the price rules.

Every minute it prints the daemon's resident memory and open file descriptors (handles on Windows),
with the trades, breaches and CPU of that minute; at the end the slope of both after the warm-up
(least squares), then the market goes quiet (walk stopped, no trading) and the daemon's idle CPU is
measured over ``--idle-seconds``. Targets: RSS <= 100 MB, no growth trend, idle CPU < 1 %.

    .venv/bin/python bench/soak.py [--minutes 10] [--quote-rate 1000] [--idle-seconds 30] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from _stack import SYMBOLS, Sim, start_daemon, users_file, write_config
from latency import calibrate, measure_quote_rate, wait_protected

USER, KEY = "soak", "soak-key"
ACCOUNTS = list(range(5001, 5021))
HOLDERS = ACCOUNTS[: len(SYMBOLS)]  # one standing position per contract: quotes always matter
TRADERS = ACCOUNTS[len(SYMBOLS) :]  # flat between trades: the breaches happen here
RULES = {
    "max_contracts": {"enabled": True, "limit": 2, "count_type": "net", "enforcement": "reduce_to_limit"},
    "daily_unrealized_loss": {"enabled": True, "loss_limit": 1_000_000, "scope": "per_position"},
}
TRADE_EVERY_S = (2.0, 4.0)  # a round trip every few seconds
BREACH_EVERY = 6  # one trade in six is a breach
MB = 1024 * 1024


@dataclass
class Sample:
    minute: float
    rss_mb: float
    fds: int
    cpu_s: float


@dataclass
class Tally:
    trades: int = 0
    breaches: int = 0
    enforced: int = 0
    late: list[str] = field(default_factory=list)


def open_fds(proc: psutil.Process) -> int:
    return proc.num_handles() if sys.platform == "win32" else proc.num_fds()


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def sample(proc: psutil.Process, started: float) -> Sample:
    return Sample((time.monotonic() - started) / 60, proc.memory_info().rss / MB, open_fds(proc), cpu_seconds(proc))


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, value) points, per hour."""
    if len(points) < 2:
        return 0.0
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    if den == 0:
        return 0.0
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


async def post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    r = await http.post(path, json=body)
    if r.status_code >= 300:
        raise RuntimeError(f"POST {path} -> {r.status_code} {r.text}")
    return r.json()


async def size_of(http: httpx.AsyncClient, account: int) -> int:
    r = await http.get(f"/sim/state?accountId={account}")
    r.raise_for_status()
    return sum(abs(p["size"]) for p in r.json()["positions"] if p["accountId"] == account)


async def order(http: httpx.AsyncClient, account: int, symbol: str, side: str, size: int) -> None:
    body = {"accountId": account, "contractId": symbol, "type": "market", "side": side, "size": size}
    await post(http, "/sim/orders", body)


async def trader(http: httpx.AsyncClient, stop: asyncio.Event, tally: Tally, rng: random.Random) -> None:
    """Round trips on the trader accounts; every ``BREACH_EVERY``-th one is a breach."""
    n = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(*TRADE_EVERY_S))  # the pace of a trader
        if stop.is_set():
            break
        n += 1
        account, symbol = rng.choice(TRADERS), rng.choice(SYMBOLS)
        if n % BREACH_EVERY:
            await order(http, account, symbol, "buy", 1)
            await order(http, account, symbol, "sell", 1)
            tally.trades += 2
            continue
        tally.breaches += 1
        await order(http, account, symbol, "buy", 3)  # net 3 > limit 2: the daemon reduces to 2
        deadline = time.monotonic() + 5
        size = await size_of(http, account)
        while size > 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # polling the broker's state (the condition), bounded
            size = await size_of(http, account)
        if size <= 2:
            tally.enforced += 1
        else:
            tally.late.append(f"{account} {symbol}")
        if size:
            await order(http, account, symbol, "sell", size)  # flat again
        tally.trades += 2


async def run(args: argparse.Namespace, root: Path) -> int:
    sim = Sim(users_file(root / "users.json", {USER: (KEY, ACCOUNTS)}))
    daemon = None
    http = httpx.AsyncClient(base_url=sim.urls["api_url"], timeout=30)
    try:
        sim.control("POST", "/settings", {"journal_max_entries": 50_000})
        rate = await calibrate(sim, http, args.quote_rate)
        print(f"quote load: {len(SYMBOLS)} contracts, random walk, {rate:.0f} quotes/s (journal)")
        config = write_config(root / "config", sim.urls, USER, KEY, ACCOUNTS, RULES)
        daemon, api_url, ready_s = start_daemon(config, root / "daemon")
        await wait_protected(api_url, len(ACCOUNTS))
        proc = psutil.Process(daemon.p.pid)
        print(f"daemon ready after {ready_s:.2f} s (pid {proc.pid}), all {len(ACCOUNTS)} accounts protected")
        for account, symbol in zip(HOLDERS, SYMBOLS, strict=False):
            await order(http, account, symbol, "buy", 1)  # standing positions: every contract is watched
        started = time.monotonic()
        samples = [sample(proc, started)]
        tally, stop = Tally(), asyncio.Event()
        trading = asyncio.create_task(trader(http, stop, tally, random.Random(args.seed)))
        print(f"{'min':>4} {'RSS MB':>8} {'fds':>5} {'CPU %':>6} {'trades':>7} {'breaches':>9} {'enforced':>9}")
        print(f"{0:>4} {samples[0].rss_mb:>8.1f} {samples[0].fds:>5} {'-':>6} {0:>7} {0:>9} {0:>9}", flush=True)
        for minute in range(1, args.minutes + 1):
            await asyncio.sleep(max(0.0, started + 60 * minute - time.monotonic()))  # the sampling period
            if trading.done():
                trading.result()  # a failed trader is an error of the run: raise it
            s = sample(proc, started)
            cpu = 100 * (s.cpu_s - samples[-1].cpu_s) / ((s.minute - samples[-1].minute) * 60)
            samples.append(s)
            print(
                f"{minute:>4} {s.rss_mb:>8.1f} {s.fds:>5} {cpu:>6.1f} {tally.trades:>7} {tally.breaches:>9} "
                f"{tally.enforced:>9}",
                flush=True,
            )
        stop.set()
        await trading
        end_rate, _ = await measure_quote_rate(sim, http, 1.0)

        # The market goes quiet: no quotes, no trading (the standing positions stay).
        sim.control("POST", "/scenario/stop", {})
        await asyncio.sleep(5)  # let the last quotes and pushes drain before measuring idle
        idle0, t0 = cpu_seconds(proc), time.monotonic()
        await asyncio.sleep(args.idle_seconds)  # the measuring window
        idle = 100 * (cpu_seconds(proc) - idle0) / (time.monotonic() - t0)

        warm = [s for s in samples if s.minute >= args.warmup] or samples[-2:]
        rss_slope = slope_per_hour([(s.minute, s.rss_mb) for s in warm])
        fd_slope = slope_per_hour([(s.minute, float(s.fds)) for s in warm])
        peak = max(s.rss_mb for s in samples)
        print()
        print(f"quotes at the end: {end_rate:.0f}/s; trades {tally.trades}, breaches {tally.breaches}, "
              f"enforced within 5 s {tally.enforced}{' (late: ' + ', '.join(tally.late) + ')' if tally.late else ''}")
        print(f"after warm-up (minute >= {args.warmup:g}, {len(warm)} samples): RSS slope {rss_slope:+.2f} MB/h, "
              f"fds slope {fd_slope:+.2f}/h")
        print(f"RSS peak {peak:.1f} MB (target <= 100 MB): {'met' if peak <= 100 else 'NOT met'}")
        print(f"idle CPU over {args.idle_seconds:.0f} s, market quiet: {idle:.2f} % (target < 1 %): "
              f"{'met' if idle < 1 else 'NOT met'}")
        return 0 if tally.enforced == tally.breaches else 1
    finally:
        await http.aclose()
        if daemon is not None:
            daemon.terminate()
        sim.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=10, help="length of the trading part (default 10)")
    parser.add_argument("--quote-rate", type=float, default=1000.0, help="quotes per second (default 1000)")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="idle CPU window (default 30)")
    parser.add_argument("--warmup", type=float, default=None, help="minutes left out of the slope (default N/3, at most 2)")
    parser.add_argument("--seed", type=int, default=8, help="seed of the trader's choices")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, risk.db)")
    args = parser.parse_args()
    if args.warmup is None:
        args.warmup = min(2.0, args.minutes / 3)
    print(f"soak: {args.minutes} min, {len(ACCOUNTS)} accounts, {args.quote_rate:.0f} quotes/s, seed {args.seed}; "
          f"{psutil.cpu_count()} CPUs, Python {sys.version.split()[0]}, {sys.platform}")
    if args.keep:
        root = Path(tempfile.mkdtemp(prefix="rm-bench-soak-"))
        print(f"keeping the working directory {root}")
        return asyncio.run(run(args, root))
    with tempfile.TemporaryDirectory(prefix="rm-bench-soak-") as tmp:
        return asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
