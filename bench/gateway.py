"""Benchmark: our realtime client vs a bare ``websockets`` reader on the same quote stream.

The simulator runs in a child process (so that generating quotes does not share the clients' event
loop) and emits ``GatewayQuote`` events at increasing rates. In the parent, our :class:`MarketHub` and
a minimal SignalR reader written directly on ``websockets`` subscribe to the same contract on the
same hub; both parse every record. For each rate the script prints sustained events/s and delivery
latency (quote ``timestamp`` set by the simulator → callback, same machine clock) p50/p99 for both,
and the ratio ours/bare (target <= 1.5).

    .venv/bin/python bench/gateway.py [--rates 500,1000,2000,4000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime
from typing import Any

RS = "\x1e"


# ----- child: the simulator and a quote driver -------------------------------------------------------------
async def child() -> None:
    from decimal import Decimal

    from risk_manager.sim.server import SimServer

    server = SimServer(host="127.0.0.1", port=0, seed=1, users_file=None, scenario=None)
    await server.start()
    contract = server.sim.table.resolve("MNQ")
    assert contract is not None
    print(json.dumps({"base_url": server.base_url, "contract": contract.id}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    prices = (Decimal("24500.00"), Decimal("24500.25"), Decimal("24500.50"))
    n = 0
    while line := (await reader.readline()).decode().strip():
        if line == "quit":
            break
        rate, seconds = (float(x) for x in line.split())
        sent = 0
        start = time.perf_counter()
        step = 0.005
        while (elapsed := time.perf_counter() - start) < seconds:
            due = int(rate * elapsed)
            while sent < due:
                bid = prices[n % 3]
                n += 1
                server.sim.market.set_quote(contract, bid, bid + Decimal("0.25"), None, None)
                sent += 1
            await asyncio.sleep(step)
        print(json.dumps({"sent": sent, "seconds": time.perf_counter() - start}), flush=True)
    await server.stop()


# ----- parent: the two clients -----------------------------------------------------------------------------
def _latency(payload: dict[str, Any]) -> float | None:
    stamp = payload.get("timestamp")
    if not isinstance(stamp, str):
        return None
    return time.time() - datetime.fromisoformat(stamp).timestamp()


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.count = 0

    def add(self, payload: dict[str, Any]) -> None:
        self.count += 1
        lat = _latency(payload)
        if lat is not None:
            self.latencies.append(lat)

    def reset(self) -> None:
        self.latencies = []
        self.count = 0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bare_reader(url: str, token: str, contract: str, stats: Stats, ready: asyncio.Event) -> None:
    """The least a SignalR JSON client must do: handshake, subscribe, split on RS, parse, dispatch."""
    from websockets.asyncio.client import connect

    ws_url = url.replace("http://", "ws://") + f"?access_token={token}"
    async with connect(ws_url, ping_interval=None, compression=None, max_size=None) as ws:
        await ws.send(json.dumps({"protocol": "json", "version": 1}) + RS)
        await ws.recv()
        sub = {"type": 1, "invocationId": "1", "target": "SubscribeContractQuotes", "arguments": [contract]}
        await ws.send(json.dumps(sub) + RS)
        async for frame in ws:
            text = frame if isinstance(frame, str) else frame.decode()
            for record in text.split(RS):
                if not record:
                    continue
                msg = json.loads(record)
                if msg.get("type") == 3:
                    ready.set()
                elif msg.get("type") == 1 and msg.get("target") == "GatewayQuote":
                    stats.add(msg["arguments"][1])


async def parent(rates: list[int], seconds: float) -> int:
    from risk_manager.gateway.hub import HubSettings
    from risk_manager.gateway.hubs import MarketHub
    from risk_manager.gateway.rest import RestClient
    from risk_manager.gateway.session import RestSettings

    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--child", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    info = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
    base, contract = info["base_url"], info["contract"]
    rest = RestClient("sim", "sim-key", RestSettings(api_url=base))
    token = await rest.token()
    ours, bare = Stats(), Stats()
    bare_ready = asyncio.Event()
    # The bare reader subscribes first, so the simulator writes to it first: any bias favours it.
    bare_task = asyncio.create_task(bare_reader(base + "/hubs/market", token, contract, bare, bare_ready))
    await asyncio.wait_for(bare_ready.wait(), 10)
    hub = MarketHub(
        base + "/hubs/market",
        rest.token,
        lambda target, payload: ours.add(payload) if target == "GatewayQuote" else None,
        settings=HubSettings(skip_negotiation=False),
    )
    hub.start()
    await hub.subscribe_quotes(contract)
    await hub.wait_connected(10)
    print(
        f"{'rate/s':>8} {'sent':>7} | {'ours ev/s':>9} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'bare ev/s':>9} {'p50 ms':>7} {'p99 ms':>7} | {'p50 x':>6} {'p99 x':>6}"
    )
    worst = 0.0
    for rate in rates:
        ours.reset()
        bare.reset()
        proc.stdin.write(f"{rate} {seconds}\n".encode())
        await proc.stdin.drain()
        done = json.loads(await asyncio.wait_for(proc.stdout.readline(), seconds + 60))
        sent, took = done["sent"], done["seconds"]
        deadline = time.monotonic() + 10
        while (ours.count < sent or bare.count < sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # drain what is still in flight
        r50 = ours.pct(0.5) / bare.pct(0.5)
        r99 = ours.pct(0.99) / bare.pct(0.99)
        worst = max(worst, r50)
        print(
            f"{rate:>8} {sent:>7} | {ours.count / took:>9.0f} {ours.pct(0.5) * 1e3:>7.2f} {ours.pct(0.99) * 1e3:>7.2f} | "
            f"{bare.count / took:>9.0f} {bare.pct(0.5) * 1e3:>7.2f} {bare.pct(0.99) * 1e3:>7.2f} | "
            f"{r50:>6.2f} {r99:>6.2f}",
            flush=True,
        )
        if ours.count < sent or bare.count < sent:
            print(f"         (delivered ours={ours.count} bare={bare.count} of {sent})")
    print(f"worst p50 ratio ours/bare: {worst:.2f} (target <= 1.5)")
    proc.stdin.write(b"quit\n")
    await proc.stdin.drain()
    await hub.stop()
    bare_task.cancel()
    await asyncio.gather(bare_task, return_exceptions=True)
    await rest.aclose()
    await asyncio.wait_for(proc.wait(), 30)
    return 0 if worst <= 1.5 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rates", default="500,1000,2000,4000,8000")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child())
        return 0
    rates = [int(x) for x in args.rates.split(",")]
    result = asyncio.run(parent(rates, args.seconds))
    return result


if __name__ == "__main__":
    sys.exit(main())
