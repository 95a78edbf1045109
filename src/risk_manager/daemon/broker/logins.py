"""Every broker login of the daemon, and which login watches which account.

Built from the configuration; routes what the rest of the daemon asks per account (the executor's
broker operations, a contract seen in an account event) to the login that owns the account.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterator
from typing import Any

from risk_manager.broker_ops import BrokerOps
from risk_manager.config.loader import AppConfig
from risk_manager.daemon.broker.contracts import ContractCatalog
from risk_manager.daemon.broker.login import BrokerLogin
from risk_manager.daemon.broker.protection import ProtectionBoard
from risk_manager.daemon.broker.reconcile import Reconciled
from risk_manager.daemon.clock import Clock
from risk_manager.daemon.notify import Notifier
from risk_manager.daemon.pipeline import Pipeline
from risk_manager.engine import Engine

log = logging.getLogger("risk_manager.daemon.broker")


class Logins:
    def __init__(
        self,
        pipeline: Pipeline,
        engine: Engine,
        board: ProtectionBoard,
        catalog: ContractCatalog,
        notifier: Notifier,
        clock: Clock,
        on_reconciled: Reconciled | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._engine = engine
        self._board = board
        self._catalog = catalog
        self._notifier = notifier
        self._clock = clock
        self._on_reconciled = on_reconciled
        self._by_name: dict[str, BrokerLogin] = {}
        self._account_login: dict[int, str] = {}
        self._starting: set[asyncio.Task[Any]] = set()  # start-up tasks still signing in

    def __iter__(self) -> Iterator[BrokerLogin]:
        return iter(list(self._by_name.values()))

    def __len__(self) -> int:
        return len(self._by_name)

    def build(self, config: AppConfig) -> list[BrokerLogin]:
        """One ``BrokerLogin`` per configured login with its enabled accounts (not started); returns
        the ones created now."""
        urls = config.accounts.gateway.urls()
        created: list[BrokerLogin] = []
        for login, account in config.account_configs():
            if not account.enabled:
                continue
            broker = self._by_name.get(login.name)
            if broker is None:
                key = config.api_key(login.user_name)
                assert key is not None  # checked before: the daemon refuses to start without keys
                broker = BrokerLogin(
                    login.name,
                    login.user_name,
                    key,
                    urls,
                    config.daemon.broker,
                    pipeline=self._pipeline,
                    engine=self._engine,
                    board=self._board,
                    catalog=self._catalog,
                    notifier=self._notifier,
                    clock=self._clock,
                    on_reconciled=self._on_reconciled,
                )
                self._by_name[login.name] = broker
                created.append(broker)
            if account.id not in broker.account_ids:
                broker.account_ids.append(account.id)
            self._account_login[account.id] = login.name
        return created

    async def apply(self, config: AppConfig) -> None:
        """A hot reload: sessions whose login, key, broker URLs or accounts changed are replaced
        (signed in again with the new key), removed ones stopped, new ones started. Unchanged
        sessions are not touched, so their accounts stay protected throughout."""
        urls = config.accounts.gateway.urls()
        wanted: dict[str, tuple[Any, tuple[Any, ...], list[int]]] = {}
        for login in config.accounts.logins:
            ids = [a.id for a in login.accounts if a.enabled]
            key = config.api_key(login.user_name) or ""
            fingerprint = hashlib.sha256(key.encode()).hexdigest()
            if ids:
                wanted[login.name] = (login, (login.user_name, urls, fingerprint), ids)
        stale = [
            b
            for name, b in self._by_name.items()
            if name not in wanted or wanted[name][1] != b.identity or sorted(wanted[name][2]) != sorted(b.account_ids)
        ]
        for broker in stale:
            log.info("login %s: stopping its session (configuration changed)", broker.name)
            del self._by_name[broker.name]
            for account_id in broker.account_ids:
                if self._account_login.get(account_id) == broker.name:
                    del self._account_login[account_id]
        await asyncio.gather(*(b.stop() for b in stale), return_exceptions=True)
        for broker in self.build(config):
            log.info("login %s: starting its session (configuration changed)", broker.name)
            task = asyncio.get_running_loop().create_task(broker.start(), name=f"login-{broker.name}")
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    async def start(self, wait_s: float) -> None:
        """Start every login; wait up to ``wait_s`` for their first sign-in and reconcile."""
        first = [asyncio.create_task(b.start(), name=f"login-{b.name}") for b in self._by_name.values()]
        for task in first:
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)
        if first:
            await asyncio.wait(first, timeout=wait_s)

    async def stop(self) -> None:
        # A sign-in still retrying (broker unreachable) must not outlive the stop.
        for task in list(self._starting):
            task.cancel()
        await asyncio.gather(*self._starting, return_exceptions=True)
        await asyncio.gather(*(b.stop() for b in self._by_name.values()), return_exceptions=True)

    def of(self, account_id: int) -> BrokerLogin | None:
        return self._by_name.get(self._account_login.get(account_id, ""))

    def ops_for(self, account_id: int) -> BrokerOps | None:
        broker = self.of(account_id)
        return broker.ops if broker is not None else None

    def contract_seen(self, contract_id: str, account_id: int) -> None:
        broker = self.of(account_id)
        if broker is not None:
            broker.contract_seen(contract_id)
