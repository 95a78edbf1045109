"""Contract metadata (tick size and value, name): fetched once per contract, cached, persisted, and
handed to the engine through the pipeline, so the first position in a contract can be priced.

One catalog serves every login (metadata is the same whoever asks); a fetch goes through the REST
session of the login that saw the contract.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from risk_manager.daemon.clock import Clock
from risk_manager.daemon.pipeline import InternalEvent, Pipeline
from risk_manager.engine import Engine, events
from risk_manager.gateway.errors import GatewayError

log = logging.getLogger("risk_manager.daemon.broker")

FETCH_TRIES = 3
FETCH_PAUSE_S = 0.5

Fetch = Callable[[str], Awaitable[dict[str, Any] | None]]


class ContractSink(Protocol):
    def contract(self, info: dict[str, Any]) -> None: ...


class ContractCatalog:
    def __init__(self, engine: Engine, pipeline: Pipeline, store: ContractSink | None, clock: Clock) -> None:
        self._engine = engine
        self._pipeline = pipeline
        self._store = store
        self._clock = clock
        self._known: dict[str, dict[str, Any]] = {}
        self._fetching: dict[str, asyncio.Task[dict[str, Any] | None]] = {}

    def known(self, contract_id: str) -> bool:
        return contract_id in self._known or self._engine.knows_contract(contract_id)

    def add(self, info: dict[str, Any], *, persist: bool = True) -> None:
        """New metadata (a list read or a fetch): cache it, give it to the engine, store it."""
        cid = info.get("id")
        if not isinstance(cid, str) or cid in self._known:
            return
        self._known[cid] = info
        if not self._engine.knows_contract(cid):
            self._pipeline.put(InternalEvent(events.CONTRACT, info))
        if persist and self._store is not None:
            self._store.contract(info)

    def ensure(self, contract_id: str, fetch: Fetch) -> asyncio.Task[dict[str, Any] | None] | None:
        """Start fetching a contract's metadata unless it is known or already being fetched."""
        if self.known(contract_id):
            return None
        task = self._fetching.get(contract_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fetch(contract_id, fetch))
            self._fetching[contract_id] = task
            task.add_done_callback(lambda _t: self._fetching.pop(contract_id, None))
        return task

    async def load(self, contract_id: str, fetch: Fetch) -> None:
        """Make sure the engine has the contract before going on (reconciliation)."""
        task = self.ensure(contract_id, fetch)
        if task is not None:
            await task

    async def _fetch(self, contract_id: str, fetch: Fetch) -> dict[str, Any] | None:
        for attempt in range(FETCH_TRIES):
            try:
                info = await fetch(contract_id)
            except (GatewayError, OSError) as exc:
                log.warning("contract %s metadata not loaded yet: %s", contract_id, exc)
                await self._clock.sleep(FETCH_PAUSE_S * (attempt + 1))
                continue
            if info is not None:
                self.add(info)
            return info
        return None
