"""Scenarios (gateway.md §6.8), the built-in demo, and the /sim/state and /sim/reset control calls."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from risk_manager.sim.scenario import ScenarioError
from risk_manager.sim.server import SimServer
from tests.sim.conftest import ACCOUNT, AS_OF, MNQ, Sim
from tests.sim.hubclient import unwrap


async def _wait_state(sim: Sim, state: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = await sim.get("/scenario")
        if status["state"] == state:
            return dict(status)
        assert time.monotonic() < deadline, f"scenario never reached {state}: {status}"
        await asyncio.sleep(0.02)


INLINE: dict[str, Any] = {
    "version": 1,
    "name": "inline-test",
    "start": "immediate",
    "steps": [
        {"at": 0, "say": "trader buys 2 MNQ", "repeat": 2, "every": "10ms"},
        {
            "at": 0,
            "order": {
                "account": ACCOUNT,
                "contract": "MNQ",
                "type": "market",
                "side": "buy",
                "size": 2,
                "label": "entry",
            },
        },
        {
            "at": 0,
            "order": {
                "account": "SIM-50K-1001",
                "contract": "MNQ",
                "type": "stop",
                "side": "sell",
                "size": 2,
                "stopOffsetTicks": 40,
                "label": "sl",
            },
        },
        {"at": "50ms", "move": {"contract": "MNQ", "ticks": 4, "over": "250ms"}},
        {"at": "400ms", "cancel": {"account": ACCOUNT, "label": "sl"}},
        {"at": "400ms", "cancel": {"account": ACCOUNT, "label": "no-such-label"}},
        {"at": "450ms", "flatten": {"account": ACCOUNT}},
        {"at": "450ms", "can_trade": {"account": ACCOUNT, "value": False}},
        {"at": "500ms", "fault": {"kind": "drop_hubs", "hub": "all"}},
        {"at": "500ms", "end": {}},
    ],
}


async def test_inline_scenario_runs_its_steps(sim: Sim, capsys: pytest.CaptureFixture[str]) -> None:
    token = await sim.login()
    hub = await sim.user_hub(token)
    since = (await sim.state())["journal_seq"]
    status = await sim.ctl("/scenario", {"inline": INLINE})
    assert status["name"] == "inline-test" and status["state"] in ("running", "finished")
    await _wait_state(sim, "finished")
    await hub.wait_closed()  # the fault step dropped the hubs
    state = await sim.state()
    entry, sl, flat = state["orders"]
    assert entry["status"] == 2 and entry["filledPrice"] == 24500.25
    assert sl["type"] == 4 and sl["stopPrice"] == 24490.00 and sl["status"] == 3  # bid - 40 ticks, cancelled
    assert flat["side"] == 1 and flat["filledPrice"] == 24501.00  # after the +4 tick move
    assert state["positions"] == []
    assert state["trades"][-1]["profitAndLoss"] == 3.00
    assert state["accounts"][0]["canTrade"] is False
    assert state["quotes"][MNQ]["bid"] == 24501.00
    steps = [e for e in await sim.journal(since) if e["kind"] == "scenario"]
    assert [e["action"] for e in steps] == [
        "say",
        "order",
        "order",
        "say",
        "move",
        "cancel",
        "cancel",
        "flatten",
        "can_trade",
        "fault",
        "end",
    ]
    skipped = [e for e in steps if "skipped" in e["detail"]]
    assert len(skipped) == 1 and "no-such-label" in skipped[0]["detail"]["skipped"]
    order_step = steps[1]
    events = [e for e in await sim.journal(since, kinds="event") if e["cause_seq"] == order_step["seq"]]
    assert [e["target"] for e in events][:3] == [
        "GatewayUserOrder",
        "GatewayUserTrade",
        "GatewayUserPosition",
    ]
    assert any(unwrap(a[0])["id"] == entry["id"] for a in hub.events("GatewayUserOrder"))
    assert capsys.readouterr().err.count("trader buys 2 MNQ") == 2


async def test_scenario_errors_name_file_key_path_and_line(sim: Sim, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "version: 1\nsteps:\n  - at: 1s\n    order:\n      account: 1001\n      contract: MNQ\n      colour: red\n",
        encoding="utf-8",
    )
    answer = await sim.http.post("/sim/scenario", json={"path": str(path)})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert f"{path}:7" in error and "steps[0].order.colour" in error
    top = tmp_path / "top.yaml"
    top.write_text("version: 1\nname: x\nsteeps: []\n", encoding="utf-8")
    error = (await sim.http.post("/sim/scenario", json={"path": str(top)})).json()["error"]
    assert f"{top}:3" in error and "steeps" in error
    inline = await sim.http.post(
        "/sim/scenario", json={"inline": {"version": 1, "steps": [{"at": 1, "jump": {}}]}}
    )
    assert inline.status_code == 400 and "steps[0].jump" in inline.json()["error"]
    with pytest.raises(ScenarioError, match=r"bad\.yaml:7: steps\[0\]\.order\.colour"):
        SimServer(scenario=str(path))


async def test_first_subscription_starts_the_clock(sim: Sim) -> None:
    scenario = {
        "version": 1,
        "name": "wait",
        "start": "first_subscription",
        "steps": [
            {
                "at": 0,
                "order": {"account": ACCOUNT, "contract": "MNQ", "type": "market", "side": "buy", "size": 1},
            }
        ],
    }
    assert (await sim.ctl("/scenario", {"inline": scenario}))["state"] == "waiting"
    token = await sim.login()
    hub = await sim.user_hub(token, streams=False)
    await hub.invoke("SubscribeAccounts")
    await hub.invoke("SubscribeTrades", ACCOUNT)
    assert (await sim.get("/scenario"))["state"] == "waiting"
    await hub.invoke("SubscribeOrders", ACCOUNT)
    await _wait_state(sim, "finished")
    await hub.wait_events("GatewayUserOrder", 2)
    stopped = await sim.ctl("/scenario/stop")
    assert stopped["state"] in ("finished", "idle")


async def test_manual_start_and_status(sim: Sim) -> None:
    scenario = {"version": 1, "name": "m", "start": "manual", "steps": [{"at": 0, "say": "hi"}]}
    status = await sim.ctl("/scenario", {"inline": scenario})
    assert status == {"name": "m", "state": "idle", "elapsed_s": 0.0, "next_step": None}
    await sim.ctl("/scenario/start")
    await _wait_state(sim, "finished")


async def test_builtin_demo_scenario_loads() -> None:
    async with SimServer(seed=1, scenario="demo", as_of=date.fromisoformat(AS_OF)) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            status = (await http.get("/sim/scenario")).json()
            assert status["name"] == "demo" and status["state"] == "waiting"
            state = (await http.get("/sim/state")).json()
            assert state["users"] == [{"userName": "demo", "accounts": [1001, 1002]}]
            assert [a["name"] for a in state["accounts"]] == ["50KTC-V2-1001", "50KTC-V2-1002"]
            login = await http.post("/api/Auth/loginKey", json={"userName": "demo", "apiKey": "demo-key"})
            assert login.json()["success"] is True
    # loading it at run time over the default user's account 1001 is refused cleanly
    async with SimServer(seed=1, as_of=date.fromisoformat(AS_OF)) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            answer = await http.post("/sim/scenario", json={"name": "demo"})
            assert answer.status_code == 400 and "1001" in answer.json()["error"]
            assert (await http.get("/sim/state")).json()["users"] == [{"userName": "sim", "accounts": [1001]}]


async def test_state_shape_and_reset(sim: Sim) -> None:
    await sim.settings(user_event_format="bare")
    await sim.ctl("/users", {"userName": "temp", "apiKey": "t"})
    token = await sim.login()
    hub = await sim.user_hub(token)
    await sim.order(type="market", side="buy", size=1)
    await sim.quote(24510.00, 24510.25)
    await sim.fault(kind="fail_rest", count=5, path="/api/Order/place")
    state = await sim.state()
    assert set(state) == {
        "now",
        "journal_seq",
        "users",
        "accounts",
        "positions",
        "orders",
        "trades",
        "quotes",
        "contracts",
        "connections",
        "scenario",
    }
    assert state["accounts"][0] == {
        "id": 1001,
        "name": "SIM-50K-1001",
        "balance": 49999.63,
        "canTrade": True,
        "isVisible": True,
        "simulated": True,
        "userName": "sim",
        "active": True,
    }
    assert state["quotes"][MNQ]["bid"] == 24510.00 and state["scenario"] is None
    assert {c["id"] for c in state["contracts"]} >= {
        MNQ,
        "CON.F.US.EP.Z25",
        "CON.F.US.CLE.F26",
        "CON.F.US.GCE.Z25",
    }
    assert state["connections"][0]["hub"] == "user"
    assert (await sim.state(accountId=9999))["accounts"] == []
    last_seq = state["journal_seq"]

    assert await sim.ctl("/reset") == {"ok": True}
    await hub.wait_closed()
    assert not any(m.get("type") == 7 and "error" in m for m in hub.messages)
    state = await sim.state()
    assert state["orders"] == state["trades"] == state["positions"] == [] and state["connections"] == []
    assert [u["userName"] for u in state["users"]] == ["sim"]
    assert state["accounts"][0]["balance"] == 50000
    assert state["quotes"][MNQ]["bid"] == 24500.00
    assert (await sim.get("/faults"))["faults"] == []
    assert (await sim.get("/settings"))["user_event_format"] == "wrapped"
    page = await sim.get("/journal")
    assert all(e["seq"] > last_seq for e in page["entries"])
    # ids continue after a reset
    assert (await sim.order(type="market", side="buy", size=1))["orderId"] == 10000002
    assert (await sim.state())["trades"][0]["id"] == 20000002
