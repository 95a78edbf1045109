"""How the daemon's process runs: which event loop, the GIL switch interval, garbage collection.

Why a module of its own: these are process-wide choices made once, before the loop exists, and each
one is there for enforcement latency (docs/performance.md has the measurements):

* **Event loop.** uvloop (Linux, macOS) or winloop (Windows) when installed - the optional ``fast``
  extra, ``pip install risk-manager[fast]`` - else the standard asyncio loop. The environment variable
  ``RISK_MANAGER_EVENT_LOOP`` (``auto`` | ``asyncio`` | ``uvloop`` | ``winloop``) overrides the choice;
  a requested loop that cannot be loaded falls back to asyncio with a warning, never a failed start.
  The loop in use is logged at start and shown in the local API's ``status`` (``eventLoop``).
* **GIL switch interval.** The loop shares the GIL with the store's writer thread and the log
  writer; with the default 5 ms interval a wake-up of the loop can wait that long while one of them
  runs, 0.5 ms bounds that wait.
* **Garbage collection.** Everything allocated during start-up (modules, configuration, restored
  state) is moved out of the collector's reach with ``gc.freeze()`` once the daemon runs, and the
  young generation's threshold is raised, so the collections that still happen are short and rare.
  Reference counting frees almost everything the daemon allocates per event; the cyclic collector
  only has to find the occasional cycle (exceptions with tracebacks, closed connections).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger("risk_manager.daemon.runtime")

LOOP_ENV = "RISK_MANAGER_EVENT_LOOP"
LOOP_CHOICES = ("auto", "asyncio", "uvloop", "winloop")
GIL_SWITCH_INTERVAL_S = 0.0005
# Young-generation threshold after start-up (CPython's default is 700 allocations). Collections of
# generation 0 scan only what was allocated since the last one, so a larger threshold means fewer,
# still short, collections; the older generations keep their defaults.
GC_THRESHOLD_0 = 50_000

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


@dataclass(frozen=True)
class LoopChoice:
    """The event loop the daemon will run on, and why (logged at start)."""

    name: str  # "uvloop", "winloop" or "asyncio"
    factory: LoopFactory | None  # None: asyncio's default loop
    note: str = ""


def _fast_module() -> str:
    return "winloop" if sys.platform == "win32" else "uvloop"


def choose_loop(requested: str | None = None) -> LoopChoice:
    """The loop for this process: ``requested`` (or ``RISK_MANAGER_EVENT_LOOP``, default ``auto``)."""
    wanted = (requested if requested is not None else os.environ.get(LOOP_ENV, "auto")).strip().lower() or "auto"
    if wanted not in LOOP_CHOICES:
        return LoopChoice("asyncio", None, f"{LOOP_ENV}={wanted!r} is not one of {', '.join(LOOP_CHOICES)}")
    if wanted == "asyncio":
        return LoopChoice("asyncio", None, f"{LOOP_ENV}=asyncio")
    module_name = _fast_module() if wanted == "auto" else wanted
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        why = "not installed (pip install risk-manager[fast])"
        if wanted == "auto":
            return LoopChoice("asyncio", None, f"{module_name} {why}")
        return LoopChoice("asyncio", None, f"{module_name} requested but {why}")
    factory = getattr(module, "new_event_loop", None)
    if not callable(factory):
        return LoopChoice("asyncio", None, f"{module_name} has no new_event_loop")
    version = getattr(module, "__version__", "")
    return LoopChoice(module_name, factory, f"{module_name} {version}".strip())


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """What ``status`` shows: ``uvloop``, ``winloop`` or ``asyncio``."""
    module = type(loop).__module__.split(".")[0]
    return module if module in ("uvloop", "winloop") else "asyncio"


def run(main: Coroutine[Any, Any, T], choice: LoopChoice) -> T:
    """Run ``main`` to completion on the chosen loop (asyncio.run with a loop factory)."""
    with asyncio.Runner(loop_factory=choice.factory) as runner:
        return runner.run(main)


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
