"""Reconciliation (spec/daemon.md §5.3): after start and after every gap, the broker's REST state of
each account is read and adopted by the engine, which evaluates every rule at once; the account's
hub events are buffered meanwhile and applied after the snapshot. Only then is the account
protected again. Some buffered events are older than the snapshot they follow, so the engine is told
when they begin (``replay_follows``) and end (``replay_done``): in between, balance and positions are
not of one moment (RULE-013 takes no high-water mark from them; ``engine/settling.py``).

The snapshot handed to ``on_reconciled`` carries ``caught_up``: the fills the engine counted in this
reconcile (missed during a restart or a gap), which the daemon stores like live ones (§6.3).

A reconcile never stalls silently (issue 8 §8): a failed read, or broker data the engine refuses,
is logged with the account id and retried with back-off, and the account shows
``reconcile_failed`` (NOT PROTECTED) with the reason until a reconcile succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from risk_manager.daemon.broker.contracts import ContractCatalog
from risk_manager.daemon.broker.protection import ProtectionBoard, ProtectionState
from risk_manager.daemon.clock import Clock
from risk_manager.daemon.pipeline import Pipeline
from risk_manager.engine import Action, Engine, MalformedEvent
from risk_manager.gateway.errors import GatewayError
from risk_manager.gateway.rest import RestClient

log = logging.getLogger("risk_manager.daemon.broker")

RETRY_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0)
MAX_LOOKBACK = timedelta(days=4)  # a stored reset older than this is not trusted as the day's start

Snapshot = dict[str, Any]
Reconciled = Callable[[int, Snapshot], None]
HealthyState = Callable[[], tuple[ProtectionState, str]]


class ReconcileDataError(Exception):
    """The broker's answer could not be adopted (the engine refused one of its records)."""


class Reconciler:
    def __init__(
        self,
        rest: RestClient,
        pipeline: Pipeline,
        engine: Engine,
        board: ProtectionBoard,
        catalog: ContractCatalog,
        clock: Clock,
        *,
        healthy_state: HealthyState,
        watch: Callable[[str], None],
        on_reconciled: Reconciled | None = None,
    ) -> None:
        self._rest = rest
        self._pipeline = pipeline
        self._engine = engine
        self._board = board
        self._catalog = catalog
        self._clock = clock
        self._healthy_state = healthy_state
        self._watch = watch
        self._on_reconciled = on_reconciled
        self._running: set[int] = set()
        self._again: set[int] = set()
        self.missing_accounts: set[int] = set()

    async def all(self, account_ids: list[int], why: str) -> None:
        """Every account of the login; one ``Account/search`` serves them all (it lists the login's
        accounts), which keeps a 20-account start-up well inside the 200-requests-a-minute budget."""
        for account_id in account_ids:
            self._pipeline.pause_account(account_id)  # buffer from now: the list is read now
        try:
            accounts: list[dict[str, Any]] | None = await self._rest.search_accounts(False)
        except (GatewayError, OSError):
            accounts = None  # each reconcile reads it itself (and retries)
        results = await asyncio.gather(*(self.one(a, why, accounts) for a in account_ids), return_exceptions=True)
        for account_id, result in zip(account_ids, results, strict=True):
            if isinstance(result, Exception):  # never silent: ``one`` retries, so this is a bug
                log.error("reconcile stopped: %r", result, extra={"acct": account_id})

    async def one(self, account_id: int, why: str, accounts: list[dict[str, Any]] | None = None) -> None:
        """REST snapshot -> engine (inside the pipeline) -> buffered events -> protected."""
        if account_id in self._running:
            self._again.add(account_id)
            return
        self._running.add(account_id)
        try:
            attempt = 0
            while True:
                self._again.discard(account_id)
                self._pipeline.pause_account(account_id)
                prot = self._board.get(account_id)
                if prot is None or prot.state is not ProtectionState.RECONCILE_FAILED:
                    self._board.set(account_id, ProtectionState.RECONCILING, f"reconciling ({why})")
                try:
                    snapshot = await self._snapshot(account_id, accounts)
                    accounts = None  # a retry (or a second pass) reads the list afresh
                    if snapshot is not None:
                        await self._apply(account_id, snapshot)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    accounts = None
                    attempt += 1
                    delay = RETRY_DELAYS_S[min(attempt - 1, len(RETRY_DELAYS_S) - 1)]
                    self._failed(account_id, exc, attempt, delay)
                    await self._clock.sleep(delay)
                    continue
                if snapshot is None:
                    self._pipeline.resume_account(account_id)
                    return
                if account_id not in self._again:
                    break
            self._board.set(account_id, *self._healthy_state())
        finally:
            self._running.discard(account_id)

    def _failed(self, account_id: int, exc: Exception, attempt: int, delay: float) -> None:
        """Logged with the account id; shown as NOT PROTECTED with the reason (at once for data the
        engine refuses, from the second failed read for a broker error, which is usually brief)."""
        if isinstance(exc, GatewayError | OSError):
            log.warning("reconcile failed (%s); retrying in %.0f s", exc, delay, extra={"acct": account_id})
            reason = f"reconcile failed: broker read failed ({exc}); retrying"
            if attempt < 2:
                return
        else:
            log.error(
                "unexpected broker data in the reconcile read (%s: %s); retrying in %.0f s",
                type(exc).__name__,
                exc,
                delay,
                extra={"acct": account_id},
            )
            reason = f"reconcile failed: unexpected broker data ({exc}); retrying"
        self._board.set(account_id, ProtectionState.RECONCILE_FAILED, reason)

    def _day_start(self, account_id: int) -> datetime:
        engine = self._engine
        last = engine.last_reset(account_id) if account_id in engine.account_ids() else None
        now = self._clock.now()
        if last is None or now - last > MAX_LOOKBACK:
            return now - timedelta(days=1)
        return last

    async def _snapshot(self, account_id: int, accounts: list[dict[str, Any]] | None) -> Snapshot | None:
        rest = self._rest
        start = self._day_start(account_id)
        if accounts is None:
            accounts = await rest.search_accounts(False)
        account = next((a for a in accounts if a.get("id") == account_id), None)
        if account is None:
            self.missing_accounts.add(account_id)
            self._board.set(account_id, ProtectionState.AUTH_FAILED, "account not found for this login")
            return None
        self.missing_accounts.discard(account_id)
        positions, orders, trades = await asyncio.gather(
            rest.open_positions(account_id),
            rest.open_orders(account_id),
            rest.search_trades(account_id, start),
        )
        for cid in {p.get("contractId") for p in positions} | {o.get("contractId") for o in orders}:
            if isinstance(cid, str):
                await self._catalog.load(cid, rest.contract_by_id)
                self._watch(cid)  # held or worked: its quotes matter
        return {"account": account, "positions": positions, "orders": orders, "trades": trades}

    def _replayed(self, account_id: int) -> list[Action]:
        self._engine.replay_done(account_id)
        return []

    async def _apply(self, account_id: int, snap: Snapshot) -> None:
        """The engine adopts the snapshot between two pipeline events; buffered events follow."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        engine, pipeline = self._engine, self._pipeline

        def control() -> list[Action]:
            acct = engine.state.accounts.get(account_id)
            known = set(acct.trade_ids) if acct is not None else set()
            voided = {t.trade_id for t in acct.trades.values() if t.voided} if acct is not None else set()
            buffered = pipeline.buffered(account_id) > 0
            try:
                actions = engine.reconcile_account(
                    account_id,
                    self._clock.now(),
                    account=snap["account"],
                    positions=snap["positions"],
                    orders=snap["orders"],
                    trades=snap["trades"],
                    replay_follows=buffered,
                )
            except Exception as exc:  # nothing was applied; the account's events stay buffered
                if not done.done():
                    done.set_exception(ReconcileDataError(str(exc)) if isinstance(exc, MalformedEvent) else exc)
                return []
            # The fills the engine counted now (new, or voided since): they must be stored too.
            snap["caught_up"] = (
                [t for t in acct.trades.values() if t.trade_id not in known or (t.voided and t.trade_id not in voided)]
                if acct is not None
                else []
            )
            pipeline.resume_account(account_id)
            if buffered:  # queued behind the re-queued events: the engine learns when they are through
                pipeline.control(partial(self._replayed, account_id), name=f"replayed {account_id}")
            try:
                if self._on_reconciled is not None:
                    self._on_reconciled(account_id, snap)
            finally:
                if not done.done():
                    done.set_result(None)
            return actions

        pipeline.control(control, name=f"reconcile {account_id}")
        await done
