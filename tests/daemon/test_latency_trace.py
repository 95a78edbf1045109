"""Latency tracing (risk_manager/latency_trace.py): off by default, and when on, every stage of a
real breach is stamped in order and written out when the daemon stops.

A real simulator process and the real daemon in this loop; the breach is a market buy of 2 with a
``max_contracts`` limit of 1, closed by one ``closeContract``.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pytest

from risk_manager import latency_trace
from tests.e2e.harness import ApiClient, Simulator

LIMIT_ONE = {"max_contracts": {"enabled": True, "limit": 1, "count_type": "net", "enforcement": "reduce_to_limit"}}
# "express": the close went on the session's kept-open express lane (gateway/express.py), not aiohttp
BREACH_STAGES = ["rx", "read", "decoded", "queued", "start", "engine", "dispatched", "exec", "http", "express", "written"]


def test_tracing_is_off_unless_the_variable_names_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(latency_trace.ENV, raising=False)
    assert latency_trace.from_env() is None and latency_trace.TRACE is None


async def test_a_breach_is_stamped_stage_by_stage(
    sim: Simulator, start_daemon: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(latency_trace.ENV, str(tmp_path / "trace.json"))
    tracer = latency_trace.from_env()
    assert tracer is not None and latency_trace.TRACE is tracer
    try:
        run = await start_daemon({3005: LIMIT_ONE})
        async with ApiClient(run.api_url) as api:
            sim.order(3005, "MES", "buy", 2)
            done = await api.wait_for(
                lambda m: m.get("type") == "enforcement" and m["data"]["state"] == "done", 10, "close verified"
            )
            assert done["accountId"] == 3005
        gc.collect()  # a collection lands in the trace as a span
        assert await run.stop() == 0
    finally:
        latency_trace.disable()
    assert latency_trace.TRACE is None and tracer.gc_callback not in gc.callbacks
    tracer.dump()
    doc = json.loads((tmp_path / "trace.json").read_text())
    marks: dict[int, dict[str, int]] = {}
    for key, stage, ns in doc["marks"]:
        marks.setdefault(key, {}).setdefault(stage, ns)
    breaches = [m for m in marks.values() if "written" in m and "dispatched" in m]
    assert len(breaches) == 1, breaches
    stamps = breaches[0]
    assert list(stamps) == BREACH_STAGES  # every stage, recorded in the order the event went through them
    assert all(stamps[a] <= stamps[b] for a, b in zip(BREACH_STAGES, BREACH_STAGES[1:], strict=False))
    kinds = {what for what, _start, _end in doc["spans"]}
    assert {"user-frame", "GatewayUserPosition", "GatewayUserOrder", "GatewayUserTrade"} <= kinds
    assert any(k.startswith("gc") for k in kinds)
    assert all(start <= end for _what, start, end in doc["spans"])
