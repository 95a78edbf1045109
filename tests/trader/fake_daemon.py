"""A scripted local-API server: the narrow seam for what a real daemon never sends (another protocol
version, malformed frames, the same push repeated) and for pixel-stable snapshot screens.

It speaks the real envelope (``api_protocol.envelope``) over a real WebSocket on a free port.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

from risk_manager.daemon.api.protocol import dumps, envelope

NOW = datetime(2025, 11, 24, 20, 22, 5, tzinfo=UTC)  # 14:22:05 CT, Monday 24 Nov 2025


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ago(seconds: float) -> str:
    return iso(NOW - timedelta(seconds=seconds))


class FakeDaemon:
    def __init__(self) -> None:
        self.frames: asyncio.Queue[str] = asyncio.Queue()
        self.requests: list[dict[str, Any]] = []
        self.seq = 0
        self.first: str | None = None
        self._server: Server | None = None
        self.snapshot_data: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> FakeDaemon:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def message(self, type_: str, data: dict[str, Any], account_id: int | None = None, v: int = 1) -> str:
        self.seq += 1
        text = envelope(type_, self.seq, iso(NOW), data_json=dumps(data), account_id=account_id)
        return text if v == 1 else text.replace('"v":1', f'"v":{v}', 1)

    def push(self, type_: str, data: dict[str, Any], account_id: int | None = None) -> None:
        self.frames.put_nowait(self.message(type_, data, account_id))

    def raw(self, frame: str) -> None:
        """A frame as given (malformed ones carry no usable ``seq``, so the sequence does not move)."""
        self.frames.put_nowait(frame)

    async def _handle(self, ws: ServerConnection) -> None:
        if self.first is not None:
            await ws.send(self.first)
        elif self.snapshot_data is not None:
            self.seq = 0
            await ws.send(self.message("snapshot", self.snapshot_data))

        async def reader() -> None:
            async for raw in ws:
                request = json.loads(raw)
                self.requests.append(request)
                self.seq += 1
                reply = {"items": [], "more": False}
                if request.get("op") == "snapshot" and self.snapshot_data is not None:
                    reply = self.snapshot_data
                await ws.send(
                    envelope(
                        "response",
                        self.seq,
                        iso(NOW),
                        data_json=dumps(reply),
                        extra={"id": request["id"], "ok": True},
                    )
                )

        task = asyncio.create_task(reader())
        closed = asyncio.create_task(ws.wait_closed())
        try:
            while True:
                get = asyncio.create_task(self.frames.get())
                done, _ = await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
                if closed in done:
                    get.cancel()
                    return
                await ws.send(get.result())
        finally:
            task.cancel()
            closed.cancel()


#: RULE-013 as ``Engine.drawdown`` reports it: EOD high 50,325, floor 48,325, net 49,587.50 - 100 unrealized
DRAWDOWN = {
    "mode": "eod",
    "startingBalance": "50000.00",
    "highWaterMark": "50325.00",
    "maxDrawdown": "2000.00",
    "floor": "48325.00",
    "buffer": "0.00",
    "breachAt": "48325.00",
    "netBalance": "49487.50",
    "distance": "1162.50",
    "lockedAtStart": False,
    "lastEndOfDay": {"tradingDay": "2025-11-21", "netBalance": "50325.00"},
}


def rule(n: int, name: str, **fields: Any) -> dict[str, Any]:
    base = {
        "ruleId": f"RULE-{n:03d}",
        "name": name,
        "enabled": True,
        "value": None,
        "limit": None,
        "pctUsed": None,
        "label": None,
        "unit": None,
        "state": "ok",
        "limitText": "",
        "text": "",
        "endsAt": None,
        "limits": [],
    }
    base.update(fields)
    if base["pctUsed"] is not None and not base["limits"]:
        base["limits"] = [
            {
                "key": base["label"] or "x",
                "label": base["label"],
                "value": base["value"],
                "limit": base["limit"],
                "pctUsed": base["pctUsed"],
                "unit": base["unit"],
            }
        ]
    return base


def snapshot(account_id: int = 12345) -> dict[str, Any]:
    """An account in the middle of a trading day: the mock-ups' Eval 50K."""
    return {
        "protocol": 1,
        "version": "1.0.0",
        "mode": "service",
        "pid": 4812,
        "startedAt": ago(3 * 3600 + 12 * 60),
        "state": "running",
        "accounts": [
            {
                "accountId": account_id,
                "name": "50KTC-V2-12345",
                "nickname": "Eval 50K",
                "login": "trader@x.com",
                "mode": "enforce",
                "protection": "protected",
                "canTrade": True,
                "balance": "49587.50",
                "tradingDay": "2025-11-24",
                "nextResetAt": "2025-11-24T23:00:00Z",
                "timezone": "America/Chicago",
                "resetTime": "17:00",
                "pnl": {
                    "realized": "-312.50",
                    "unrealized": "-100.00",
                    "net": "-412.50",
                    "fees": "9.62",
                    "tradeCount": 7,
                },
                "positions": [
                    {
                        "contractId": "CON.F.US.MNQ.Z25",
                        "symbol": "MNQ",
                        "type": 1,
                        "size": 2,
                        "averagePrice": "21034.25",
                        "unrealized": "-60.00",
                        "openedAt": ago(600),
                        "last": "21019.25",
                        "lastAt": ago(1),
                    },
                    {
                        "contractId": "CON.F.US.EP.Z25",
                        "symbol": "ES",
                        "type": 2,
                        "size": 1,
                        "averagePrice": "6012.50",
                        "unrealized": "-40.00",
                        "openedAt": ago(125),
                        "last": "6013.25",
                        "lastAt": ago(2),
                    },
                ],
                "orders": [
                    {
                        "orderId": 10000042,
                        "contractId": "CON.F.US.MNQ.Z25",
                        "type": 4,
                        "side": 1,
                        "size": 2,
                        "limitPrice": None,
                        "stopPrice": "21020.00",
                        "status": 1,
                        "placedByRiskManager": False,
                        "placedAt": ago(590),
                    },
                ],
                "trades": [
                    {
                        "tradeId": 20000000 + i,
                        "contractId": "CON.F.US.MNQ.Z25",
                        "side": i % 2,
                        "size": 1,
                        "price": f"{21100 - i * 10:.2f}",
                        "pnl": None if i % 2 == 0 else f"{-40 - i * 5:.2f}",
                        "fees": "0.74",
                        "executedAt": ago(3600 - i * 300),
                    }
                    for i in range(7)
                ],
                "rules": [
                    rule(
                        1,
                        "Max contracts",
                        value="3",
                        limit="5",
                        pctUsed=60.0,
                        label="net",
                        unit="contracts",
                        limitText="5 net",
                    ),
                    rule(
                        2,
                        "Max contracts per instrument",
                        value="2",
                        limit="4",
                        pctUsed=50.0,
                        label="MNQ",
                        unit="contracts",
                        limitText="MNQ 4 · ES 1",
                    ),
                    rule(
                        3,
                        "Daily realized loss",
                        value="-312.50",
                        limit="500.00",
                        pctUsed=62.5,
                        label="realized",
                        unit="money",
                        state="reduce_only",
                        limitText="loss 500.00",
                        text="exits only",
                        endsAt="2025-11-24T23:00:00Z",
                    ),
                    rule(
                        4,
                        "Daily unrealized loss",
                        value="-60.00",
                        limit="300.00",
                        pctUsed=20.0,
                        label="MNQ",
                        unit="money",
                        limitText="loss 300.00 per position",
                    ),
                    rule(
                        5,
                        "Max unrealized profit",
                        value="-40.00",
                        limit="1000.00",
                        pctUsed=0.0,
                        label="ES",
                        unit="money",
                        limitText="target 1000.00 per position",
                    ),
                    rule(
                        6,
                        "Trade frequency",
                        value="8",
                        limit="10",
                        pctUsed=80.0,
                        label="per hour",
                        unit="count",
                        state="warning",
                        limitText="3/minute · 10/hour",
                    ),
                    rule(7, "Cooldown after loss", limitText="-$100.00 → 5m", text="ready"),
                    rule(
                        8,
                        "No stop-loss grace",
                        limitText="stop within 30s",
                        text="ES has no stop: closes",
                        endsAt=iso(NOW + timedelta(seconds=18)),
                        deadlines={"CON.F.US.EP.Z25": iso(NOW + timedelta(seconds=18))},
                    ),
                    rule(
                        9,
                        "Session hours",
                        limitText="08:30–15:00",
                        text="inside, ends in",
                        endsAt="2025-11-24T21:00:00Z",
                    ),
                    rule(10, "Broker permission", limitText="broker canTrade", text="broker allows trading"),
                    rule(11, "Symbol blocks", limitText="RTY, BTC", text="no blocked symbol held"),
                    rule(12, "Trade management", enabled=False, state="inactive", text="disabled"),
                    rule(
                        13,
                        "Trailing drawdown",
                        value="837.50",
                        limit="2000.00",
                        pctUsed=41.9,
                        label="drawdown",
                        unit="money",
                        limitText="max drawdown 2000.00 (eod)",
                        text="1162.50 above the floor line 48325.00",
                        drawdown=DRAWDOWN,
                    ),
                    rule(
                        14,
                        "Weekly limits",
                        value="-612.50",
                        limit="1500.00",
                        pctUsed=40.8,
                        label="weekly realized loss",
                        unit="money",
                        limitText="loss 1500.00 per week (from mon)",
                        limits=[
                            {
                                "key": "loss",
                                "label": "weekly realized loss",
                                "value": "-612.50",
                                "limit": "1500.00",
                                "pctUsed": 40.8,
                                "unit": "money",
                            }
                        ],
                    ),
                    rule(
                        15,
                        "Consecutive losses",
                        value="2",
                        limit="3",
                        pctUsed=66.7,
                        label="losses in a row",
                        unit="trades",
                        limitText="3 losing trades in a row",
                    ),
                ],
                "drawdown": DRAWDOWN,
                "lockouts": [
                    {
                        "lockoutId": "L4",
                        "ruleId": "RULE-003",
                        "scope": "account",
                        "symbol": None,
                        "kind": "reduce_only",
                        "lockoutKind": "reduce_only",
                        "createdAt": ago(1500),
                        "until": "2025-11-24T23:00:00Z",
                        "clearsOn": "time",
                        "reason": "realized loss 312.50 of 500.00 reached the reduce-only rung at 60%: exits only",
                        "observed": False,
                    }
                ],
                "lockoutHistory": [
                    {
                        "lockoutId": "L3",
                        "ruleId": "RULE-006",
                        "scope": "account",
                        "symbol": None,
                        "kind": "cooldown",
                        "createdAt": ago(2400),
                        "until": ago(2340),
                        "reason": "4 trades in the last minute > limit 3: cooldown 60s",
                        "clearedAt": ago(2340),
                        "clearedBy": "expiry",
                    },
                ],
                "enforcement": [
                    {
                        "id": 311,
                        "ruleId": "RULE-006",
                        "action": "close_position",
                        "target": "CON.F.US.MNQ.Z25",
                        "state": "done",
                        "attempts": 1,
                        "reason": "4 trades in the last minute > limit 3",
                        "createdAt": ago(2400),
                    },
                    {
                        "id": 305,
                        "ruleId": "RULE-002",
                        "action": "reduce_position",
                        "target": "CON.F.US.MNQ.Z25",
                        "state": "done",
                        "attempts": 1,
                        "reason": "MNQ net contracts 3 > limit 2",
                        "createdAt": ago(3000),
                    },
                ],
                "connection": {
                    "login": "trader@x.com",
                    "protection": "protected",
                    "userHub": "connected",
                    "marketHub": "connected",
                    "since": ago(11000),
                    "reason": "live",
                    "lastEventAt": ago(1),
                },
            }
        ],
    }
