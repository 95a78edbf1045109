"""Engine benchmark: a quote storm over 20 accounts x 5 open positions.

Prints quotes/s, p50/p99 microseconds per quote event, and the ratio of the engine's cost per quote
to the cost of ``json.loads`` of the same SignalR quote frame, measured in the same run (target:
ratio <= 2.0). The main scenario is a realistic tape: prices wander a few ticks around the entries,
so most quotes change no decision. A second scenario switches the quiet-band fast path off so every
quote pays for the full Decimal evaluation of every holder; it is printed for transparency.

Run: python bench/engine.py [--quotes N] [--seed S]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from risk_manager.config.loader import AppConfig
from risk_manager.engine import Engine

# (contract id, name, tick size, tick value, reference price) - rules.md §7
CONTRACTS = [
    ("CON.F.US.MNQ.Z25", "MNQZ5", "0.25", "0.50", "21000.00"),
    ("CON.F.US.ENQ.Z25", "NQZ5", "0.25", "5.00", "21000.00"),
    ("CON.F.US.MES.Z25", "MESZ5", "0.25", "1.25", "6000.00"),
    ("CON.F.US.EP.Z25", "ESZ5", "0.25", "12.50", "6000.00"),
    ("CON.F.US.RTY.Z25", "RTYZ5", "0.10", "5.00", "2400.0"),
    ("CON.F.US.M2K.Z25", "M2KZ5", "0.10", "0.50", "2400.0"),
    ("CON.F.US.YM.Z25", "YMZ5", "1.00", "5.00", "44000"),
    ("CON.F.US.MYM.Z25", "MYMZ5", "1.00", "0.50", "44000"),
    ("CON.F.US.CLE.F26", "CLF6", "0.01", "10.00", "70.00"),
    ("CON.F.US.MCLE.F26", "MCLF6", "0.01", "1.00", "70.00"),
    ("CON.F.US.GCE.G26", "GCG6", "0.10", "10.00", "2600.0"),
    ("CON.F.US.MGC.G26", "MGCG6", "0.10", "1.00", "2600.0"),
]
ACCOUNTS = 20
POSITIONS = 5
START = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)  # 10:00 Chicago, a Tuesday: inside the session


def build_engine() -> Engine:
    accounts = [{"id": 5000 + i, "name": f"BENCH-{i}"} for i in range(ACCOUNTS)]
    risk = {
        "version": 1,
        # RTY is in the default blocked list and unlisted symbols are limited to 1: open it up so the
        # bench positions are legal and the storm measures the quote path, not enforcement.
        "rules": {
            "symbol_blocks": {"blocked_symbols": ["BTC"]},
            "max_contracts": {"limit": 20},
            "max_contracts_per_instrument": {"unknown_symbol_action": "allow_unlimited"},
        },
    }
    config = AppConfig.from_dicts(
        risk,
        {
            "version": 1,
            "gateway": {
                "environment": "custom",
                "api_url": "http://127.0.0.1:1",
                "user_hub_url": "http://127.0.0.1:1/hubs/user",
                "market_hub_url": "http://127.0.0.1:1/hubs/market",
            },
            "logins": [{"name": "bench", "user_name": "bench@example.com", "accounts": accounts}],
        },
    )
    engine = Engine.from_config(config)
    for cid, name, tick, value, _ref in CONTRACTS:
        engine.evaluate(
            "Contract",
            {
                "id": cid,
                "name": name,
                "symbolId": ".".join(cid.split(".")[1:4]),
                "tickSize": float(tick),
                "tickValue": float(value),
            },
            START,
        )
    pid = 1
    for i in range(ACCOUNTS):
        for j in range(POSITIONS):
            cid, _name, _tick, _value, ref = CONTRACTS[(i + j * 2) % len(CONTRACTS)]
            engine.evaluate(
                "GatewayUserPosition",
                {
                    "id": pid,
                    "accountId": 5000 + i,
                    "contractId": cid,
                    "creationTimestamp": START.isoformat(),
                    "type": 1 if (i + j) % 2 == 0 else 2,
                    "size": 1 + (i + j) % 2,
                    "averagePrice": float(ref),
                },
                START,
            )
            pid += 1
    # Each position gets its stop so RULE-008 is satisfied (protected accounts, as in real use).
    for i in range(ACCOUNTS):
        for pos in list(engine.account(5000 + i).positions.values()):
            info = engine.state.contracts[pos.contract_id]
            stop = pos.average_price - info.tick_size * 40 * pos.direction
            engine.evaluate(
                "GatewayUserOrder",
                {
                    "id": pid,
                    "accountId": 5000 + i,
                    "contractId": pos.contract_id,
                    "status": 1,
                    "type": 4,
                    "side": 1 if pos.direction > 0 else 0,
                    "size": pos.size,
                    "stopPrice": float(stop),
                    "updateTimestamp": START.isoformat(),
                },
                START,
            )
            pid += 1
    return engine


def quote_stream(n: int, seed: int, walk_ticks: int) -> list[tuple[str, str, dict]]:
    """(contract id, SignalR frame text, payload dict the gateway client hands to the engine)."""
    rng = random.Random(seed)
    offsets = [0] * len(CONTRACTS)
    out = []
    ts = START
    for _ in range(n):
        k = rng.randrange(len(CONTRACTS))
        cid, name, tick, _value, ref = CONTRACTS[k]
        step = rng.choice((-1, 0, 1))
        offsets[k] = max(-walk_ticks, min(walk_ticks, offsets[k] + step))
        t = Decimal(tick)
        last = Decimal(ref) + t * offsets[k]
        ts += timedelta(microseconds=500)
        quote = {
            "symbol": ".".join(cid.split(".")[1:4]),
            "symbolName": "/" + name[:-2],
            "lastPrice": float(last),
            "bestBid": float(last - t),
            "bestAsk": float(last),
            "change": -20.25,
            "changePercent": -0.08,
            "open": float(Decimal(ref)),
            "high": float(Decimal(ref) + t * walk_ticks),
            "low": float(Decimal(ref) - t * walk_ticks),
            "volume": 18233,
            "lastUpdated": ts.isoformat(),
            "timestamp": ts.isoformat(),
        }
        frame = json.dumps({"type": 1, "target": "GatewayQuote", "arguments": [cid, quote]}) + "\x1e"
        payload = dict(quote, contractId=cid)
        out.append((cid, frame, payload))
    return out


def per_event_ns(fn, items) -> list[int]:
    clock = time.perf_counter_ns
    samples = []
    for item in items:
        t0 = clock()
        fn(item)
        samples.append(clock() - t0)
    return samples


def run(n: int, seed: int) -> float:
    stream = quote_stream(n, seed, walk_ticks=8)
    frames = [f[:-1] for _, f, _ in stream]
    payloads = [p for _, _, p in stream]
    now = START + timedelta(seconds=1)

    def engine_pass(engine: Engine, label: str) -> tuple[float, list[int], int]:
        evaluate = engine.evaluate
        gc.collect()
        gc.disable()
        try:
            actions = 0
            t0 = time.perf_counter()
            for p in payloads:
                actions += len(evaluate("GatewayQuote", p, now))
            total = time.perf_counter() - t0
            samples = per_event_ns(lambda p: evaluate("GatewayQuote", p, now), payloads)
        finally:
            gc.enable()
        return total, samples, actions

    loads = json.loads
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for f in frames:
            loads(f)
        json_total = time.perf_counter() - t0
        json_samples = per_event_ns(loads, frames)
    finally:
        gc.enable()

    fast_engine = build_engine()
    fast_total, fast_samples, fast_actions = engine_pass(fast_engine, "fast")
    full_engine = build_engine()
    full_engine.state.quiet_bands = False
    full_total, full_samples, full_actions = engine_pass(full_engine, "full")

    def pct(samples: list[int], q: float) -> float:
        s = sorted(samples)
        return s[min(len(s) - 1, int(q * len(s)))] / 1000

    holders = statistics.mean(len(v) for v in fast_engine.state.holders.values())
    print(
        f"engine benchmark: {ACCOUNTS} accounts x {POSITIONS} positions over {len(CONTRACTS)} contracts "
        f"({holders:.1f} holders per contract), {n} quotes, python {sys.version.split()[0]}"
    )
    print(
        f"  json.loads of the quote frame : {n / json_total:>12,.0f} frames/s   "
        f"p50 {pct(json_samples, 0.5):6.2f} us   p99 {pct(json_samples, 0.99):6.2f} us"
    )
    print(
        f"  engine (quiet-band fast path) : {n / fast_total:>12,.0f} quotes/s   "
        f"p50 {pct(fast_samples, 0.5):6.2f} us   p99 {pct(fast_samples, 0.99):6.2f} us   "
        f"actions {fast_actions}"
    )
    print(
        f"  engine (full evaluation)      : {n / full_total:>12,.0f} quotes/s   "
        f"p50 {pct(full_samples, 0.5):6.2f} us   p99 {pct(full_samples, 0.99):6.2f} us   "
        f"actions {full_actions}"
    )
    ratio = fast_total / json_total
    print(
        f"  ratio engine/json.loads per quote: {ratio:.2f} (target <= 2.0); "
        f"full evaluation: {full_total / json_total:.2f}"
    )
    if fast_actions != full_actions:
        print("  WARNING: fast path and full evaluation decided differently", file=sys.stderr)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotes", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    run(args.quotes, args.seed)


if __name__ == "__main__":
    main()
