"""Starting enforcement work at once, not on the next turn of the event loop.

A task created the usual way first runs on the loop's next iteration, after everything already
queued there (other frames, pushes, the rest of a fill's events). On Python 3.12 and later a task can
start *eagerly*: its coroutine runs inside the call that creates it, up to its first real wait. For
an enforcement that wait is the broker's answer, so the request is on the wire before the call
returns. On 3.11 the work starts on the next iteration, as before (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

EAGER = sys.version_info >= (3, 12)


def start_now(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
    """A task for ``coro``, started eagerly where Python can (see the module doc)."""
    loop = asyncio.get_running_loop()
    if sys.version_info >= (3, 12):
        return asyncio.Task(coro, loop=loop, name=name, eager_start=True)
    return loop.create_task(coro, name=name)
