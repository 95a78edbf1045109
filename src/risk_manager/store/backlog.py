"""What the writer keeps, in order, while storage fails (issue 8 §1): bounded, so a long outage
cannot take the daemon's memory with it. Beyond the bound the oldest batched job goes first (a later
position, heartbeat or sample supersedes it), then the oldest critical one (its caller, if still
waiting, is told); every drop is reported, so the daemon can write back what it holds in memory once
the disk is back."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from risk_manager.store.errors import StorageUnavailable
from risk_manager.store.jobs import Op, resolve


class Backlog:
    def __init__(self, limit: int, dropped: Callable[[str], None]) -> None:
        self._ops: deque[Op] = deque()
        self._batched = 0
        self.limit = limit
        self._dropped = dropped

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self._ops)

    def append(self, op: Op) -> None:
        self._ops.append(op)
        if not op.critical:
            self._batched += 1
        while len(self._ops) > self.limit:
            self._drop_oldest()

    def head(self, n: int) -> list[Op]:
        return [self._ops[i] for i in range(min(n, len(self._ops)))]

    def pop(self, n: int) -> None:
        """Forget the first ``n`` jobs (written)."""
        for _ in range(n):
            if not self._ops.popleft().critical:
                self._batched -= 1

    def clear(self) -> None:
        self._ops.clear()
        self._batched = 0

    def _drop_oldest(self) -> None:
        ops = self._ops
        if self._batched:
            for i, op in enumerate(ops):
                if not op.critical:
                    del ops[i]
                    self._batched -= 1
                    break
        else:
            resolve(ops.popleft(), error=StorageUnavailable("dropped: the database backlog is full"))
        self._dropped("the database backlog is full")
