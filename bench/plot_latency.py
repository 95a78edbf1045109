"""Plot enforcement latency percentiles against the quote rate, from ``bench/latency.py --json``.

One PNG: daemon and floor p50 / p99 (milliseconds, median over the runs at each rate) against the
target quote rate, and the daemon/floor ratios with the targets drawn in. Several result files (a
quiet sweep and a ``--contend`` sweep) are drawn side by side in the same axes. matplotlib comes
with the dev extra (``pip install -e '.[dev]'``).

    .venv/bin/python bench/latency.py --quote-rate sweep --runs 3 --json quiet.json
    .venv/bin/python bench/latency.py --quote-rate sweep --runs 3 --contend --json contend.json
    .venv/bin/python bench/plot_latency.py quiet.json contend.json -o docs/latency-vs-quote-rate.png
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

KEYS = ("rate", "fp50", "fp99", "dp50", "dp99", "r50", "r99")


def series(doc: dict[str, Any]) -> dict[str, list[float]]:
    """Per target rate (ascending): the medians over its runs."""
    med = statistics.median
    out: dict[str, list[float]] = {k: [] for k in KEYS}
    for key, runs in sorted(doc["results"].items(), key=lambda kv: float(kv[0])):
        out["rate"].append(float(key))
        out["fp50"].append(med([r["floor"]["p50"] for r in runs]))
        out["fp99"].append(med([r["floor"]["p99"] for r in runs]))
        out["dp50"].append(med([r["daemon"]["p50"] for r in runs]))
        out["dp99"].append(med([r["daemon"]["p99"] for r in runs]))
        out["r50"].append(med([r["ratio_p50"] for r in runs]))
        out["r99"].append(med([r["ratio_p99"] for r in runs]))
    return out


def plot(docs: list[dict[str, Any]], path: Path, title: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    for doc, marker in zip(docs, ("o", "^", "s", "v"), strict=False):
        s = series(doc)
        name = "CPU-bound neighbour" if doc.get("args", {}).get("contend") else "quiet"
        left.plot(s["rate"], s["dp50"], marker + "-", color="tab:blue", label=f"daemon p50 ({name})")
        left.plot(s["rate"], s["dp99"], marker + "--", color="tab:blue", alpha=0.6, label=f"daemon p99 ({name})")
        left.plot(s["rate"], s["fp50"], marker + "-", color="tab:gray", label=f"floor p50 ({name})")
        left.plot(s["rate"], s["fp99"], marker + "--", color="tab:gray", alpha=0.6, label=f"floor p99 ({name})")
        right.plot(s["rate"], s["r50"], marker + "-", color="tab:green", label=f"p50 ratio ({name})")
        right.plot(s["rate"], s["r99"], marker + "--", color="tab:red", label=f"p99 ratio ({name})")
    right.axhline(1.5, color="tab:green", lw=0.8, ls=":", label="p50 target 1.5 (1,000/s)")
    right.axhline(2.0, color="tab:red", lw=0.8, ls=":", label="p99 target 2.0 (1,000/s)")
    right.axhline(2.5, color="tab:orange", lw=0.8, ls=":", label="p99 target 2.5 (neighbour)")
    right.axhline(3.0, color="tab:purple", lw=0.8, ls=":", label="p99 target 3.0 (5,000/s)")
    rates = sorted({float(k) for d in docs for k in d["results"]})
    for ax in (left, right):
        ax.set_xscale("symlog", linthresh=100)
        ax.set_xticks(rates, [f"{r:,.0f}" for r in rates])
        ax.set_xlim(rates[0] - 20 if rates[0] <= 0 else rates[0] * 0.8, rates[-1] * 1.2)
        ax.set_xlabel("background quotes per second")
        ax.grid(True, alpha=0.3)
    left.set_ylabel("position event -> closeContract (ms)")
    left.set_title("latency (median of the runs)")
    left.set_ylim(bottom=0)
    left.legend(fontsize=7)
    right.set_ylabel("daemon / floor")
    right.set_title("ratio to the floor (same run)")
    right.set_ylim(bottom=0)
    right.legend(fontsize=7)
    machine = docs[0].get("machine", {})
    runs = max(len(r) for d in docs for r in d["results"].values())
    fig.suptitle(
        title
        or f"bench/latency.py: {runs} run(s) per rate, {machine.get('cpus', '?')} CPUs, "
        f"{machine.get('platform', '?')}, Python {machine.get('python', '?')}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="files written by bench/latency.py --json")
    parser.add_argument("-o", "--output", default="latency-vs-quote-rate.png")
    parser.add_argument("--title")
    args = parser.parse_args()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib is needed: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    docs = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.results]
    plot(docs, Path(args.output), args.title)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
