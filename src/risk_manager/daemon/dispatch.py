"""What happens after the engine decided: persist, enforce, tell the dashboards (daemon.md §3.1 stage 6-8).

Lockouts are committed before they are reported; broker actions go to the executor at once (the
fast path never waits for the disk); every decision and outcome reaches ``enforcement.jsonl``, the
database and the local API.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from risk_manager.daemon.api.views import (
    closed_position_view,
    lockout_view,
    order_view,
    pnl_view,
    position_view,
    trade_view,
)
from risk_manager.daemon.enforcement.executor import BROKER_ACTIONS, WorkItem
from risk_manager.daemon.logs.files import log_enforcement
from risk_manager.daemon.pipeline import InternalEvent
from risk_manager.engine import Action
from risk_manager.engine import events as E
from risk_manager.engine.actions import ActionKind, iso
from risk_manager.engine.context import RuleContext

if TYPE_CHECKING:
    from risk_manager.daemon.app import Daemon

log = logging.getLogger("risk_manager.daemon.engine")

FINAL_STATES = frozenset({"done", "failed", "observed", "interrupted"})


def _unwrap(data: Any) -> Any:
    try:
        return E.unwrap(data)
    except E.MalformedEvent:
        return None


class Dispatcher:
    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon
        self._fetching: set[str] = set()
        self.recent: dict[int, list[dict[str, Any]]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _push(self, type_: str, data: dict[str, Any], account_id: int | None = None) -> None:
        if self.d.api is not None:
            self.d.api.push(type_, data, account_id)

    # ----- state updates (stage 2 done) ---------------------------------------------------------
    def on_applied(self, event: InternalEvent) -> None:
        d = self.d
        engine = d.engine
        assert engine is not None
        payload = _unwrap(event.data) if event.name not in (E.TICK, E.QUOTE) else event.data
        if not isinstance(payload, dict):
            return
        now = datetime.now(UTC)
        if event.name == E.QUOTE:
            return
        account_id = payload.get("id") if event.name == E.ACCOUNT else payload.get("accountId")
        acct = engine.state.accounts.get(account_id) if isinstance(account_id, int) else None
        if acct is None:
            return
        prot = d.protection.get(acct.account_id)
        if prot is not None:
            prot.last_event_at = now
        cid = payload.get("contractId")
        if isinstance(cid, str):
            self.ensure_contract(cid, acct.account_id)
        # Verification hooks at once (an enforcement may be waiting for exactly this event) ...
        if event.name == E.POSITION and isinstance(cid, str) and d.executor is not None:
            d.executor.on_position(acct.account_id, cid, int(payload.get("size") or 0))
        elif event.name == E.ORDER and isinstance(payload.get("id"), int) and d.executor is not None:
            d.executor.on_order(acct.account_id, payload["id"], payload["id"] in acct.orders)
        # ... dashboards and snapshots once the queued events have been decided.
        if d.pipeline is not None:
            d.pipeline.later(lambda: self._publish(event.name, payload, acct, cid))
        else:
            self._publish(event.name, payload, acct, cid)

    def _publish(self, name: str, payload: dict[str, Any], acct: Any, cid: Any) -> None:
        d = self.d
        engine = d.engine
        assert engine is not None
        now = datetime.now(UTC)
        persist = d.persist
        if name == E.POSITION:
            assert isinstance(cid, str)
            pos = acct.positions.get(cid)
            if pos is not None:
                self._push("position", position_view(engine, acct, pos, now), acct.account_id)
            else:
                self._push(
                    "position",
                    closed_position_view(cid, RuleContext(engine.state, acct, now).symbol(cid)),
                    acct.account_id,
                )
            if persist is not None:
                persist.position(acct, cid, pos)
        elif name == E.ORDER:
            if isinstance(payload.get("id"), int):
                try:
                    parsed = E.parse_order(payload)
                except E.MalformedEvent:
                    return
                self._push("order", order_view(parsed), acct.account_id)
                if persist is not None:
                    persist.order(acct.account_id, parsed)
        elif name == E.TRADE:
            try:
                trade = E.parse_trade(payload)
            except E.MalformedEvent:
                return
            self._push("trade", trade_view(trade), acct.account_id)
            if persist is not None:
                self._spawn(persist.trade(acct, trade))
            self._push("account", self.account_summary(acct, now), acct.account_id)
        elif name == E.ACCOUNT:
            self._push("account", self.account_summary(acct, now), acct.account_id)

    def account_summary(self, acct: Any, now: datetime) -> dict[str, Any]:
        assert self.d.engine is not None
        data = pnl_view(self.d.engine, acct, now)
        data.update(
            {"balance": None if acct.balance is None else str(acct.balance), "canTrade": acct.can_trade}
        )
        return data

    def ensure_contract(self, contract_id: str, account_id: int) -> None:
        """Fetch contract metadata the first time a contract shows up, and watch its quotes."""
        d = self.d
        assert d.engine is not None
        login = d.logins.get(d.account_login.get(account_id, ""))
        if login is not None:
            login.watch_contract(contract_id)
        if contract_id in d.engine.state.contracts or contract_id in self._fetching or login is None:
            return
        self._fetching.add(contract_id)

        async def fetch() -> None:
            try:
                info = await login.contract(contract_id)
            finally:
                self._fetching.discard(contract_id)
            if info is not None and d.pipeline is not None:
                d.pipeline.put(InternalEvent(E.CONTRACT, info))
                if d.persist is not None:
                    d.persist.contract(info)

        self._spawn(fetch())

    # ----- decisions (stage 5-6) ---------------------------------------------------------------------
    async def on_actions(self, actions: list[Action], event: InternalEvent) -> None:
        d = self.d
        cause = f"e{event.seq}"
        for action in actions:
            kind = action.kind
            if kind in BROKER_ACTIONS:
                if action.lockout is None and d.executor is not None:
                    lock_cause = self._lock_cause(action)
                    item = d.executor.submit(action, cause=lock_cause or cause, received_ns=event.received_ns)
                    if item is not None and item.state == "observed":
                        log.info(
                            "observe-only: would %s %s (%s)",
                            kind,
                            action.contract_id or action.order_id or "",
                            action.reason,
                            extra={"acct": action.account_id, "rule": action.rule},
                        )
                continue
            if kind == ActionKind.LOCKOUT and action.lockout is not None:
                log.warning(
                    "lockout %s until %s: %s",
                    action.lockout.kind,
                    iso(action.lockout.until) or "lifted",
                    action.reason,
                    extra={"acct": action.account_id, "rule": action.rule},
                )
                if d.persist is not None:
                    await d.persist.lockout_set(action.lockout, observed=action.observe_only)
                self._push(
                    "lockout_set",
                    lockout_view(action.lockout, observed=action.observe_only),
                    action.account_id,
                )
                log_enforcement(self._record(action, "done"))
            elif kind == ActionKind.UNLOCK and action.lockout is not None:
                by = {"RESET": "daily_reset", "ADMIN": "admin"}.get(action.rule, "expiry")
                if action.rule == "RULE-010" or action.rule == "RULE-011":
                    by = "condition"
                log.info(
                    "lockout cleared (%s): %s",
                    by,
                    action.reason,
                    extra={"acct": action.account_id, "rule": action.lockout.rule},
                )
                if d.persist is not None:
                    await d.persist.lockout_cleared(action.lockout, by, action.reason)
                self._push(
                    "lockout_cleared",
                    {
                        "lockoutId": action.lockout.id,
                        "ruleId": action.lockout.rule,
                        "clearedAt": iso(action.at),
                        "clearedBy": by,
                        "reason": action.reason,
                    },
                    action.account_id,
                )
                log_enforcement(self._record(action, "done"))
            elif kind == ActionKind.WARN:
                log.warning("%s", action.reason, extra={"acct": action.account_id, "rule": action.rule})
                self._push("warning", {"ruleId": action.rule, "message": action.reason}, action.account_id)

    @staticmethod
    def _lock_cause(action: Action) -> str | None:
        return None

    def _record(self, action: Action, state: str, item: WorkItem | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "at": iso(datetime.now(UTC)),
            "account": action.account_id,
            "rule": action.rule,
            "action": action.kind,
            "target": action.contract_id if action.order_id is None else action.order_id,
            "state": state,
            "reason": action.reason,
            "observed": action.observe_only,
        }
        if action.lockout is not None:
            out["lockout"] = action.lockout.to_dict() | {"id": action.lockout.id}
        if item is not None:
            out.update(
                {
                    "key": item.key,
                    "attempts": item.attempts,
                    "firstRequestMs": None
                    if item.first_request_ms is None
                    else round(item.first_request_ms, 2),
                    "confirmedMs": None if item.confirmed_ms is None else round(item.confirmed_ms, 2),
                    "result": item.result or None,
                }
            )
        return out

    async def on_work_update(self, item: WorkItem) -> None:
        d = self.d
        record = self._record(item.action, item.state, item)
        # Updates are scheduled as tasks; two may carry the same state by the time they run.
        seen = (record["state"], record.get("attempts"), record.get("confirmedMs"))
        if item.reported == seen:
            return
        item.reported = seen
        if item.state in FINAL_STATES:
            # enforcement.jsonl: one line per decision with its outcome (the database keeps every
            # state of the work item); writing each intermediate state cost a log-thread hand-off
            # right while the request was in flight.
            log_enforcement(record)
        if d.persist is not None:
            item.record_id = await d.persist.enforcement(item, record)
        entry = {
            "id": item.record_id,
            "ruleId": item.action.rule,
            "action": item.action.kind,
            "target": record["target"],
            "state": item.state,
            "attempts": item.attempts,
            "reason": item.action.reason,
            "firstRequestMs": record.get("firstRequestMs"),
            "confirmedMs": record.get("confirmedMs"),
        }
        self.recent.setdefault(item.account_id, []).append(entry)
        del self.recent[item.account_id][:-50]
        self._push("enforcement", entry, item.account_id)
