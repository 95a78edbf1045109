"""`risk-manager demo` as a user runs it: real simulator and daemon subprocesses, rules firing live."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# 08:42:45 CT  1001   RULE-002  reduce position MNQ Z6   done     MNQ net contracts 6 > limit 4
LINE = re.compile(r"^(\d\d:\d\d:\d\d) \S+\s+(\d+)\s+(RULE-\d{3}|-)\s+(.+)$")


def test_demo_prints_one_readable_line_per_event_within_a_minute() -> None:
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
        assert match is not None, f"not a readable event line: {line!r}"
        assert not line.lstrip().startswith("{") and '{"' not in line  # no raw JSON
        events.append((int(match.group(2)), match.group(3), match.group(4)))
    rest = [r for acct, rule, r in events if acct == 1001 and rule == "RULE-002"]
    assert any("reduce position MNQ" in r and " done " in r and "6 > limit 4" in r for r in rest), (
        proc.stdout[-3000:]
    )
    blocked = [r for acct, rule, r in events if acct == 1001 and rule == "RULE-011"]
    assert any(r.startswith("close position CL") and " done " in r for r in blocked), proc.stdout
    assert any(r.startswith("lock CL") and "set until an administrator unlocks" in r for r in blocked)
    # One line per event: the same record is never printed twice.
    assert len(proc.stdout.splitlines()) == len(set(proc.stdout.splitlines()))
    # No scary noise in a healthy demo.
    assert "no contract details" not in proc.stdout
    # The throwaway working directory is removed when --keep is not given.
    workdir = re.search(r"working directory (\S+)", proc.stderr)
    assert workdir is not None and not Path(workdir.group(1)).exists()
