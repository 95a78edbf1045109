"""Start-up benchmark: daemon process start -> all 20 accounts protected (target <= 2 s).

Real processes: one gateway simulator (20 accounts on one user, left running) and the daemon started
again and again against it. The clock starts just before ``Popen``; the bench notes when the
``local API ws://...`` ready line arrives, then polls the local API ``status`` request over a
websocket until it reports every account ``protected``. Five runs use a fresh data directory each;
a sixth reuses the database of the fifth (warm start). The simulator's rate limit is switched off:
six sign-ins with 20 reconciles each inside a few seconds would otherwise exceed it, which no real
start does.

Baselines measured in the same run: ``python -c pass`` (interpreter start) and
``python -c "import risk_manager.daemon.app"`` (import cost of the daemon), to show where time goes.

    .venv/bin/python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

from _stack import API_LINE, PY, Proc, Sim, users_file, write_config
from risk_manager.procs import daemon_command

USER, KEY = "bench", "bench-key"
ACCOUNTS = list(range(3001, 3021))
RULE = {"max_contracts": {"enabled": True, "limit": 1, "count_type": "net", "enforcement": "close_all"}}


async def poll_protected(
    api_url: str, started: float, accounts: int, timeout: float = 30.0
) -> tuple[float, int]:
    """Seconds from ``started`` until status says all accounts are protected; and the number of polls."""
    deadline = time.monotonic() + timeout
    polls = 0
    async with connect(api_url, max_size=None) as ws:
        while True:
            polls += 1
            rid = f"s{polls}"
            await ws.send(json.dumps({"id": rid, "op": "status", "data": {}}))
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), timeout))
                if msg.get("type") == "response" and msg.get("id") == rid:
                    break
            data = msg.get("data") or {}
            if data.get("accounts") == accounts and data.get("protected") == accounts:
                return time.perf_counter() - started, polls
            if time.monotonic() > deadline:
                raise RuntimeError(f"not protected within {timeout}s: {data.get('unprotected')}")
            await asyncio.sleep(0.01)  # status poll interval


def one_run(config: Path, workdir: Path) -> tuple[float, float, int]:
    """(ready line s, all protected s, polls) for one daemon start; the daemon is stopped after."""
    proc = Proc(daemon_command(config, workdir))
    try:
        at, line = proc.wait_line(API_LINE, 30)
        match = API_LINE.search(line)
        assert match is not None
        protected, polls = asyncio.run(poll_protected(match.group(1), proc.started, len(ACCOUNTS)))
        return at - proc.started, protected, polls
    finally:
        proc.terminate()


def time_process(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([PY, "-c", code], check=True)
    return time.perf_counter() - t0


def summary(values: list[float]) -> str:
    return f"{min(values):6.3f} {statistics.median(values):8.3f} {max(values):6.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh-database runs (plus one warm run)")
    args = parser.parse_args()

    interp = [time_process("pass") for _ in range(3)]
    imports = [time_process("import risk_manager.daemon.app") for _ in range(3)]

    rows: list[tuple[str, float, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="rm-bench-startup-") as tmp:
        root = Path(tmp)
        sim = Sim(users_file(root / "users.json", {USER: (KEY, ACCOUNTS)}))
        try:
            sim.control("POST", "/settings", {"rate_limit_enabled": False})
            config = write_config(root / "config", sim.urls, USER, KEY, ACCOUNTS, RULE)
            for i in range(args.runs):
                ready, protected, polls = one_run(config, root / f"run{i}")
                rows.append((f"fresh #{i + 1}", ready, protected, polls))
            ready, protected, polls = one_run(config, root / f"run{args.runs - 1}")
            rows.append(("reused DB", ready, protected, polls))
        finally:
            sim.close()

    print(f"\n== Daemon start-up: Popen -> all {len(ACCOUNTS)} accounts protected (local API status) ==")
    print(f"{'run':<11} {'ready line s':>12} {'protected s':>12} {'polls':>6}")
    for name, ready, protected, polls in rows:
        print(f"{name:<11} {ready:>12.3f} {protected:>12.3f} {polls:>6}")
    fresh = rows[:-1]
    print(f"\n{'':<28} {'min':>6} {'median':>8} {'max':>6}")
    print(f"{'ready line (fresh), s':<28} {summary([r[1] for r in fresh])}")
    print(f"{'all protected (fresh), s':<28} {summary([r[2] for r in fresh])}")
    print(f"{'all protected (all runs), s':<28} {summary([r[2] for r in rows])}")
    print(f"{'python -c pass, s':<28} {summary(interp)}")
    print(f"{'import daemon.app, s':<28} {summary(imports)}")
    worst = max(r[2] for r in rows)
    print(f"\ntarget: all protected <= 2.0 s; worst run {worst:.3f} s  {'OK' if worst <= 2.0 else 'OVER'}")
    imp, ready = statistics.median(imports), statistics.median([r[1] for r in fresh])
    prot = statistics.median([r[2] for r in fresh])
    print(
        f"where the time goes (medians): interpreter {statistics.median(interp):.3f} s, "
        f"imports {imp - statistics.median(interp):.3f} s, import -> ready line {ready - imp:.3f} s, "
        f"ready line -> all protected {prot - ready:.3f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
