"""Process-wide settings of the daemon's own process: the GIL switch interval and the garbage collector.

Why a module of its own: these are choices made once for the whole process (``run_daemon``), never by
a daemon hosted inside another program (the tests), and each is there for enforcement latency
(docs/performance.md has the measurements):

* **GIL switch interval.** The event loop shares the GIL with the market-data thread, the store's
  writer thread and the log writer; with the default 5 ms interval a wake-up of the loop can wait that
  long while one of them runs, 0.5 ms bounds that wait.
* **Garbage collection.** Everything allocated during start-up (modules, configuration, restored
  state) is moved out of the collector's reach with ``gc.freeze()`` once the daemon runs, and the
  young generation's threshold is raised, so the collections that still happen are short and rare
  (before: ~270 young collections and one 61 ms full collection in a 200-breach run). Reference
  counting frees almost everything the daemon allocates per event; the cyclic collector only has to
  find the occasional cycle (exceptions with tracebacks, closed connections).
"""

from __future__ import annotations

import gc
import sys
from typing import Any

GIL_SWITCH_INTERVAL_S = 0.0005
# Young-generation threshold after start-up (CPython's default is 700 allocations). Collections of
# generation 0 scan only what was allocated since the last one, so a larger threshold means fewer,
# still short, collections; the older generations keep their defaults.
GC_THRESHOLD_0 = 50_000


def tune_process() -> None:
    """Before the loop starts: the GIL switch interval (see the module docstring)."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def settle_gc() -> dict[str, Any]:
    """Once start-up is done: collect what start-up left, freeze the survivors (they are never
    scanned again) and raise the young generation's threshold. Returns what was done (for the log)."""
    gc.collect()
    gc.freeze()
    _, t1, t2 = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD_0, t1, t2)
    return {"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()}
