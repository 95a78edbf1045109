"""A whole daemon inside the test's event loop, with an injected clock, against a real simulator.

The simulator is a real process on a free port; the daemon is the real ``Daemon`` with its real
store, local API and broker sessions; only time is the test's (``ManualClock(auto_advance=False)``):
waits take real time, and the wall clock jumps only when the test says so, which lets a test run a
daily reset or a week in milliseconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from risk_manager.daemon.app import Daemon
from risk_manager.daemon.clock import ManualClock
from risk_manager.daemon.notify import Sink
from risk_manager.daemon.options import DaemonOptions
from tests.e2e.harness import Simulator, write_config
from tests.e2e.rulesets import accounts_for, all_disabled, users_file

USER = "inproc"
KEY = "inproc-key"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    root = tmp_path_factory.mktemp("inproc-sim")
    users = root / "users.json"
    users.write_text(json.dumps(users_file({USER: (KEY, list(range(3001, 3021)))})), encoding="utf-8")
    s = Simulator(users)
    try:
        yield s
    finally:
        s.close()


@dataclass
class Running:
    daemon: Daemon
    clock: ManualClock
    api_url: str
    task: asyncio.Task[int]

    async def stop(self) -> int:
        self.daemon.request_stop("test over")
        return await asyncio.wait_for(self.task, 10)


@pytest.fixture
async def start_daemon(
    sim: Simulator, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    running: list[Running] = []

    async def start(
        accounts: dict[int, dict[str, Any]],
        *,
        rules: dict[str, Any] | None = None,
        sinks: tuple[Sink, ...] = (),
        start_at: datetime | None = None,
        daemon_yaml: dict[str, Any] | None = None,
        root: Path | None = None,
        global_: dict[str, Any] | None = None,
    ) -> Running:
        """``root``: the daemon's directory (config, data, logs); the same root again is a restart."""
        root = root or tmp_path / f"d{len(running)}"
        logins = [{"name": USER, "user_name": USER, "accounts": accounts_for(sorted(accounts), accounts)}]
        config_dir = write_config(root / "config", sim.urls, logins, rules or all_disabled(), {USER: KEY}, global_)
        if daemon_yaml is not None:
            (config_dir / "daemon.yaml").write_text(json.dumps(daemon_yaml), encoding="utf-8")
        clock = ManualClock(start_at or datetime.now(UTC), auto_advance=False)
        options = DaemonOptions(
            config_dir=config_dir,
            data_dir=root / "data",
            log_dir=root / "logs",
            console_log=False,
            api_port=0,
            tick_seconds=0.05,
            handle_signals=False,
            set_umask=False,
        )
        daemon = Daemon(options, clock=clock, sinks=sinks)
        task = asyncio.create_task(daemon.run())
        ready = asyncio.create_task(daemon.ready.wait())
        done, _ = await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            raise AssertionError(f"daemon did not become ready (exit {task.result() if task.done() else '-'})")
        assert daemon.api is not None
        r = Running(daemon, clock, f"ws://127.0.0.1:{daemon.api.port}/", task)
        running.append(r)
        return r

    yield start
    for r in running:
        if not r.task.done():
            await r.stop()




async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll a condition on a real server without blocking the loop the daemon runs on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while loop.time() < deadline:
        last = await asyncio.to_thread(check)
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
