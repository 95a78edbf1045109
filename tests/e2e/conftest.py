"""Fixtures that start real simulator and daemon processes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import Daemon, Simulator, write_config
from .rulesets import accounts_for, all_disabled, users_file


class Stack:
    """A simulator and a daemon configured against it."""

    def __init__(
        self,
        root: Path,
        users: dict[str, tuple[str, list[int]]],
        overrides: dict[int, dict[str, Any]],
        rules: dict[str, Any] | None = None,
        global_: dict[str, Any] | None = None,
        sim_settings: dict[str, Any] | None = None,
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        users_path = root / "users.json"
        users_path.write_text(json.dumps(users_file(users)), encoding="utf-8")
        self.sim = Simulator(users_path)
        if sim_settings:  # before the daemon's first reconcile
            self.sim.control("POST", "/settings", sim_settings)
        logins = [
            {"name": name, "user_name": name, "accounts": accounts_for(ids, overrides)}
            for name, (_, ids) in users.items()
        ]
        keys = {name: key for name, (key, _) in users.items()}
        self.config_dir = write_config(
            root / "config", self.sim.urls, logins, rules or all_disabled(), keys, global_
        )
        self.daemon: Daemon | None = None

    def start_daemon(self, extra: list[str] | None = None) -> Daemon:
        self.daemon = Daemon(self.root, self.config_dir, extra)
        return self.daemon

    def close(self) -> None:
        if self.daemon is not None and self.daemon.proc.p.poll() is None:
            self.daemon.stop()
        self.sim.close()


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    stacks: list[Stack] = []

    def make(
        users: dict[str, tuple[str, list[int]]],
        overrides: dict[int, dict[str, Any]],
        rules: dict[str, Any] | None = None,
        name: str = "stack",
    ) -> Stack:
        stack = Stack(tmp_path / name, users, overrides, rules)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()
