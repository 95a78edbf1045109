"""The process-wide settings of daemon/runtime.py: the GIL switch interval and the settled collector."""

from __future__ import annotations

import gc
import sys

from risk_manager import collector
from risk_manager.daemon import runtime


def test_the_switch_interval_is_short() -> None:
    before = sys.getswitchinterval()
    try:
        runtime.tune_process()
        assert abs(sys.getswitchinterval() - runtime.GIL_SWITCH_INTERVAL_S) < 1e-9
    finally:
        sys.setswitchinterval(before)


def test_settling_the_collector_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    before_threshold = gc.get_threshold()
    try:
        done = runtime.settle_gc()
        assert done["frozen"] > 0 and gc.get_freeze_count() == done["frozen"]
        assert gc.get_threshold()[0] == collector.GC_THRESHOLD_0
        assert gc.get_threshold()[1:] == before_threshold[1:]
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.set_threshold(*before_threshold)
