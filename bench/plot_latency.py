"""Plot enforcement latency percentiles against the quote rate, from ``bench/latency.py --json``.

One PNG: daemon and floor p50 / p99 (milliseconds, median over the runs at each rate) against the
achieved quote rate, and the daemon/floor ratios on a second axis with the targets drawn in.
matplotlib comes with the dev extra (``pip install -e '.[dev]'``).

    .venv/bin/python bench/latency.py --quote-rate sweep --runs 3 --json sweep.json
    .venv/bin/python bench/plot_latency.py sweep.json -o docs/latency-vs-quote-rate.png
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any


def series(doc: dict[str, Any]) -> dict[str, list[float]]:
    med = statistics.median
    out: dict[str, list[float]] = {k: [] for k in ("rate", "fp50", "fp99", "dp50", "dp99", "r50", "r99")}
    for _key, runs in sorted(doc["results"].items(), key=lambda kv: float(kv[0])):
        out["rate"].append(med([r["rate"] for r in runs]))
        out["fp50"].append(med([r["floor"]["p50"] for r in runs]))
        out["fp99"].append(med([r["floor"]["p99"] for r in runs]))
        out["dp50"].append(med([r["daemon"]["p50"] for r in runs]))
        out["dp99"].append(med([r["daemon"]["p99"] for r in runs]))
        out["r50"].append(med([r["ratio_p50"] for r in runs]))
        out["r99"].append(med([r["ratio_p99"] for r in runs]))
    return out


def plot(doc: dict[str, Any], path: Path, title: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = series(doc)
    runs = max(len(r) for r in doc["results"].values())
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(s["rate"], s["dp50"], "o-", color="tab:blue", label="daemon p50")
    left.plot(s["rate"], s["dp99"], "o--", color="tab:blue", label="daemon p99")
    left.plot(s["rate"], s["fp50"], "s-", color="tab:gray", label="floor p50")
    left.plot(s["rate"], s["fp99"], "s--", color="tab:gray", label="floor p99")
    left.set_xlabel("quotes per second")
    left.set_ylabel("position event -> closeContract (ms)")
    left.set_title("latency (median of runs)")
    left.grid(True, alpha=0.3)
    left.legend()
    right.plot(s["rate"], s["r50"], "o-", color="tab:green", label="p50 ratio")
    right.plot(s["rate"], s["r99"], "o--", color="tab:red", label="p99 ratio")
    right.axhline(1.5, color="tab:green", lw=0.8, ls=":", label="p50 target 1.5 (1,000/s)")
    right.axhline(2.0, color="tab:red", lw=0.8, ls=":", label="p99 target 2.0 (1,000/s)")
    right.axhline(3.0, color="tab:purple", lw=0.8, ls=":", label="p99 target 3.0 (5,000/s)")
    right.set_xlabel("quotes per second")
    right.set_ylabel("daemon / floor")
    right.set_title("ratio to the floor (same run)")
    right.set_ylim(bottom=0)
    right.grid(True, alpha=0.3)
    right.legend(fontsize=8)
    machine = doc.get("machine", {})
    fig.suptitle(
        title
        or f"bench/latency.py: {runs} run(s) per rate, {machine.get('cpus', '?')} CPUs, "
        f"{machine.get('platform', '?')}, Python {machine.get('python', '?')}"
        + (", CPU-bound neighbour" if doc.get("args", {}).get("contend") else "")
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="the file written by bench/latency.py --json")
    parser.add_argument("-o", "--output", default="latency-vs-quote-rate.png")
    parser.add_argument("--title")
    args = parser.parse_args()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib is needed: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    doc = json.loads(Path(args.results).read_text(encoding="utf-8"))
    plot(doc, Path(args.output), args.title)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
