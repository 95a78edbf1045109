"""The dashboards' live feed beyond the dispatcher's pushes: rule status, quotes, daily resets.

The trader dashboard needs to see how close every rule is to its limit, the last price and unrealized
P&L of what is held, and the daily reset (spec/daemon.md §9.3 ``rule_status``, ``quote``, ``daily_reset``).
The dispatcher pushes state changes of broker events; this feed adds what is *derived* from the engine
state after each event, clock tick and quote, without ever changing that state.

Cost is bounded so a quote storm cannot slow enforcement: the work runs as the pipeline's deferred
bookkeeping (after queued events are decided), quote-driven refreshes are coalesced to at most 4 per
second per account and contract, and only rule objects that changed are pushed (one push per change).
The latest rule status per account is also written to ``meta`` (batched, at most every 5 s) so the
dashboard's offline view can show the rule limits and last known values while the daemon is down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from risk_manager.daemon.api.rule_status import rule_statuses
from risk_manager.daemon.api.views import drawdown_of, money, pnl_view
from risk_manager.daemon.clock import Clock
from risk_manager.daemon.notify import DashboardUpdate, Notifier
from risk_manager.daemon.pipeline import InternalEvent
from risk_manager.engine import Engine
from risk_manager.engine import events as E
from risk_manager.engine.context import RuleContext
from risk_manager.engine.timefmt import iso
from risk_manager.engine.trading_day import trading_date

log = logging.getLogger("risk_manager.daemon.feed")

QUOTE_INTERVAL_S = 0.25  # at most 4 screen-relevant updates per second per contract (spec/trader-cli.md §12)
META_INTERVAL_S = 5.0
META_KEY = "rule_status:{}"


class MetaStore(Protocol):
    def note_meta(self, items: Mapping[str, str | None]) -> None: ...


Deferred = Callable[[Callable[[], None]], None]


class DashboardFeed:
    def __init__(
        self,
        engine: Engine,
        notifier: Notifier,
        clock: Clock,
        *,
        defer: Deferred | None = None,
        store: MetaStore | None = None,
    ) -> None:
        self._engine = engine
        self._notifier = notifier
        self._defer = defer
        self._store = store
        self._clock = clock.now
        self._rules: dict[int, dict[str, dict[str, Any]]] = {}
        self._dirty: set[int] = set()
        self._dirty_quotes: dict[tuple[int, str], None] = {}
        self._quote_sent: dict[tuple[int, str], float] = {}
        self._rules_at: dict[int, float] = {}
        self._pnl_sent: dict[int, dict[str, Any]] = {}
        self._days: dict[int, tuple[datetime | None, str, dict[str, Any], set[str]]] = {}
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._meta_dirty: set[int] = set()
        self._meta_at = 0.0

    # ----- hook ---------------------------------------------------------------------------------
    def wrap(self, on_applied: Callable[[InternalEvent], None]) -> Callable[[InternalEvent], None]:
        """The pipeline's ``on_applied``: the dispatcher first, then this feed."""

        def both(event: InternalEvent) -> None:
            on_applied(event)
            try:
                self.on_event(event)
            except Exception:
                log.exception("dashboard feed failed on %s", event.name)

        return both

    def on_event(self, event: InternalEvent) -> None:
        engine = self._engine
        if event.name == E.QUOTE:
            cid = event.data.get("contractId") if isinstance(event.data, dict) else None
            if isinstance(cid, str):
                for holder in engine.state.holders.get(cid, ()):
                    self._dirty_quotes[(holder, cid)] = None
        elif event.name == E.TICK:
            self._dirty.update(engine.account_ids())
        else:
            account_id = _account_of(event)
            if account_id is not None:
                self._dirty.add(account_id)
                cid = _contract_of(event)
                acct = engine.state.accounts.get(account_id)
                if (
                    event.name == E.POSITION
                    and cid is not None
                    and acct is not None
                    and cid in acct.positions
                ):
                    self._later(lambda: self._first_quote(account_id, cid))
        self._schedule()

    def _later(self, work: Callable[[], None]) -> None:
        if self._defer is not None:
            self._defer(work)  # after the dispatcher's position push, which was queued first
        else:
            work()

    def _first_quote(self, account_id: int, cid: str) -> None:
        """A new holding gets its last price at once (quotes only flow for held contracts)."""
        key = (account_id, cid)
        if key in self._quote_sent and time.monotonic() - self._quote_sent[key] < QUOTE_INTERVAL_S:
            self._dirty_quotes[key] = None
            self._schedule()
            return
        self._quote_sent[key] = time.monotonic()
        self._push_quote(account_id, cid, self._clock())

    def _schedule(self) -> None:
        if self._scheduled:
            return
        self._scheduled = True
        self._later(self.flush)

    # ----- snapshot -----------------------------------------------------------------------------
    def rules(self, account_id: int) -> list[dict[str, Any]]:
        """Current rule status of an account for a snapshot (also the baseline for later pushes)."""
        engine = self._engine
        if account_id not in engine.state.accounts:
            return []
        items = rule_statuses(engine.state, engine.account(account_id), self._clock())
        self._rules[account_id] = {item["ruleId"]: item for item in items}
        return items

    # ----- the deferred work -------------------------------------------------------------------------
    def flush(self) -> None:
        self._scheduled = False
        engine = self._engine
        now = self._clock()
        mono = time.monotonic()
        retry_in: float | None = None
        quote_accounts: set[int] = set()
        for key in list(self._dirty_quotes):
            account_id, cid = key
            wait = self._quote_sent.get(key, 0.0) + QUOTE_INTERVAL_S - mono
            if wait > 0:
                retry_in = wait if retry_in is None else min(retry_in, wait)
                continue
            del self._dirty_quotes[key]
            self._quote_sent[key] = mono
            self._push_quote(account_id, cid, now)
            quote_accounts.add(account_id)
        for account_id in quote_accounts - self._dirty:
            if mono - self._rules_at.get(account_id, 0.0) >= QUOTE_INTERVAL_S:
                self._dirty.add(account_id)
            self._push_pnl(account_id, now)
        dirty, self._dirty = self._dirty, set()
        for account_id in sorted(dirty):
            if account_id not in engine.state.accounts:
                continue
            self._check_reset(account_id, now)
            self._refresh_rules(account_id, now)
            self._rules_at[account_id] = mono
        if self._meta_dirty and mono - self._meta_at >= META_INTERVAL_S:
            self._save_meta(mono)
        if retry_in is not None and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(retry_in, self._wake)

    def _wake(self) -> None:
        self._timer = None
        self._schedule()

    def _push(self, type_: str, data: dict[str, Any], account_id: int | None) -> None:
        self._notifier.publish(DashboardUpdate(at=self._clock(), account_id=account_id, type=type_, data=data))

    def _refresh_rules(self, account_id: int, now: datetime) -> None:
        engine = self._engine
        items = rule_statuses(engine.state, engine.account(account_id), now)
        previous = self._rules.setdefault(account_id, {})
        for item in items:
            if previous.get(item["ruleId"]) != item:
                previous[item["ruleId"]] = item
                self._push("rule_status", item, account_id)
                self._meta_dirty.add(account_id)

    def _push_quote(self, account_id: int, cid: str, now: datetime) -> None:
        engine = self._engine
        quote = engine.state.quotes.get(cid)
        acct = engine.state.accounts.get(account_id)
        if quote is None or acct is None:
            return
        pos = acct.positions.get(cid)
        ctx = RuleContext(engine.state, acct, now)
        data = {
            "contractId": cid,
            "last": _text(quote.last),
            "bid": _text(quote.bid),
            "ask": _text(quote.ask),
            "at": iso(quote.received),
            "unrealized": money(ctx.unrealized(pos)) if pos is not None else None,
        }
        self._push("quote", data, account_id)

    def _push_pnl(self, account_id: int, now: datetime) -> None:
        engine = self._engine
        acct = engine.state.accounts.get(account_id)
        if acct is None:
            return
        data = pnl_view(engine, acct, now)
        data["drawdown"] = drawdown_of(engine, acct, now)  # net balance moves with the quotes too
        if self._pnl_sent.get(account_id) == data:
            return
        self._pnl_sent[account_id] = data
        self._push("account", dict(data, canTrade=acct.can_trade, confirmed=True), account_id)

    def _check_reset(self, account_id: int, now: datetime) -> None:
        engine = self._engine
        acct = engine.account(account_id)
        s = acct.settings
        day = trading_date(now, s.reset_time, s.timezone).isoformat()
        active = {r.id for r in acct.lockouts.active()}
        pnl = {"realized": money(acct.realized), "tradeCount": acct.session_trades}
        seen = self._days.get(account_id)
        self._days[account_id] = (acct.last_reset, day, pnl, active)
        if seen is None or seen[0] is None or seen[0] == acct.last_reset:
            return
        _, previous_day, previous_pnl, previous_active = seen
        self._push(
            "daily_reset",
            {
                "previousDay": previous_day,
                "tradingDay": day,
                "previousPnl": previous_pnl,
                "lockoutsCleared": sorted(previous_active - active),
                "nextResetAt": iso(acct.next_reset),
            },
            account_id,
        )

    def _save_meta(self, mono: float) -> None:
        self._meta_at = mono
        accounts, self._meta_dirty = self._meta_dirty, set()
        if self._store is None:
            return
        items = {
            META_KEY.format(a): json.dumps(list(self._rules.get(a, {}).values()), separators=(",", ":"))
            for a in accounts
        }
        self._store.note_meta(items)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _account_of(event: InternalEvent) -> int | None:
    data = event.data
    if not isinstance(data, dict):
        return None
    nested = data.get("data")
    inner: dict[str, Any] = nested if isinstance(nested, dict) else data
    value = inner.get("id") if event.name == E.ACCOUNT else inner.get("accountId")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _contract_of(event: InternalEvent) -> str | None:
    data = event.data
    if not isinstance(data, dict):
        return None
    nested = data.get("data")
    inner: dict[str, Any] = nested if isinstance(nested, dict) else data
    value = inner.get("contractId")
    return value if isinstance(value, str) else None
