"""Back to protected within 3 s after a broker outage ends (spec/daemon.md §13; issue 8, section 4).

The outage is the simulator's (hub connections refused with 503 for its duration). Its end is taken
from the simulator's journal (the fault's ``armed`` entry plus its duration); "protected again" is
the moment the daemon's ``connection`` push saying so reaches this client. Both are CLOCK_MONOTONIC
readings of processes on the same machine, so they compare directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .conftest import Stack
from .harness import ApiClient, wait_until
from .rulesets import PER_ACCOUNT

OUTAGE_S = 4.0
TARGET_S = 3.0


async def test_protected_again_within_3_s_of_the_outage_ending(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack({"outage": ("outage-key", [3101])}, {3101: PER_ACCOUNT[2001]})
    daemon = stack.start_daemon()
    async with ApiClient(daemon.api_url) as api:
        await api.wait_for(
            lambda m: m.get("type") == "snapshot"
            and (m["data"]["accounts"] or [{}])[0].get("protection") == "protected"
            or (m.get("type") == "connection" and m["data"].get("protection") == "protected"),
            15,
            "protected at start",
        )
        armed = stack.sim.control("POST", "/faults", {"kind": "hub_outage", "hub": "all", "duration_s": OUTAGE_S})
        entry = wait_until(
            lambda: [
                e
                for e in stack.sim.journal(kinds="fault")
                if e.get("fault_id") == armed["id"] and e.get("action") == "armed"
            ],
            5,
            "the fault in the journal",
        )[0]
        outage_end_ns = entry["ts_ns"] + int(OUTAGE_S * 1e9)
        await api.wait_for(
            lambda m: m.get("type") == "connection" and m["data"].get("protection") == "disconnected",
            10,
            "NOT PROTECTED during the outage",
        )
        await api.wait_for(
            lambda m: m.get("type") == "connection" and m["data"].get("protection") == "protected",
            OUTAGE_S + 15,
            "protected again",
        )
        back_s = (time.monotonic_ns() - outage_end_ns) / 1e9
    print(f"\noutage end -> protected again: {back_s:.2f} s (target <= {TARGET_S} s)")
    assert back_s <= TARGET_S, f"protected again {back_s:.2f} s after the outage ended"
