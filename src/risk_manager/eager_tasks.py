"""Starting enforcement work at once, not on the next turn of the event loop.

A task created the usual way first runs on the loop's next iteration, after everything already
queued there (other frames, pushes, the rest of a fill's events). A task started *eagerly* runs its
coroutine inside the call that creates it, up to its first real wait. For an enforcement that wait
is the broker's answer, so the request is on the wire before the call returns (docs/performance.md).

* Python 3.12 and later do this natively (``eager_start=True``); aiohttp then also writes a request's
  body eagerly instead of in a task of its own.
* Python 3.11 has no eager start. The same behaviour is built here from asyncio's own pure-Python
  task (``asyncio.tasks._PyTask``): a subclass that runs its first step in its constructor, exactly
  as 3.12's ``Task.__eager_start`` does (the running task is set aside for that step and put back
  after it). While such a step runs, the coroutines registered with :func:`start_nested_eagerly`
  (aiohttp's body writer) start eagerly as well, which is what aiohttp itself asks for on 3.12+.
  3.11's asyncio is frozen (security fixes only), so the private names this rests on do not move;
  they are checked at import, and without them work starts on the next iteration, as a plain task.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Callable, Coroutine
from types import CodeType
from typing import Any, TypeVar

T = TypeVar("T")

_NESTED: set[CodeType] = set()  # coroutine functions started eagerly inside an eager start (3.11)


def start_nested_eagerly(function: Callable[..., Coroutine[Any, Any, Any]]) -> None:
    """Tasks of ``function`` created inside an eager start begin eagerly too (Python 3.11 only;
    on 3.12+ a library that wants it asks for it itself)."""
    code = getattr(function, "__code__", None)
    if isinstance(code, CodeType):
        _NESTED.add(code)


def _backport() -> type[asyncio.Task[Any]] | None:
    """The 3.11 eager task class, or None where its footing is missing."""
    if sys.version_info[:2] != (3, 11):
        return None
    tasks: Any = asyncio.tasks
    base = getattr(tasks, "_PyTask", None)
    current = getattr(tasks, "_current_tasks", None)
    counter = getattr(tasks, "_task_name_counter", None)
    register = getattr(tasks, "_register_task", None)
    future_init = getattr(asyncio.futures, "_PyFuture", None)
    if (
        base is None
        or not isinstance(current, dict)
        or counter is None
        or register is None
        or future_init is None
        or not hasattr(base, "_Task__step")
    ):
        return None

    class EagerTask(base):  # type: ignore[misc, valid-type]
        """``asyncio.Task`` whose first step runs in its constructor (3.12's eager start)."""

        def __init__(
            self,
            coro: Coroutine[Any, Any, Any],
            *,
            loop: asyncio.AbstractEventLoop,
            name: str | None = None,
            context: contextvars.Context | None = None,
        ) -> None:
            # _PyTask.__init__ without its ``call_soon(self.__step)``: the step runs below instead.
            future_init.__init__(self, loop=loop)
            if not asyncio.iscoroutine(coro):
                self._log_destroy_pending = False
                raise TypeError(f"a coroutine was expected, got {coro!r}")
            self._name = f"Task-{counter()}" if name is None else str(name)
            self._num_cancels_requested = 0
            self._must_cancel = False
            self._fut_waiter = None
            self._coro = coro
            self._context = contextvars.copy_context() if context is None else context
            register(self)
            running = current.pop(loop, None)  # the creating task steps aside for this step
            factory = loop.get_task_factory()
            loop.set_task_factory(_nested_factory(factory))
            try:
                self._context.run(self._Task__step)
            finally:
                loop.set_task_factory(factory)
                if running is not None:
                    current[loop] = running

    def _nested_factory(outer: Any) -> Callable[..., asyncio.Future[Any]]:
        def create(
            loop: asyncio.AbstractEventLoop, coro: Any, context: contextvars.Context | None = None
        ) -> asyncio.Future[Any]:
            if getattr(coro, "cr_code", None) in _NESTED:
                return EagerTask(coro, loop=loop, context=context)
            if outer is not None:
                return outer(loop, coro) if context is None else outer(loop, coro, context=context)
            return asyncio.Task(coro, loop=loop, context=context)

        return create

    return EagerTask


_EAGER_TASK = _backport()
EAGER = sys.version_info >= (3, 12) or _EAGER_TASK is not None
"""Whether work started with :func:`start_now` runs inside the call (native or backported)."""


def start_now(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
    """A task for ``coro``, started eagerly where Python can (see the module doc)."""
    loop = asyncio.get_running_loop()
    if sys.version_info >= (3, 12):
        return asyncio.Task(coro, loop=loop, name=name, eager_start=True)
    if _EAGER_TASK is not None:
        return _EAGER_TASK(coro, loop=loop, name=name)
    return loop.create_task(coro, name=name)
