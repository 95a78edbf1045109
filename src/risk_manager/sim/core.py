"""The simulator's state in one object: settings, journal, tokens, faults, contracts, market, broker.

The HTTP layers (REST, hubs, control API) and the scenario runner all act on this object; it owns the
``emit`` path from the matching engine to the hub router so that every state change is journaled and
delivered in the order it happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from risk_manager.sim.auth import TokenService
from risk_manager.sim.contracts import BUILTIN_PRODUCTS, ContractTable, Product
from risk_manager.sim.events import Event
from risk_manager.sim.faults import FaultBook
from risk_manager.sim.journal import Journal
from risk_manager.sim.market import Market
from risk_manager.sim.matching import Account, Broker
from risk_manager.sim.settings import Settings
from risk_manager.sim.wire import utcnow


@dataclass(slots=True)
class UserSpec:
    name: str
    api_key: str
    accounts: list[dict[str, Any]] = field(default_factory=list)


DEFAULT_USER = UserSpec(
    "sim",
    "sim-key",
    [{"id": 1001, "name": "SIM-50K-1001", "balance": 50000, "canTrade": True, "simulated": True}],
)


def _later(delay_s: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
    """Run a deferred broker step on the running loop (its events flush like any other)."""
    return asyncio.get_running_loop().call_later(delay_s, callback)



class Hubs(Protocol):
    """What the simulator and its HTTP layers need of the hub server (``hubs.HubServer``), which
    attaches itself here when it starts: the simulator never imports the layers built on it."""

    on_subscribe: list[Any]

    def publish(self, event: Event) -> None: ...
    async def flush(self) -> None: ...
    def describe(self) -> list[dict[str, Any]]: ...
    def matching(self, hub: str, user: str | None) -> list[Any]: ...
    async def close_all(self, message: str | None = None, reason: str = "reset") -> None: ...


class Scenario(Protocol):
    """What the control API and the server need of a loaded scenario (``scenario.ScenarioRunner``)."""

    def arm(self) -> None: ...
    async def stop(self) -> None: ...
    def status(self) -> dict[str, Any]: ...

class Simulator:
    def __init__(
        self,
        *,
        seed: int = 0,
        settings: dict[str, Any] | None = None,
        products: list[Product] | None = None,
        as_of: date | None = None,
    ) -> None:
        self.seed = seed
        self.settings = Settings(settings)
        self.journal = Journal(self.settings["journal_max_entries"])
        self.tokens = TokenService()
        self.faults = FaultBook()
        self.table = ContractTable(list(products or BUILTIN_PRODUCTS), as_of or utcnow().date())
        self.market = Market(self.table, self.emit, seed)
        self.broker = Broker(self.table, self.market, self.settings, self.emit)
        self.broker.scheduler = _later
        self.hubs: Hubs | None = None
        self.scenario: Scenario | None = None
        self.reference_quotes: dict[str, tuple[Decimal, Decimal]] = {}

    # -- users -------------------------------------------------------------------------------------------
    def add_users(self, users: list[UserSpec]) -> None:
        """Start-up users; a duplicate user or account id is an error (ValueError with the culprit)."""
        for spec in users:
            if spec.name in self.broker.users:
                raise ValueError(f"duplicate user {spec.name!r}")
            self.broker.add_user(spec.name, spec.api_key)
            for raw in spec.accounts:
                self.add_account(raw, spec.name)

    def add_account(self, raw: dict[str, Any], user: str) -> Account:
        acct_id = raw.get("id")
        if acct_id is None:
            acct_id = self.broker.next_account_id()
        if acct_id in self.broker.accounts:
            raise ValueError(f"duplicate account id {acct_id}")
        account = Account(
            id=int(acct_id),
            name=str(raw.get("name") or f"SIM-{acct_id}"),
            balance=Decimal(str(raw.get("balance", 50000))),
            can_trade=bool(raw.get("canTrade", True)),
            is_visible=bool(raw.get("isVisible", True)),
            simulated=bool(raw.get("simulated", True)),
            active=bool(raw.get("active", True)),
            user=user,
        )
        self.broker.add_account(account)
        return account

    def user_exists(self, name: str) -> bool:
        return name in self.broker.users

    def mark_startup(self) -> None:
        self.broker.mark_startup()
        self.settings.set_startup()
        self.reference_quotes = {cid: (q.bid, q.ask) for cid, q in self.market.quotes.items()}

    # -- events ------------------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        if self.hubs is not None:
            self.hubs.publish(event)

    # -- state ---------------------------------------------------------------------------------------------
    def state(self, account_id: int | None = None) -> dict[str, Any]:
        b = self.broker

        def mine(acct: int) -> bool:
            return account_id is None or acct == account_id

        accounts = []
        for a in b.accounts.values():
            if mine(a.id):
                accounts.append({**a.to_wire(), "userName": a.user, "active": a.active})
        users = [
            {"userName": name, "accounts": [a.id for a in b.accounts_of(name)]} for name in sorted(b.users)
        ]
        quotes = {
            cid: {"bid": q.bid, "ask": q.ask, "last": q.last, "timestamp": q.ts}
            for cid, q in self.market.quotes.items()
        }
        return {
            "now": utcnow(),
            "journal_seq": self.journal.last_seq,
            "users": users,
            "accounts": accounts,
            "positions": [
                p.to_wire() for p in sorted(b.positions.values(), key=lambda p: p.id) if mine(p.account_id)
            ],
            "orders": [
                o.to_wire() for o in sorted(b.orders.values(), key=lambda o: o.id) if mine(o.account_id)
            ],
            "trades": [
                t.to_wire() for t in sorted(b.trades.values(), key=lambda t: t.id) if mine(t.account_id)
            ],
            "quotes": quotes,
            "contracts": [c.to_wire() for c in self.table.fronts()],
            "connections": self.hubs.describe() if self.hubs else [],
            "scenario": self.scenario.status() if self.scenario else None,
        }
