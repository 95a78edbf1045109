"""Where the daemon's time goes: the per-stage stamps of ``RISK_MANAGER_LATENCY_TRACE`` matched to
the breaches ``bench/latency.py`` measured from the simulator journal.

Every breach is one pipeline event (the breaching ``GatewayUserPosition``) whose stamps
(``risk_manager/latency_trace.py``) split the journal's event -> close time into stages; the work
that ran on the daemon's loop meanwhile (quote frames, quote evaluations, the other events of the
same fill, deferred bookkeeping, garbage collections) is summed per kind over the same window. All
stamps are CLOCK_MONOTONIC nanoseconds on Linux (the simulator's journal clock too).
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from typing import Any

# (label, from stage, to stage); "event" and "close" are the simulator journal's stamps
STAGES = (
    ("sim -> daemon socket", "event", "rx"),
    ("socket -> hub reader", "rx", "read"),
    ("decode (JSON, unwrap)", "read", "decoded"),
    ("decoded -> queued", "decoded", "queued"),
    ("queue wait", "queued", "start"),
    ("engine (state + rules)", "start", "engine"),
    ("hooks (evidence, pushes)", "engine", "dispatched"),
    ("submit, executor start", "dispatched", "exec"),
    ("procedure -> HTTP call", "exec", "http"),
    ("HTTP client until written", "http", "written"),
    ("daemon -> sim handler", "written", "close"),
)
INSIDE = ("inside: socket -> written", "rx", "written")
OWN_EVENT = "GatewayUserPosition"


def _category(what: str) -> str:
    if what.startswith("gc"):
        return "garbage collection"
    return {
        "market-frame": "market-hub frames (receive + decode)",
        "user-frame": "other user-hub frames",
        "GatewayQuote": "quote evaluations (pipeline)",
        "later": "deferred bookkeeping (pushes, snapshots)",
    }.get(what, "other pipeline events (order, trade, account, tick)")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def _by_key(marks: list[list[Any]]) -> dict[int, dict[str, int]]:
    keyed: dict[int, dict[str, int]] = defaultdict(dict)
    for key, stage, ns in marks:
        keyed[key].setdefault(stage, ns)  # the first of each stage (a later read is not the close)
    return keyed


def breakdown(doc: dict[str, Any], stamps: list[tuple[int, int, int]]) -> dict[str, Any]:
    """Per stage and per competing kind: p50 / p99 / mean microseconds over the matched breaches."""
    keyed = _by_key(doc["marks"])
    candidates = sorted(
        (m["rx"], key) for key, m in keyed.items() if "rx" in m and "dispatched" in m and "written" in m
    )
    rx_list = [c[0] for c in candidates]
    spans = sorted(doc["spans"], key=lambda s: s[1])
    span_starts = [s[1] for s in spans]
    stages: dict[str, list[float]] = defaultdict(list)
    competing: dict[str, list[float]] = defaultdict(list)
    matched = 0
    for _account, event_ns, close_ns in stamps:
        i = bisect.bisect_left(rx_list, event_ns)
        if i >= len(candidates) or candidates[i][0] > close_ns:
            continue
        m = dict(keyed[candidates[i][1]], event=event_ns, close=close_ns)
        matched += 1
        for label, a, b in STAGES:
            if a in m and b in m:
                stages[label].append((m[b] - m[a]) / 1000)
        if "http" in m:  # which client sent it: the express lane (gateway/express.py) or aiohttp
            client = "  on the express lane" if "express" in m else "  through aiohttp"
            stages[client].append((m["written"] - m["http"]) / 1000)
        stages["total"].append((close_ns - event_ns) / 1000)
        stages[INSIDE[0]].append((m["written"] - m["rx"]) / 1000)
        lo, hi = m["rx"], m["written"]
        sums: dict[str, float] = defaultdict(float)
        j = max(0, bisect.bisect_left(span_starts, lo - 50_000_000))
        while j < len(spans) and spans[j][1] < hi:
            what, start, end = spans[j]
            j += 1
            if end <= lo or (what == OWN_EVENT and start == m.get("start")):
                continue
            if what == "user-frame" and start == m.get("read"):
                continue  # the breach's own frame: that is the decode stage
            sums[_category(what)] += (min(end, hi) - max(start, lo)) / 1000
        for cat in {_category(s[0]) for s in spans} | set(sums):
            competing[cat].append(sums.get(cat, 0.0))
    summary = {
        "matched": matched,
        "breaches": len(stamps),
        "meta": doc.get("meta", {}),
        "stages": {k: _summ(v) for k, v in stages.items()},
        "competing": {k: _summ(v) | {"share": sum(1 for x in v if x > 0) / len(v)} for k, v in competing.items()},
        "gc_total": _gc_totals(doc["spans"]),
    }
    return summary


def _gc_totals(spans: list[list[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for what, start, end in spans:
        if what.startswith("gc"):
            n, total, worst = out.get(what, (0, 0.0, 0.0))
            d = (end - start) / 1000
            out[what] = (n + 1, total + d, max(worst, d))
    return {k: {"count": n, "total_us": t, "max_us": w} for k, (n, t, w) in out.items()}


def _summ(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0, "mean": 0.0, "n": 0}
    return {"p50": _pct(values, 50), "p99": _pct(values, 99), "mean": statistics.fmean(values), "n": len(values)}


def floor_hops(stamps: list[tuple[int, int, int]], reads: list[tuple[int, int]]) -> dict[str, Any]:
    """The floor client's own split: sim -> client reader, and reader -> close handler."""
    by_account: dict[int, list[int]] = defaultdict(list)
    for account, ns in reads:
        by_account[account].append(ns)
    hop_in: list[float] = []
    rest: list[float] = []
    for account, event_ns, close_ns in stamps:
        seen = by_account.get(account, [])
        k = bisect.bisect_left(seen, event_ns)
        if k < len(seen) and seen[k] <= close_ns:
            hop_in.append((seen[k] - event_ns) / 1000)
            rest.append((close_ns - seen[k]) / 1000)
    return {"sim -> client reader": _summ(hop_in), "reader -> sim handler": _summ(rest), "n": len(hop_in)}


def print_breakdown(b: dict[str, Any], floor: dict[str, Any]) -> None:
    print(f"\n== Inside the daemon: {b['matched']} of {b['breaches']} breaches matched to the trace (microseconds) ==")
    print(f"{'stage':<28} {'p50':>8} {'p99':>8} {'mean':>8}")
    for label, _a, _b in STAGES:
        s = b["stages"].get(label)
        if s:
            print(f"{label:<28} {s['p50']:>8.0f} {s['p99']:>8.0f} {s['mean']:>8.0f}")
        if label.startswith("HTTP client"):
            for client in ("  on the express lane", "  through aiohttp"):
                s = b["stages"].get(client)
                if s:
                    print(f"{client + ' (' + str(s['n']) + ')':<28} {s['p50']:>8.0f} {s['p99']:>8.0f} {s['mean']:>8.0f}")
    inside = b["stages"].get(INSIDE[0])
    if inside:
        print(f"{INSIDE[0]:<28} {inside['p50']:>8.0f} {inside['p99']:>8.0f} {inside['mean']:>8.0f}")
    t = b["stages"].get("total")
    if t:
        print(f"{'total (journal)':<28} {t['p50']:>8.0f} {t['p99']:>8.0f} {t['mean']:>8.0f}")
    for label in ("sim -> client reader", "reader -> sim handler"):
        s = floor.get(label)
        if s:
            print(f"{'floor: ' + label:<28} {s['p50']:>8.0f} {s['p99']:>8.0f} {s['mean']:>8.0f}")
    print(f"\n{'work on the loop between socket and request written':<52} {'p50':>7} {'p99':>7} {'mean':>7} {'share':>6}")
    for cat, s in sorted(b["competing"].items(), key=lambda kv: -kv[1]["mean"]):
        print(f"{cat:<52} {s['p50']:>7.0f} {s['p99']:>7.0f} {s['mean']:>7.0f} {s['share']:>6.0%}")
    if b["gc_total"]:
        gcs = ", ".join(f"{k}: {v['count']} ({v['total_us'] / 1000:.1f} ms, worst {v['max_us']:.0f} us)" for k, v in sorted(b["gc_total"].items()))
        print(f"garbage collections during the run: {gcs}")
