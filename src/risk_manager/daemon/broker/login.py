"""One broker login inside the daemon (daemon.md §5): REST session, both hubs, reconciliation.

The gateway package knows the wire; this module knows what the daemon wants from it: hub events into
the pipeline, protection state per account, a REST reconcile after start and after every gap (events
of the account are buffered meanwhile and applied after the snapshot), quote subscriptions that follow
held and working contracts, and the periodic safety sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from risk_manager.daemon.broker import protection as P
from risk_manager.daemon.pipeline import InternalEvent
from risk_manager.engine import events as E
from risk_manager.gateway.broker_ops_impl import RestBrokerOps
from risk_manager.gateway.errors import AuthRejected, GatewayError
from risk_manager.gateway.hub import HubState
from risk_manager.gateway.hubs import MarketHub, UserHub
from risk_manager.gateway.rest import RestClient
from risk_manager.gateway.session import RestSettings

if TYPE_CHECKING:
    from risk_manager.daemon.app import Daemon

log = logging.getLogger("risk_manager.daemon.broker")

SWEEP_INTERVAL_S = 60.0
UNWATCH_AFTER_S = 60.0
RETRY_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0)
# daemon.md §4.2: routine calls may use 70 % of the window, the rest is kept for enforcement
# (gateway.md's 90 % is the client default; the daemon's own, stricter budget wins here).
ROUTINE_SHARE = 0.7


class BrokerLogin:
    def __init__(
        self, daemon: Daemon, name: str, user_name: str, api_key: str, urls: tuple[str, str, str], broker: Any
    ) -> None:
        self.d = daemon
        self.name = name
        self.user_name = user_name
        self.account_ids: list[int] = []
        api_url, user_hub_url, market_hub_url = urls
        settings = RestSettings(
            api_url=api_url,
            connect_timeout_s=float(getattr(broker, "connect_timeout_seconds", 5.0)),
            request_timeout_s=float(getattr(broker, "request_timeout_seconds", 10.0)),
            routine_share=ROUTINE_SHARE,
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
        )
        self.market_hub = MarketHub(
            market_hub_url,
            self.rest.token,
            self._on_market_event,
            on_state=self._on_market_state,
            on_gap=None,
            token_rejected=self._token_rejected,
            name=f"{name}/market",
        )
        self._contracts: dict[str, dict[str, Any]] = {}
        self._watched: dict[str, float | None] = {}  # contract -> monotonic time it became unneeded
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconciling: set[int] = set()
        self._again: set[int] = set()
        self._started = False
        self.auth_error: str | None = None
        self.missing_accounts: set[int] = set()

    # ----- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Sign in, connect both hubs, subscribe, reconcile every account; retried until it works."""
        self._spawn(self._maintain(), "maintain")
        delay_index = 0
        while True:
            try:
                await self.rest.login()
                self.auth_error = None
                break
            except AuthRejected as exc:
                self.auth_error = f"sign-in failed: the broker refused the user name or API key (errorCode {exc.error_code})"
                log.error("Sign-in rejected for %s: %s", self.user_name, self.auth_error)
                self._set_all(P.AUTH_FAILED, self.auth_error)
                await asyncio.sleep(60)
            except (GatewayError, OSError) as exc:
                self._set_all(P.DISCONNECTED, f"cannot reach the broker: {exc}")
                await asyncio.sleep(RETRY_DELAYS_S[min(delay_index, len(RETRY_DELAYS_S) - 1)])
                delay_index += 1
        await self._preload_contracts()
        await self.user_hub.subscribe_accounts()
        for account_id in self.account_ids:
            await self.user_hub.subscribe_account(account_id)
        self._started = True
        self.user_hub.start()
        self.market_hub.start()
        with contextlib.suppress(TimeoutError):
            await self.user_hub.wait_connected(10)
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
    def _set(self, account_id: int, state: str, reason: str) -> None:
        prot = self.d.protection.get(account_id)
        if prot is None:
            return
        prot.user_hub = self.user_hub.state.value
        prot.market_hub = self.market_hub.state.value
        if prot.set(state, reason) and self.d.api is not None:
            self.d.api.push("connection", prot.connection(), account_id)

    def _set_all(self, state: str, reason: str) -> None:
        for account_id in self.account_ids:
            self._set(account_id, state, reason)

    def _healthy_state(self) -> tuple[str, str]:
        if self.market_hub.state is not HubState.CONNECTED:
            return P.DEGRADED, "no market data: market hub " + self.market_hub.state.value
        return P.PROTECTED, "live"

    # ----- hub callbacks ------------------------------------------------------------------------------
    def _on_user_event(self, target: str, payload: Any) -> None:
        pipeline = self.d.pipeline
        if pipeline is None:
            return
        if target == "GatewayLogout":
            return  # the hub signs in again and reconnects by itself; the gap reconciles
        if target not in (E.ACCOUNT, E.POSITION, E.ORDER, E.TRADE):
            return
        pipeline.broker_event(target, payload, self.name)

    def _on_market_event(self, target: str, payload: Any) -> None:
        if target == E.QUOTE and self.d.pipeline is not None:
            self.d.pipeline.broker_event(target, payload, self.name)

    def _on_user_state(self, state: HubState, detail: str) -> None:
        if state is HubState.CONNECTED:
            return  # protected again only after the reconcile (on_gap / start)
        if state is HubState.RECONNECTING:
            for account_id in self.account_ids:
                if self.d.pipeline is not None:
                    self.d.pipeline.pause_account(account_id)
            self._set_all(P.DISCONNECTED, f"broker connection lost: {detail}")

    def _on_market_state(self, state: HubState, detail: str) -> None:
        for account_id in self.account_ids:
            prot = self.d.protection.get(account_id)
            if prot is None:
                continue
            prot.market_hub = state.value
            if prot.state in (P.PROTECTED, P.DEGRADED):
                self._set(account_id, *self._healthy_state())

    def _on_gap(self) -> Any:
        return self.reconcile_all("reconnect")

    # ----- reconciliation ---------------------------------------------------------------------------
    async def reconcile_all(self, why: str) -> None:
        """Every account of the login; one ``Account/search`` serves them all (it lists the login's
        accounts), which keeps a 20-account start-up well inside the 200-requests-a-minute budget."""
        for account_id in self.account_ids:
            if self.d.pipeline is not None:
                self.d.pipeline.pause_account(account_id)  # buffer from now: the list is read now
        try:
            accounts: list[dict[str, Any]] | None = await self.rest.search_accounts(False)
        except (GatewayError, OSError):
            accounts = None  # each reconcile reads it itself (and retries)
        await asyncio.gather(
            *(self.reconcile(a, why, accounts) for a in self.account_ids), return_exceptions=True
        )

    def _day_start(self, account_id: int) -> datetime:
        engine = self.d.engine
        last = (
            engine.last_reset(account_id)
            if engine is not None and account_id in engine.account_ids()
            else None
        )
        now = datetime.now(UTC)
        if last is None or now - last > timedelta(days=4):
            return now - timedelta(days=1)
        return last

    async def reconcile(
        self, account_id: int, why: str, accounts: list[dict[str, Any]] | None = None
    ) -> None:
        """REST snapshot -> engine (inside the pipeline) -> buffered events -> protected."""
        if account_id in self._reconciling:
            self._again.add(account_id)
            return
        self._reconciling.add(account_id)
        pipeline = self.d.pipeline
        assert pipeline is not None
        try:
            attempt = 0
            while True:
                self._again.discard(account_id)
                pipeline.pause_account(account_id)
                self._set(account_id, P.RECONCILING, f"reconciling ({why})")
                try:
                    snapshot = await self._snapshot(account_id, accounts)
                    accounts = None  # a retry (or a second pass) reads the list afresh
                except (GatewayError, OSError) as exc:
                    attempt += 1
                    log.warning("reconcile failed (%s); retrying", exc, extra={"acct": account_id})
                    await asyncio.sleep(RETRY_DELAYS_S[min(attempt - 1, len(RETRY_DELAYS_S) - 1)])
                    continue
                if snapshot is None:
                    pipeline.resume_account(account_id)
                    return
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._apply_snapshot(account_id, snapshot, done)
                await done
                if account_id not in self._again:
                    break
            self._set(account_id, *self._healthy_state())
        finally:
            self._reconciling.discard(account_id)

    async def _snapshot(
        self, account_id: int, accounts: list[dict[str, Any]] | None
    ) -> dict[str, Any] | None:
        start = self._day_start(account_id)
        if accounts is None:
            accounts = await self.rest.search_accounts(False)
        account = next((a for a in accounts if a.get("id") == account_id), None)
        if account is None:
            self.missing_accounts.add(account_id)
            self._set(account_id, P.AUTH_FAILED, "account not found for this login")
            return None
        self.missing_accounts.discard(account_id)
        positions, orders, today_orders, trades = await asyncio.gather(
            self.rest.open_positions(account_id),
            self.rest.open_orders(account_id),
            self.rest.search_orders(account_id, start),
            self.rest.search_trades(account_id, start),
        )
        for cid in {p.get("contractId") for p in positions} | {o.get("contractId") for o in orders}:
            if isinstance(cid, str):
                await self._ensure_contract_loaded(cid)
        return {
            "account": account,
            "positions": positions,
            "orders": orders,
            "trades": trades,
            "today": today_orders,
        }

    async def _preload_contracts(self) -> None:
        """Metadata of every tradable front contract in one call, so the first position in any of
        them is priced at once (the per-contract fetch stays as the fallback for the rest)."""
        try:
            contracts = await self.rest.available_contracts()
        except (GatewayError, OSError) as exc:
            log.info("contract list not loaded (%s); contracts are fetched one by one", exc)
            return
        engine, pipeline = self.d.engine, self.d.pipeline
        for info in contracts:
            cid = info.get("id")
            if not isinstance(cid, str) or cid in self._contracts:
                continue
            self._contracts[cid] = info
            if pipeline is not None and engine is not None and cid not in engine.state.contracts:
                pipeline.put(InternalEvent(E.CONTRACT, info))

    async def _ensure_contract_loaded(self, cid: str) -> None:
        engine = self.d.engine
        if engine is not None and cid in engine.state.contracts:
            self.watch_contract(cid)
            return
        info = await self.contract(cid)
        if info is not None and self.d.pipeline is not None:
            self.d.pipeline.put(InternalEvent(E.CONTRACT, info))
            if self.d.persist is not None:
                self.d.persist.contract(info)
        self.watch_contract(cid)

    def _apply_snapshot(self, account_id: int, snap: dict[str, Any], done: asyncio.Future[None]) -> None:
        d = self.d
        assert d.pipeline is not None and d.engine is not None
        engine, pipeline = d.engine, d.pipeline

        def control() -> list[Any]:
            try:
                now = datetime.now(UTC)
                return engine.reconcile_account(
                    account_id,
                    now,
                    account=snap["account"],
                    positions=snap["positions"],
                    orders=snap["orders"],
                    trades=snap["trades"],
                )
            finally:
                pipeline.resume_account(account_id)
                if d.executor is not None:
                    for pos in snap["positions"]:
                        cid = pos.get("contractId")
                        if isinstance(cid, str):
                            d.executor.on_position(account_id, cid, int(pos.get("size") or 0))
                if not done.done():
                    done.set_result(None)
                if d.api is not None and d.dispatch is not None:
                    acct = engine.state.accounts.get(account_id)
                    if acct is not None:
                        d.api.push("account", d.dispatch.account_summary(acct, datetime.now(UTC)), account_id)

        pipeline.control(control, name=f"reconcile {account_id}")

    # ----- contracts and quotes ---------------------------------------------------------------------
    async def contract(self, contract_id: str) -> dict[str, Any] | None:
        cached = self._contracts.get(contract_id)
        if cached is not None:
            return cached
        for attempt in range(3):
            try:
                info = await self.rest.contract_by_id(contract_id)
            except (GatewayError, OSError) as exc:
                log.warning("contract %s metadata not loaded yet: %s", contract_id, exc)
                await asyncio.sleep(0.5 * (attempt + 1))
                continue
            if info is not None:
                self._contracts[contract_id] = info
            return info
        return None

    def watch_contract(self, contract_id: str) -> None:
        """Keep quotes flowing for a contract that is (or may soon be) held or worked."""
        if self._watched.get(contract_id, 0.0) is None:
            return
        self._watched[contract_id] = None
        self._spawn(self.market_hub.subscribe_quotes(contract_id), f"quotes-{contract_id}")

    def _needed_contracts(self) -> set[str]:
        engine = self.d.engine
        needed: set[str] = set()
        if engine is None:
            return needed
        for account_id in self.account_ids:
            acct = engine.state.accounts.get(account_id)
            if acct is None:
                continue
            needed.update(acct.positions)
            needed.update(o.contract_id for o in acct.orders.values())
        return needed

    async def _maintain(self) -> None:
        """Drop quote subscriptions no longer needed (after 60 s) and run the 60 s safety sweep."""
        last_sweep = time.monotonic()
        while True:
            await asyncio.sleep(5)
            needed = self._needed_contracts()
            now = time.monotonic()
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
                if limiter.in_window() < limiter.limit // 2:
                    await self._sweep()

    async def _sweep(self) -> None:
        for account_id in self.account_ids:
            prot = self.d.protection.get(account_id)
            if prot is None or prot.state not in (P.PROTECTED, P.DEGRADED):
                continue
            try:
                positions = await self.rest.open_positions(account_id)
            except (GatewayError, OSError):
                continue
            engine = self.d.engine
            if engine is None:
                continue
            acct = engine.state.accounts.get(account_id)
            if acct is None:
                continue
            broker = {p.get("contractId"): int(p.get("size") or 0) for p in positions}
            ours = {cid: pos.size for cid, pos in acct.positions.items()}
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
