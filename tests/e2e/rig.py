"""A simulator and a daemon that is started, killed and restarted over one data directory: the
crash-recovery tests (issue 8, section 3) and their trading steps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from .agreement import settle
from .harness import Daemon, Simulator, write_config
from .rulesets import all_disabled, users_file

LIMIT = Decimal(100)
RULES = {
    "daily_realized_loss": {"enabled": True, "loss_limit": int(LIMIT), "lockout_until": "daily_reset"},
    "max_contracts": {"enabled": True, "limit": 1, "count_type": "net", "enforcement": "close_all"},
}


def far_reset() -> str:
    """A daily reset 12 hours away: no test run ever straddles one."""
    return (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")


def accounts_config(ids: list[int]) -> list[dict[str, Any]]:
    reset = far_reset()
    return [
        {"id": a, "name": f"CR-{a}", "reset_time": reset, "timezone": "UTC", "rule_overrides": RULES}
        for a in ids
    ]


class Rig:
    """A simulator, the logins of ``ids``, and the daemon's directories (the daemon is (re)started).

    ``per_login`` spreads the accounts over logins named ``{user}0``, ``{user}1``, ... (the daemon's
    own request budget per login bounds how many accounts one login reconciles quickly at start)."""

    def __init__(self, root: Path, user: str, ids: list[int], per_login: int | None = None) -> None:
        self.root = root
        self.ids = ids
        size = per_login or len(ids) or 1
        groups = [ids[i : i + size] for i in range(0, len(ids), size)]
        names = [user] if per_login is None else [f"{user}{n}" for n in range(len(groups))]
        self.login_of = {a: name for name, group in zip(names, groups, strict=True) for a in group}
        root.mkdir(parents=True, exist_ok=True)
        users = root / "users.json"
        users.write_text(
            json.dumps(users_file({n: (f"{n}-key", g) for n, g in zip(names, groups, strict=True)})),
            encoding="utf-8",
        )
        self.sim = Simulator(users)
        logins = [
            {"name": n, "user_name": n, "accounts": accounts_config(g)}
            for n, g in zip(names, groups, strict=True)
        ]
        self.config_dir = write_config(
            root / "config", self.sim.urls, logins, all_disabled(), {n: f"{n}-key" for n in names}
        )
        self.daemon: Daemon | None = None

    def start(self) -> Daemon:
        self.daemon = Daemon(self.root, self.config_dir)
        return self.daemon

    def kill(self) -> None:
        assert self.daemon is not None
        self.daemon.kill()

    async def settle(self, accounts: list[int] | None = None, timeout: float = 20.0) -> float:
        assert self.daemon is not None
        return await settle(
            self.root,
            self.sim,
            self.daemon.api_url,
            accounts or self.ids,
            loss_limit=LIMIT,
            max_size=1,
            timeout=timeout,
        )

    def close(self) -> None:
        if self.daemon is not None and self.daemon.proc.running():
            self.daemon.stop()
        self.sim.close()


def round_trip(sim: Simulator, account: int, points: float) -> None:
    """Buy 1 RTY and sell it ``points`` higher (negative: lower); $50 a point."""
    sim.quote("RTY", 2450.0, 2450.1)
    sim.order(account, "RTY", "buy", 1)  # fills at 2450.1
    sim.quote("RTY", round(2450.1 + points, 1), round(2450.2 + points, 1))
    sim.order(account, "RTY", "sell", 1)


def lose_then_recover(sim: Simulator, account: int) -> None:
    """-$155 (past the $100 limit), then +$110: the day ends at -$45, above the limit."""
    round_trip(sim, account, -3.1)
    round_trip(sim, account, 2.2)
