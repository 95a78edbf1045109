"""`risk-manager demo` as a user runs it: real simulator and daemon subprocesses, rules firing live."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

LINE = re.compile(r"^(\S+) account=(\d+) (\w+) (\{.*\})$")


def test_demo_shows_rules_firing_within_a_minute() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "risk_manager", "demo", "--no-dashboard", "--duration", "40"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = []
    for line in proc.stdout.splitlines():
        match = LINE.match(line)
        if match:
            events.append((int(match.group(2)), match.group(3), json.loads(match.group(4))))
    done = {
        (acct, e["ruleId"], e["action"])
        for acct, kind, e in events
        if kind == "enforcement" and e["state"] == "done"
    }
    assert (1001, "RULE-002", "reduce_position") in done, proc.stdout[-3000:]  # 6 MNQ > 4 at ~20 s
    assert (1001, "RULE-011", "close_position") in done  # blocked CL at ~35 s
    locks = [e for acct, kind, e in events if kind == "lockout_set"]
    assert any(e["ruleId"] == "RULE-011" for e in locks)
    # No scary noise in a healthy demo.
    assert not [
        e for _, kind, e in events if kind == "warning" and "no contract details" in e.get("message", "")
    ]
    # The throwaway working directory is removed when --keep is not given.
    workdir = re.search(r"working directory (\S+)", proc.stderr)
    assert workdir is not None and not Path(workdir.group(1)).exists()
