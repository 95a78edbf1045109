"""Settling the garbage collector once a process has started (the daemon and the trader dashboard).

Why: CPython's full collection scans every object the process holds. A start-up leaves hundreds of
thousands of long-lived objects (modules, configuration, the dashboard's widgets and caches), and each
full collection over them took 60-90 ms, landing wherever an allocation tipped the count: inside a
breach in the daemon, inside a screen update in the dashboard (docs/performance.md). Moving the
survivors of start-up out of the collector's reach (``gc.freeze``) and raising the young
generation's threshold leaves collections that are short and rare. Reference counting frees almost
everything allocated later; the cyclic collector only has to find the occasional cycle.

Only the programs' own entry points call this, never a library user or a test process hosting them.
"""

from __future__ import annotations

import gc
from typing import Any

# Young-generation threshold after start-up (CPython's default is 700 allocations). Collections of
# generation 0 scan only what was allocated since the last one, so a larger threshold means fewer
# collections, each scanning more; the older generations keep their defaults. The daemon frees nearly
# everything it allocates per event, so its young collections stay short even at 50,000; the
# dashboard keeps more of what it allocates (rendered lines, cached cells), and a young collection of
# 50,000 of them took 20-50 ms there, so it collects ten times as often, each a tenth as long.
GC_THRESHOLD_0 = 50_000
GC_THRESHOLD_0_DASHBOARD = 5_000


def settle_gc(young_threshold: int = GC_THRESHOLD_0) -> dict[str, Any]:
    """Collect what start-up left, freeze the survivors (never scanned again) and raise the young
    generation's threshold. Returns what was done (for the log)."""
    gc.collect()
    gc.freeze()
    _, t1, t2 = gc.get_threshold()
    gc.set_threshold(young_threshold, t1, t2)
    return {"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()}
