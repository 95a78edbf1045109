"""Process-wide settings of the daemon's own process: the GIL switch interval and the garbage collector.

Why a module of its own: these are choices made once for the whole process (``run_daemon``), never by
a daemon hosted inside another program (the tests), and each is there for enforcement latency
(docs/performance.md has the measurements):

* **GIL switch interval.** The event loop shares the GIL with the market-data thread, the store's
  writer thread and the log writer; with the default 5 ms interval a wake-up of the loop can wait that
  long while one of them runs, 0.5 ms bounds that wait.
* **Garbage collection.** Settled once the daemon runs (``risk_manager/collector.py``): before, a
  200-breach run saw ~270 young collections and one 61 ms full collection.
"""

from __future__ import annotations

import sys

from risk_manager.collector import settle_gc

__all__ = ["GIL_SWITCH_INTERVAL_S", "settle_gc", "tune_process"]

GIL_SWITCH_INTERVAL_S = 0.0005


def tune_process() -> None:
    """Before the loop starts: the GIL switch interval (see the module docstring)."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
