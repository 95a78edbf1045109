"""A live console view of the daemon over its local API (Rich): accounts, P&L, positions, lockouts
and the enforcement actions as they happen.

The view asks for a fresh snapshot every second and keeps a running log of the pushes that matter
(enforcement, lockouts, warnings, connection changes), so it never drifts from the daemon's truth.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from websockets.asyncio.client import connect

PROTECTION_STYLE = {"protected": "green", "degraded": "yellow"}


class ViewModel:
    def __init__(self, narration: deque[str] | None = None) -> None:
        self.snapshot: dict[str, Any] = {}
        self.log: deque[Text] = deque(maxlen=14)
        self.narration = narration if narration is not None else deque(maxlen=4)
        self.heartbeat: dict[str, Any] = {}

    def on_message(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        data = msg.get("data") or {}
        acct = msg.get("accountId")
        ts = (msg.get("ts") or "")[11:19]
        if kind == "snapshot" or (kind == "response" and isinstance(data, dict) and "accounts" in data):
            self.snapshot = data
        elif kind == "heartbeat":
            self.heartbeat = data
        elif kind == "enforcement":
            state = data.get("state")
            if state in ("done", "failed", "observed"):
                style = "bold red" if state == "failed" else "bold magenta"
                target = data.get("target") or ""
                self.log.append(
                    Text(
                        f"{ts} {acct} {data.get('ruleId')} {data.get('action')} {target} -> {state}  "
                        f"{data.get('reason', '')}",
                        style=style,
                    )
                )
        elif kind == "lockout_set":
            until = data.get("until") or "lifted by rule/admin"
            self.log.append(
                Text(
                    f"{ts} {acct} {data.get('ruleId')} LOCKOUT {data.get('lockoutKind', data.get('kind'))} "
                    f"until {until}: {data.get('reason')}",
                    style="bold yellow",
                )
            )
        elif kind == "lockout_cleared":
            self.log.append(
                Text(f"{ts} {acct} {data.get('ruleId')} unlocked ({data.get('clearedBy')})", style="green")
            )
        elif kind == "warning":
            self.log.append(
                Text(f"{ts} {acct} {data.get('ruleId')} warning: {data.get('message')}", style="yellow")
            )
        elif kind == "connection":
            self.log.append(
                Text(
                    f"{ts} {acct} connection: {data.get('protection')} {data.get('reason') or ''}",
                    style="cyan",
                )
            )

    def render(self) -> Group:
        accounts = Table(title="Accounts", expand=True)
        for col in ("Account", "Protection", "Realized", "Unrealized", "Net", "Trades", "Lockouts"):
            accounts.add_column(col)
        positions = Table(title="Positions", expand=True)
        for col in ("Account", "Contract", "Side", "Size", "Avg price", "Unrealized"):
            positions.add_column(col)
        for a in self.snapshot.get("accounts", []):
            pnl = a.get("pnl") or {}
            locks = ", ".join(
                f"{lk.get('ruleId')} {lk.get('lockoutKind') or lk.get('kind')}"
                for lk in a.get("lockouts", [])
            )
            prot = a.get("protection", "?")
            accounts.add_row(
                f"{a.get('accountId')} {a.get('nickname') or ''}",
                Text(prot, style=PROTECTION_STYLE.get(prot, "bold red")),
                str(pnl.get("realized")),
                str(pnl.get("unrealized")),
                str(pnl.get("net")),
                str(pnl.get("tradeCount")),
                Text(locks or "-", style="bold yellow" if locks else ""),
            )
            for p in a.get("positions", []):
                positions.add_row(
                    str(a.get("accountId")),
                    p.get("contractId"),
                    "long" if p.get("type") == 1 else "short",
                    str(p.get("size")),
                    str(p.get("averagePrice")),
                    str(p.get("unrealized")),
                )
        uptime = self.heartbeat.get("uptimeS", 0)
        header = Text(
            f"risk-manager demo  -  {datetime.now():%H:%M:%S}  -  uptime {uptime} s  -  Ctrl+C to stop",
            style="bold",
        )
        story = Panel(
            Text("\n".join(self.narration) or "waiting for the scripted trader..."), title="Simulator"
        )
        log = Panel(Group(*self.log) if self.log else Text("no enforcement yet"), title="Enforcement")
        return Group(header, accounts, positions, story, log)


async def run_view(url: str, narration: deque[str] | None = None, *, console: Console | None = None) -> None:
    model = ViewModel(narration)
    async with connect(url, max_size=None) as ws:

        async def poll() -> None:
            n = 0
            while True:
                n += 1
                await ws.send(json.dumps({"id": str(n), "op": "snapshot"}))
                await asyncio.sleep(1.0)

        poller = asyncio.create_task(poll())
        try:
            with Live(model.render(), console=console, refresh_per_second=4, screen=False) as live:
                async for raw in ws:
                    model.on_message(json.loads(raw))
                    live.update(model.render())
        finally:
            poller.cancel()
