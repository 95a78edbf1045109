"""One broker login inside the daemon (spec/daemon.md §5): REST session, both hubs, protection.

The gateway package knows the wire; this module knows what the daemon wants from it: hub events into
the pipeline, the protection state of each account, a reconcile (``reconcile.py``) after start and
after every gap, quote subscriptions that follow held and worked contracts, and the periodic safety
sweep that compares positions with the broker's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

from risk_manager.daemon.broker.contracts import ContractCatalog
from risk_manager.daemon.broker.market_feed import MarketFeed, QuoteBatch
from risk_manager.daemon.broker.protection import ProtectionBoard, ProtectionState
from risk_manager.daemon.broker.reconcile import Reconciled, Reconciler
from risk_manager.daemon.clock import Clock
from risk_manager.daemon.notify import Notifier, SignInRejected
from risk_manager.daemon.pipeline import Pipeline
from risk_manager.engine import Engine, events
from risk_manager.gateway.broker_ops_impl import RestBrokerOps
from risk_manager.gateway.errors import AuthRejected, GatewayError
from risk_manager.gateway.hub import HubState
from risk_manager.gateway.hubs import UserHub
from risk_manager.gateway.rest import RestClient
from risk_manager.gateway.session import RestSettings

log = logging.getLogger("risk_manager.daemon.broker")

SWEEP_INTERVAL_S = 60.0
UNWATCH_AFTER_S = 60.0  # quotes of a contract no longer held or worked are dropped after this
MAINTAIN_EVERY_S = 5.0
SIGN_IN_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # broker unreachable
REJECTED_RETRY_S = 60.0  # the broker refused the user name or key
HUB_CONNECT_WAIT_S = 10.0
# spec/daemon.md §4.2: routine calls may use 70 % of the window, the rest is kept for enforcement
# (spec/gateway.md's 90 % is the client default; the daemon's own, stricter budget wins here).
ROUTINE_SHARE = 0.7
USER_EVENTS = frozenset({events.ACCOUNT, events.POSITION, events.ORDER, events.TRADE})


class BrokerLogin:
    def __init__(
        self,
        name: str,
        user_name: str,
        api_key: str,
        urls: tuple[str, str, str],
        broker: Any,
        *,
        pipeline: Pipeline,
        engine: Engine,
        board: ProtectionBoard,
        catalog: ContractCatalog,
        notifier: Notifier,
        clock: Clock,
        on_reconciled: Reconciled | None = None,
    ) -> None:
        self.name = name
        self.user_name = user_name
        self.account_ids: list[int] = []
        #: what a hot reload compares to know whether this session must be replaced (no key kept here)
        self.identity = (user_name, urls, hashlib.sha256(api_key.encode()).hexdigest())
        self._pipeline = pipeline
        self._engine = engine
        self._board = board
        self._catalog = catalog
        self._notifier = notifier
        self._clock = clock
        api_url, user_hub_url, market_hub_url = urls
        settings = RestSettings(
            api_url=api_url,
            connect_timeout_s=float(getattr(broker, "connect_timeout_seconds", 5.0)),
            request_timeout_s=float(getattr(broker, "request_timeout_seconds", 10.0)),
            routine_share=ROUTINE_SHARE,
            express_lane=True,
        )
        self.rest = RestClient(user_name, api_key, settings)
        self.ops = RestBrokerOps(self.rest)
        self.user_hub = UserHub(
            user_hub_url,
            self.rest.token,
            self._on_user_event,
            on_state=self._on_user_state,
            on_gap=self._on_gap,
            token_rejected=self._token_rejected,
            name=f"{name}/user",
            pause_reading=pipeline.reading_pause,
        )
        # Quotes arrive on a thread of their own, coalesced, so a fill never waits behind them.
        self.market_hub = MarketFeed(
            market_hub_url,
            self.rest.token,
            self._on_quotes,
            on_state=self._on_market_state,
            token_rejected=self._token_rejected,
            name=f"{name}/market",
        )
        self.reconciler = Reconciler(
            self.rest,
            pipeline,
            engine,
            board,
            catalog,
            clock,
            healthy_state=self._healthy_state,
            watch=self.watch_contract,
            on_reconciled=on_reconciled,
        )
        self._watched: dict[str, float | None] = {}  # contract -> monotonic time it became unneeded
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False
        self.auth_error: str | None = None

    # ----- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Sign in, connect both hubs, subscribe, reconcile every account; retried until it works."""
        self._spawn(self._maintain(), "maintain")
        failures = 0
        while True:
            try:
                await self.rest.login()
                self.auth_error = None
                break
            except AuthRejected as exc:
                self.auth_error = (
                    "sign-in failed: the broker refused the user name or API key "
                    f"(errorCode {exc.error_code})"
                )
                self._notifier.publish(
                    SignInRejected(
                        at=self._clock.now(), login=self.name, user_name=self.user_name, reason=self.auth_error
                    )
                )
                self._set_all(ProtectionState.AUTH_FAILED, self.auth_error)
                await self._clock.sleep(REJECTED_RETRY_S)
            except (GatewayError, OSError) as exc:
                self._set_all(ProtectionState.DISCONNECTED, f"cannot reach the broker: {exc}")
                await self._clock.sleep(SIGN_IN_RETRY_S[min(failures, len(SIGN_IN_RETRY_S) - 1)])
                failures += 1
        await self._preload_contracts()
        await self.user_hub.subscribe_accounts()
        for account_id in self.account_ids:
            await self.user_hub.subscribe_account(account_id)
        self._started = True
        self.user_hub.start()
        self.market_hub.start()
        with contextlib.suppress(TimeoutError):
            await self.user_hub.wait_connected(HUB_CONNECT_WAIT_S)
        if self.user_hub.connected:
            await self.reconcile_all("start")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(self.user_hub.stop(), self.market_hub.stop(), return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.rest.logout(), 1.0)
        with contextlib.suppress(Exception):
            await self.rest.aclose()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("login %s: background task failed", self.name, exc_info=task.exception())

    async def _token_rejected(self, token: str) -> None:
        with contextlib.suppress(Exception):
            await self.rest.session.token_rejected(token)

    # ----- protection ------------------------------------------------------------------------------
    def _set(self, account_id: int, state: ProtectionState, reason: str) -> None:
        self._board.set(
            account_id,
            state,
            reason,
            user_hub=self.user_hub.state.value,
            market_hub=self.market_hub.state.value,
        )

    def _set_all(self, state: ProtectionState, reason: str) -> None:
        for account_id in self.account_ids:
            self._set(account_id, state, reason)

    def _healthy_state(self) -> tuple[ProtectionState, str]:
        if self.market_hub.state is not HubState.CONNECTED:
            return ProtectionState.DEGRADED, "no market data: market hub " + self.market_hub.state.value
        return ProtectionState.PROTECTED, "live"

    # ----- hub callbacks ------------------------------------------------------------------------------
    def _on_user_event(self, target: str, payload: Any) -> None:
        # GatewayLogout: the hub signs in again and reconnects by itself; the gap reconciles.
        if target in USER_EVENTS:
            self._pipeline.broker_event(target, payload, self.name)

    def _on_quotes(self, batch: QuoteBatch) -> None:
        """Quotes handed over by the market-data thread (already coalesced per contract)."""
        broker_event = self._pipeline.broker_event
        for payload, received_ns in batch.values():
            broker_event(events.QUOTE, payload, self.name, received_ns)

    def _on_user_state(self, state: HubState, detail: str) -> None:
        # Remembered at once (shown with the next change: the reconcile that follows a connect), so
        # a protected account never shows its user hub as "down".
        for account_id in self.account_ids:
            prot = self._board.get(account_id)
            if prot is not None:
                prot.user_hub = state.value
        if state is HubState.CONNECTED:
            return  # protected again only after the reconcile (on_gap / start)
        if state is HubState.RECONNECTING:
            for account_id in self.account_ids:
                self._pipeline.pause_account(account_id)
            self._set_all(ProtectionState.DISCONNECTED, f"broker connection lost: {detail}")

    def _on_market_state(self, state: HubState, detail: str) -> None:
        for account_id in self.account_ids:
            prot = self._board.get(account_id)
            if prot is None:
                continue
            prot.market_hub = state.value
            if prot.state in (ProtectionState.PROTECTED, ProtectionState.DEGRADED):
                self._set(account_id, *self._healthy_state())

    def _on_gap(self) -> Any:
        return self.reconcile_all("reconnect")

    # ----- reconciliation ---------------------------------------------------------------------------
    async def reconcile_all(self, why: str) -> None:
        await self.reconciler.all(list(self.account_ids), why)

    async def reconcile(self, account_id: int, why: str) -> None:
        await self.reconciler.one(account_id, why)

    @property
    def missing_accounts(self) -> set[int]:
        return self.reconciler.missing_accounts

    # ----- contracts and quotes ---------------------------------------------------------------------
    async def _preload_contracts(self) -> None:
        """Metadata of every tradable front contract in one call, so the first position in any of
        them is priced at once (the per-contract fetch stays as the fallback for the rest)."""
        try:
            contracts = await self.rest.available_contracts()
        except (GatewayError, OSError) as exc:
            log.info("contract list not loaded (%s); contracts are fetched one by one", exc)
            return
        for info in contracts:
            self._catalog.add(info, persist=False)

    def contract_seen(self, contract_id: str) -> None:
        """A contract showed up in an account event: watch its quotes, make sure of its metadata."""
        self.watch_contract(contract_id)
        self._catalog.ensure(contract_id, self.rest.contract_by_id)

    def watch_contract(self, contract_id: str) -> None:
        """Keep quotes flowing for a contract that is (or may soon be) held or worked."""
        if self._watched.get(contract_id, 0.0) is None:
            return
        self._watched[contract_id] = None
        self._spawn(self.market_hub.subscribe_quotes(contract_id), f"quotes-{contract_id}")

    def _needed_contracts(self) -> set[str]:
        needed: set[str] = set()
        for account_id in self.account_ids:
            needed |= self._engine.contracts_in_use(account_id)
        return needed

    async def _maintain(self) -> None:
        """Drop quote subscriptions no longer needed (after 60 s) and run the 60 s safety sweep."""
        last_sweep = self._clock.monotonic()
        while True:
            await asyncio.sleep(MAINTAIN_EVERY_S)
            needed = self._needed_contracts()
            now = self._clock.monotonic()
            for cid, since in list(self._watched.items()):
                if cid in needed:
                    self._watched[cid] = None
                elif since is None:
                    self._watched[cid] = now
                elif now - since >= UNWATCH_AFTER_S:
                    del self._watched[cid]
                    with contextlib.suppress(Exception):
                        await self.market_hub.unsubscribe_quotes(cid)
            if self._started and now - last_sweep >= SWEEP_INTERVAL_S and self.user_hub.connected:
                last_sweep = now
                limiter = self.rest.session.limiter
                if limiter.in_window() < limiter.limit // 2:  # never spend enforcement's budget
                    await self._sweep()

    async def _sweep(self) -> None:
        for account_id in self.account_ids:
            prot = self._board.get(account_id)
            if prot is None or prot.state not in (ProtectionState.PROTECTED, ProtectionState.DEGRADED):
                continue
            try:
                positions = await self.rest.open_positions(account_id)
            except (GatewayError, OSError):
                continue
            broker = {p.get("contractId"): int(p.get("size") or 0) for p in positions}
            ours = self._engine.position_sizes(account_id)
            if broker != ours:
                log.warning(
                    "state drift: broker %s, daemon %s; reconciling", broker, ours, extra={"acct": account_id}
                )
                await self.reconcile(account_id, "drift")

    # ----- status ------------------------------------------------------------------------------------
    def hub_states(self) -> dict[str, str]:
        return {"user": self.user_hub.state.value, "market": self.market_hub.state.value}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "userName": self.user_name,
            "accounts": list(self.account_ids),
            "userHub": self.user_hub.state.value,
            "marketHub": self.market_hub.state.value,
            "authError": self.auth_error,
            "watchedContracts": sorted(c for c, since in self._watched.items() if since is None),
        }
