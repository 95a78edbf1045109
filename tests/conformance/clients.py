"""Import a published client for a conformance test, or skip (or fail, when required) with the reason."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from types import ModuleType

import httpx
import pytest

REQUIRED = os.environ.get("RISK_MANAGER_CONFORMANCE", "").lower() == "required"


def client(module: str, dist: str, min_python: tuple[int, int] = (3, 11)) -> ModuleType:
    """``module`` of the distribution ``dist``; skips when this Python is older than ``min_python``."""
    if sys.version_info < min_python:
        wanted = ".".join(map(str, min_python))
        pytest.skip(f"{dist} needs Python >= {wanted}; .ci/run runs it in its Python >= {wanted} venv")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if REQUIRED:
            pytest.fail(f"{dist} is required here (RISK_MANAGER_CONFORMANCE=required) but: {exc}")
        pytest.skip(f"{dist} is not installed: pip install -e '.[conformance]'")


async def wait_subscribed(control: httpx.AsyncClient, what: str, timeout_s: float = 10.0) -> None:
    """Until a user-hub connection on the simulator holds the subscription ``what`` (e.g.
    ``SubscribeOrders:1001``): polling the simulator's state is the condition."""
    for _ in range(int(timeout_s / 0.02)):
        state = (await control.get("/sim/state")).json()
        if any(what in c["subscriptions"] for c in state["connections"] if c["hub"] == "user"):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no user-hub connection subscribed to {what}")
