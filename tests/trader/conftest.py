"""Real simulator + real daemon stacks for the dashboard tests, and pilot helpers.

One stack per test module (module-scoped fixtures), each account configured for the case that uses
it, so the cases stay independent while sharing one simulator and one daemon.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import Static

from tests.e2e.harness import Daemon, Simulator, write_config
from tests.e2e.rulesets import accounts_for, all_disabled, users_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    """A simulator and a daemon (console mode, temp config and database, API on a fixed free port)."""

    def __init__(
        self,
        root: Path,
        accounts: dict[int, dict[str, Any]],
        *,
        user: str = "dash",
        observe: tuple[int, ...] = (),
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        ids = sorted(accounts)
        (root / "users.json").write_text(
            json.dumps(users_file({user: (f"{user}-key", ids)})), encoding="utf-8"
        )
        self.sim = Simulator(root / "users.json")
        entries = accounts_for(ids, accounts)
        for entry in entries:
            if entry["id"] in observe:
                entry["observe_only"] = True
        logins = [{"name": user, "user_name": user, "accounts": entries}]
        self.config_dir = write_config(
            root / "config", self.sim.urls, logins, all_disabled(), {user: f"{user}-key"}
        )
        self.port = free_port()
        self.daemon: Daemon | None = None
        self.db = root / "data" / "risk.db"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start_daemon(self) -> Daemon:
        self.daemon = Daemon(self.root, self.config_dir, ["--api-port", str(self.port)])
        assert self.daemon.api_url.endswith(f":{self.port}"), self.daemon.api_url
        return self.daemon

    def close(self) -> None:
        if self.daemon is not None and self.daemon.proc.running():
            self.daemon.stop()
        self.sim.close()


@pytest.fixture(scope="module")
def module_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dash")


def make_stack(root: Path, accounts: dict[int, dict[str, Any]], **kwargs: Any) -> Iterator[Stack]:
    stack = Stack(root, accounts, **kwargs)
    try:
        stack.start_daemon()
        yield stack
    finally:
        stack.close()


def text_of(app: Any, selector: str) -> str:
    widget = app.query_one(selector)
    text = getattr(widget, "text", None)
    if isinstance(text, str):
        return text
    if isinstance(widget, Static):
        content = widget.content
        return content.plain if isinstance(content, Text) else str(content)
    return str(widget.render())


async def until(pilot: Any, check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Let the app process messages until ``check()`` is truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        await pilot.pause()
        try:
            last = check()
        except Exception as exc:  # a widget not mounted yet counts as "not yet"
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(0.02)


async def live(pilot: Any, app: Any, timeout: float = 15) -> None:
    await until(
        pilot, lambda: app.link.state == "live" and app.view is not None, timeout, "the dashboard to be live"
    )
