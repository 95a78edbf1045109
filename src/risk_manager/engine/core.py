"""The engine: apply an event, run the lockout gate, run every matching rule, merge the actions.

Pure and synchronous: no I/O, no asyncio, no wall clock. ``evaluate`` and ``tick`` take the state
and the time and return the actions; the state is updated in place (no copy on the hot path).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from risk_manager.engine import catch_up, events, periods, settling
from risk_manager.engine.actions import Action, merge_actions
from risk_manager.engine.bands import invalidate, refresh_bands
from risk_manager.engine.context import RuleContext
from risk_manager.engine.gate import gate_order, gate_position
from risk_manager.engine.isolation import guarded, run_rules
from risk_manager.engine.lockouts import ClearedBy, LockoutKind
from risk_manager.engine.plausible import PRICE_MAX_FLOAT, TEXT_MAX
from risk_manager.engine.rulebook import PRICE_RULES, RULES
from risk_manager.engine.rules.base import Rule
from risk_manager.engine.state import (
    NO_BAND,
    AccountSettings,
    AccountState,
    EngineState,
    PositionState,
    QuoteState,
)
from risk_manager.engine.trading_day import next_reset_after, reset_at_or_before

RESET = "RESET"  # the rule id of actions taken by the daily reset
ADMIN = "ADMIN"  # ... and of an administrator's unlock
_HOUR = timedelta(hours=1)
_FALLBACK_TICK = timedelta(seconds=1)


def new_state(settings: Iterable[AccountSettings]) -> EngineState:
    state = EngineState()
    for s in settings:
        state.accounts[s.account_id] = AccountState(settings=s)
    return state


def enabled_rules(ctx: RuleContext) -> list[Rule]:
    return [r for r in RULES if r.enabled(ctx)]


# ----- housekeeping: daily reset and lockout expiry -----------------------------------------------
def _housekeeping(state: EngineState, acct: AccountState, now: datetime) -> list[Action]:
    out: list[Action] = []
    if acct.next_reset is None or now >= acct.next_reset:
        out += _daily_reset(state, acct, now)
    book = acct.lockouts
    if len(book):
        end = book.next_end()
        if end is not None and now >= end:
            ctx = RuleContext(state, acct, now)
            for record in book.expired(now):
                book.remove_record(record)
                out.append(ctx.unlock(record.rule, record, f"{record.kind} lockout ended", ClearedBy.EXPIRY))
    return out


def _daily_reset(state: EngineState, acct: AccountState, now: datetime) -> list[Action]:
    """Once per trading day; also catches up at once on a reset missed while stopped."""
    s = acct.settings
    latest = reset_at_or_before(now, s.reset_time, s.timezone)
    acct.next_reset = next_reset_after(latest, s.reset_time, s.timezone)
    if acct.last_reset is None:
        acct.last_reset = latest  # first sight of the account: the current trading day is already running
        return periods.adopt_due(state, acct, now)
    if acct.last_reset >= latest:
        return periods.adopt_due(state, acct, now)
    ended = acct.last_reset
    acct.last_reset = latest
    ctx = RuleContext(state, acct, now)
    local = latest.astimezone(s.timezone).strftime("%Y-%m-%d %H:%M %Z")
    out: list[Action] = []
    for record in acct.lockouts:
        if record.kind == LockoutKind.UNTIL_RESET:
            acct.lockouts.remove_record(record)
            out.append(
                ctx.unlock(
                    RESET, record, f"daily reset {local}: {record.rule} lockout lifted", ClearedBy.DAILY_RESET
                )
            )
    out += periods.close_day(state, acct, now, ended, latest)  # docs/rules-extra.md: periods, schedules
    _prune_seen(acct, now)
    acct.realized = Decimal(0)
    acct.trades.clear()
    acct.session_trades = 0
    acct.warned.clear()
    invalidate(state, acct)  # warning levels are armed again
    return out


def _prune_seen(acct: AccountState, now: datetime) -> None:
    """Ids seen grow with every event; a daemon runs for weeks. At the reset keep what idempotency
    still needs: the trades of the day that just ended (a late duplicate of one is recognised; older
    trades are before ``last_reset`` and never count anyway) and the orders still working or
    updated within the last hour (a stale update of a final order is still refused)."""
    acct.trade_ids = set(acct.trades)
    horizon = now - _HOUR
    acct.order_seen = {
        oid: seen
        for oid, seen in acct.order_seen.items()
        if oid in acct.orders or (seen[0] is not None and seen[0] >= horizon)
    }


# ----- applying events ------------------------------------------------------------------------------
def _apply_position(
    state: EngineState, acct: AccountState, upd: events.PositionUpdate, now: datetime
) -> tuple[PositionState | None, bool]:
    """Update the position book; returns (the previous record, whether exposure grew).

    A change of size or side is a fill: the position remembers the quote count at that moment (only
    a later quote prices it for RULE-013's high) and the fill is paired with its trade and balance
    (``settling.py``)."""
    cid = upd.contract_id
    previous = acct.positions.get(cid)
    if upd.size == 0:
        if previous is not None:
            del acct.positions[cid]
            holders = state.holders.get(cid)
            if holders is not None:
                holders.discard(acct.account_id)
            acct.bands.pop(cid, None)
            settling.on_position(acct, cid, True, now)
        return previous, False
    direction = -1 if upd.type == 2 else 1
    if previous is None or previous.direction != direction:
        if previous is None and upd.created is not None and upd.created <= now:
            opened = upd.created
        else:
            opened = now
        acct.positions[cid] = PositionState(
            contract_id=cid,
            size=upd.size,
            direction=direction,
            average_price=upd.average_price,
            opened_at=opened,
            position_id=upd.position_id,
            fill_quote_seq=state.quote_seq,
            filled_at=now,
        )
        state.holders.setdefault(cid, set()).add(acct.account_id)
        settling.on_position(acct, cid, previous is not None, now)
        return previous, True
    grew = upd.size > previous.size
    if upd.size != previous.size:
        previous.fill_quote_seq = state.quote_seq
        previous.filled_at = now
        settling.on_position(acct, cid, not grew, now)
    previous.size = upd.size
    previous.average_price = upd.average_price
    previous.position_id = upd.position_id
    return previous, grew


def _apply_order(acct: AccountState, upd: events.OrderUpdate) -> bool:
    """Returns False for an event older than what we already hold for that order.

    Newer ``updateTimestamp`` wins; on equal timestamps the more final status wins (spec/gateway.md §4.4).
    """
    seen = acct.order_seen.get(upd.order_id)
    if seen is not None:
        seen_at, seen_final = seen
        if upd.updated is not None and seen_at is not None:
            if upd.updated < seen_at or (upd.updated == seen_at and seen_final and upd.working):
                return False
    acct.order_seen[upd.order_id] = (upd.updated or (seen[0] if seen else None), not upd.working)
    if upd.working:
        acct.orders[upd.order_id] = upd
    else:
        acct.orders.pop(upd.order_id, None)
    return True


def _contribution(trade: events.TradeUpdate, include_fees: bool) -> Any:
    """What one fill adds to realized P&L: gross, or net of every charge (fees and commissions)."""
    value = trade.pnl if trade.pnl is not None else 0
    return value - trade.charges if include_fees else value


def _apply_trade(acct: AccountState, trade: events.TradeUpdate, now: datetime) -> bool:
    """Book a fill; True when it is a new, non-voided fill of today's trading day (it counts)."""
    fees = acct.settings.include_fees
    if trade.trade_id in acct.trade_ids:
        existing = acct.trades.get(trade.trade_id)
        if existing is not None and trade.voided and not existing.voided:
            acct.realized -= _contribution(existing, fees)
            acct.trades[trade.trade_id] = trade
            settling.on_void(acct, existing, now)
        return False
    acct.trade_ids.add(trade.trade_id)
    if trade.voided:
        return False
    if trade.created is not None and acct.last_reset is not None and trade.created < acct.last_reset:
        return False  # belongs to an earlier trading day
    acct.trades[trade.trade_id] = trade
    acct.realized += _contribution(trade, fees)
    settling.on_trade(acct, trade, now)
    acct.session_trades += 1
    recent = acct.recent_trades
    recent.append(trade.created or now)
    horizon = now - _HOUR - _HOUR
    while recent and recent[0] < horizon:
        recent.popleft()
    return True


def _apply_balance(acct: AccountState, balance: Decimal | None, now: datetime) -> None:
    """The broker's balance (None: not in this event, keep ours); a change is paired with its fill."""
    if balance is None:
        return
    if acct.balance is not None and balance != acct.balance:
        settling.on_balance(acct, now)
    acct.balance = balance


def _apply_quote(state: EngineState, data: Any, now: datetime) -> str:
    if not isinstance(data, Mapping):
        raise events.MalformedEvent("quote payload must be an object")
    cid = data.get("contractId")
    if not isinstance(cid, str) or not cid or len(cid) > TEXT_MAX:
        raise events.MalformedEvent("quote without a usable contractId")
    last = data.get("lastPrice")
    bid = data.get("bestBid")
    ask = data.get("bestAsk")
    for value in (last, bid, ask):
        kind = type(value)
        if value is None or ((kind is float or kind is int) and -PRICE_MAX_FLOAT <= value <= PRICE_MAX_FLOAT):
            continue  # the hot path: a plain number within range (NaN fails both comparisons)
        events.check_quote_price(cid, value)  # anything else: the full check (raises MalformedEvent)
    stamp = data.get("timestamp")
    if stamp is not None and not isinstance(stamp, str):
        raise events.MalformedEvent(f"quote for {cid}: 'timestamp' must be a string, got {type(stamp).__name__}")
    quote = state.quotes.get(cid)
    if quote is None:
        quote = state.quotes[cid] = QuoteState()
    if last is not None:
        quote.last = last
    if bid is not None:
        quote.bid = bid
    if ask is not None:
        quote.ask = ask
    quote.timestamp = stamp or quote.timestamp
    quote.received = now
    quote._price = None
    state.quote_seq += 1
    quote.seq = state.quote_seq
    return cid


# ----- evaluation -----------------------------------------------------------------------------------
def evaluate(state: EngineState, name: str, data: Any, now: datetime) -> list[Action]:
    """Apply one broker event at time ``now`` and return the merged actions."""
    if not isinstance(name, str):
        raise events.MalformedEvent(f"event name must be a string, got {type(name).__name__}")
    state.now = now
    if isinstance(data, list) and name in _USER_EVENTS:
        # A user-hub payload that is a list is processed element by element (spec/gateway.md §4.4).
        parsed = [_PARSERS[name](item) for item in data]  # all or nothing: validate first
        return merge_actions([a for item in parsed for a in _DISPATCH[name](state, item, now)])
    if name == events.QUOTE:
        return _on_quote(state, data, now)
    if name == events.CONTRACT:
        info = events.parse_contract(data)
        known = info.contract_id in state.contracts
        state.contracts[info.contract_id] = info
        state.contract_bands.pop(info.contract_id, None)
        for acct in state.accounts.values():
            acct.bands.pop(info.contract_id, None)
        if known:
            return []
        # Metadata that arrives after the position (the daemon fetches it on first sight): the
        # price rules could not judge that position yet, so they judge it now.
        holders = [a.account_id for a in state.accounts.values() if info.contract_id in a.positions]
        return merge_actions([a for acct_id in holders for a in evaluate_account(state, acct_id, now)])
    if name == events.TICK:
        return tick(state, now)
    if name == events.POSITION:
        return _on_position(state, events.parse_position(data), now)
    if name == events.ORDER:
        return _on_order(state, events.parse_order(data), now)
    if name == events.TRADE:
        return _on_trade(state, events.parse_trade(data), now)
    if name == events.ACCOUNT:
        return _on_account(state, events.parse_account(data), now)
    raise events.MalformedEvent(f"unknown event '{name}'")


def _finish(state: EngineState, acct: AccountState, ctx: RuleContext, actions: list[Action]) -> list[Action]:
    refresh_bands(state, acct, ctx)
    return merge_actions(actions)


def _on_position(state: EngineState, upd: events.PositionUpdate, now: datetime) -> list[Action]:
    acct = state.accounts.get(upd.account_id)
    if acct is None:
        return []
    out = _housekeeping(state, acct, now)
    previous, grew = _apply_position(state, acct, upd, now)
    ctx = RuleContext(state, acct, now)
    gated, run = gate_position(ctx, upd.contract_id, previous, grew)
    out += gated
    if run:
        out += run_rules(ctx, RULES, "on_position", upd.contract_id, previous, grew)
    return _finish(state, acct, ctx, out)


def _on_order(state: EngineState, upd: events.OrderUpdate, now: datetime) -> list[Action]:
    acct = state.accounts.get(upd.account_id)
    if acct is None:
        return []
    out = _housekeeping(state, acct, now)
    if not _apply_order(acct, upd):
        return merge_actions(out)
    ctx = RuleContext(state, acct, now)
    gated, run = gate_order(ctx, upd)
    out += gated
    if run:
        out += run_rules(ctx, RULES, "on_order", upd)
    return _finish(state, acct, ctx, out)


def _on_trade(state: EngineState, trade: events.TradeUpdate, now: datetime) -> list[Action]:
    acct = state.accounts.get(trade.account_id)
    if acct is None:
        return []
    out = _housekeeping(state, acct, now)
    counted = _apply_trade(acct, trade, now)
    ctx = RuleContext(state, acct, now)
    if acct.lockouts.has_hard():
        return merge_actions(out)  # P&L keeps accumulating; the rules wait for the lockout to end
    out += run_rules(ctx, RULES, "on_trade", trade, counted)
    return _finish(state, acct, ctx, out)


def _on_account(state: EngineState, upd: events.AccountUpdate, now: datetime) -> list[Action]:
    acct = state.accounts.get(upd.account_id)
    if acct is None:
        return []
    out = _housekeeping(state, acct, now)
    previous = acct.can_trade
    acct.can_trade = True if upd.can_trade is None else upd.can_trade
    acct.name = upd.name or acct.name
    _apply_balance(acct, upd.balance, now)
    ctx = RuleContext(state, acct, now)
    out += run_rules(ctx, RULES, "on_account", upd, previous, locked_only=acct.lockouts.has_hard())
    return _finish(state, acct, ctx, out)


def _on_quote(state: EngineState, data: Any, now: datetime) -> list[Action]:
    cid = _apply_quote(state, data, now)
    holders = state.holders.get(cid)
    if not holders:
        return []
    quote = state.quotes[cid]
    raw = quote.raw_price()
    if raw is None:
        return []
    fast = state.quiet_bands
    lo, hi = state.contract_bands.get(cid, NO_BAND)
    if fast and lo < raw < hi:
        return []  # inside every holder's quiet band: no decision can change
    out: list[Action] = []
    for account_id in sorted(holders):
        acct = state.accounts[account_id]
        alo, ahi = acct.bands.get(cid, NO_BAND)
        if fast and alo < raw < ahi:
            continue
        ctx = RuleContext(state, acct, now)
        if acct.lockouts.has_hard():
            acct.bands[cid] = NO_BAND
            continue
        actions = run_rules(ctx, PRICE_RULES, "on_quote", cid)
        refresh_bands(state, acct, ctx)
        out += merge_actions(actions)
    return out


def tick(state: EngineState, now: datetime) -> list[Action]:
    """The 1-second tick: daily reset, lockout expiry, grace timers, session boundaries."""
    state.now = now
    out: list[Action] = []
    for account_id in sorted(state.accounts):
        acct = state.accounts[account_id]
        actions = _housekeeping(state, acct, now)
        ctx = RuleContext(state, acct, now)
        if not acct.lockouts.has_hard():
            actions += run_rules(ctx, RULES, "on_tick")
        else:
            # Keep the session-window bookkeeping current so a lockout ending mid-window is no transition.
            for key in list(acct.window_inside):
                acct.window_inside[key] = False
        if actions:
            out += _finish(state, acct, ctx, actions)
    return out


def _deadline(rule: Rule, ctx: RuleContext) -> datetime | None:
    return rule.next_deadline(ctx) if rule.enabled(ctx) else None


def next_deadline(state: EngineState) -> datetime | None:
    """The earliest instant at which ``tick`` could act; ticks before it are no-ops."""
    candidates: list[datetime] = []
    now = state.now
    for acct in state.accounts.values():
        if acct.next_reset is not None:
            candidates.append(acct.next_reset)
        end = acct.lockouts.next_end()
        if end is not None:
            candidates.append(end)
        if now is None or acct.lockouts.has_hard():
            continue  # rules do not run while hard-locked; only the lockout's end matters
        ctx = RuleContext(state, acct, now)
        soon: datetime | None = now + _FALLBACK_TICK  # a rule that cannot tell: the safe 1-second grid
        for rule in RULES:
            when = guarded(ctx, rule, "next_deadline", partial(_deadline, rule, ctx), soon)
            if when is not None:
                candidates.append(when)
    return min(candidates) if candidates else None


_USER_EVENTS = frozenset({events.POSITION, events.ORDER, events.TRADE, events.ACCOUNT})
_PARSERS: dict[str, Any] = {
    events.POSITION: events.parse_position,
    events.ORDER: events.parse_order,
    events.TRADE: events.parse_trade,
    events.ACCOUNT: events.parse_account,
}
_DISPATCH: dict[str, Any] = {
    events.POSITION: _on_position,
    events.ORDER: _on_order,
    events.TRADE: _on_trade,
    events.ACCOUNT: _on_account,
}


def reload(state: EngineState, settings: Iterable[AccountSettings], now: datetime) -> list[Action]:
    """Swap in new settings (config hot reload) keeping every account's state; each rule may react
    to its own new configuration (``Rule.on_reload``: e.g. a symbol taken off the blocked list).
    Accounts no longer configured (removed or disabled) are forgotten; the store keeps their
    records, and the daemon restores them if they come back."""
    out: list[Action] = []
    settings = list(settings)
    keep = {s.account_id for s in settings}
    for account_id in [a for a in state.accounts if a not in keep]:
        del state.accounts[account_id]
        for holders in state.holders.values():
            holders.discard(account_id)
    for s in settings:
        acct = state.accounts.get(s.account_id)
        if acct is None:
            state.accounts[s.account_id] = AccountState(settings=s)
            continue
        acct.settings = s
        acct.bands.clear()
        ctx = RuleContext(state, acct, now)
        out += merge_actions(run_rules(ctx, RULES, "on_reload", disabled_too=True))
    state.contract_bands.clear()
    return out


# ----- reconciliation and restore (daemon start-up, reconnects) ---------------------------------
def apply_only(state: EngineState, name: str, data: Any, now: datetime) -> None:
    """Update state from an event without running the gate or the rules (history, restore)."""
    state.now = now
    if name == events.QUOTE:
        _apply_quote(state, data, now)
    elif name == events.CONTRACT:
        info = events.parse_contract(data)
        state.contracts[info.contract_id] = info
    elif name == events.POSITION:
        upd = events.parse_position(data)
        acct = state.accounts.get(upd.account_id)
        if acct is not None:
            _housekeeping(state, acct, now)
            _apply_position(state, acct, upd, now)
    elif name == events.ORDER:
        order = events.parse_order(data)
        acct = state.accounts.get(order.account_id)
        if acct is not None:
            _apply_order(acct, order)
    elif name == events.TRADE:
        trade = events.parse_trade(data)
        acct = state.accounts.get(trade.account_id)
        if acct is not None:
            _housekeeping(state, acct, now)
            _apply_trade(acct, trade, now)
    elif name == events.ACCOUNT:
        upd_a = events.parse_account(data)
        acct = state.accounts.get(upd_a.account_id)
        if acct is not None:
            acct.can_trade = True if upd_a.can_trade is None else upd_a.can_trade
            acct.name = upd_a.name or acct.name
            _apply_balance(acct, upd_a.balance, now)


def reconcile_account(
    state: EngineState,
    account_id: int,
    now: datetime,
    *,
    account: Mapping[str, Any] | None = None,
    positions: Iterable[Mapping[str, Any]] = (),
    orders: Iterable[Mapping[str, Any]] = (),
    trades: Iterable[Mapping[str, Any]] = (),
    replay_follows: bool = False,
) -> list[Action]:
    """Replace an account's positions and working orders with the broker's snapshot, book today's
    trades (idempotently), then evaluate every rule at once: breaches that happened while we were
    not watching are enforced now.

    Everything is parsed before anything is applied, so a malformed snapshot changes nothing. The
    snapshot is the baseline of which fills are in the balance (``settling.py``); ``replay_follows``:
    hub events buffered while it was read come next, until ``replay_done``.
    """
    acct = state.accounts.get(account_id)
    if acct is None:
        return []
    parsed_account = events.parse_account(account) if account is not None else None
    parsed_positions = [events.parse_position(p) for p in positions]
    parsed_orders = [events.parse_order(o) for o in orders]
    parsed_trades = [events.parse_trade(t) for t in trades]
    state.now = now
    out = _housekeeping(state, acct, now)
    previous_can_trade = acct.can_trade
    if parsed_account is not None:
        acct.can_trade = True if parsed_account.can_trade is None else parsed_account.can_trade
        acct.name = parsed_account.name or acct.name
        acct.balance = parsed_account.balance if parsed_account.balance is not None else acct.balance
    live = {p.contract_id for p in parsed_positions if p.size > 0}
    for cid in [c for c in acct.positions if c not in live]:
        _apply_position(state, acct, events.PositionUpdate(None, account_id, cid, 0, 0, Decimal(0), None), now)
    for upd in parsed_positions:
        _apply_position(state, acct, upd, now)
    working = {o.order_id for o in parsed_orders if o.working}
    for order_id in [o for o in acct.orders if o not in working]:
        acct.orders.pop(order_id, None)
    for order in parsed_orders:
        _apply_order(acct, order)
    ctx = RuleContext(state, acct, now)
    # Fills not seen live: each judged at its own moment, as live (catch_up.py).
    counted, replayed = catch_up.replay(
        acct,
        parsed_trades,
        now,
        lambda t: _apply_trade(acct, t, now),
        lambda t: run_rules(ctx, RULES, "on_trade", t, True),
    )
    out += replayed
    settling.restart(acct)
    if parsed_account is not None:
        hard = acct.lockouts.has_hard()
        out += run_rules(ctx, RULES, "on_account", parsed_account, previous_can_trade, locked_only=hard)
    out += _evaluate_all(ctx, [], [] if counted else parsed_trades)
    acct.settling.replaying = replay_follows
    return _finish(state, acct, ctx, out)


def replay_done(state: EngineState, account_id: int) -> None:
    """The hub events buffered during a reconcile have all been applied again: the account's state
    is the broker's latest as far as we know, the baseline for what follows."""
    acct = state.accounts.get(account_id)
    if acct is not None:
        settling.restart(acct)


def _evaluate_all(ctx: RuleContext, counted: list[events.TradeUpdate], trades: list[events.TradeUpdate]) -> list[Action]:
    """Every rule over the account's current state, as if each position and order had just arrived."""
    acct = ctx.account
    out: list[Action] = []
    for cid in list(acct.positions):
        gated, run = gate_position(ctx, cid, None, True)
        out += gated
        if run:
            out += run_rules(ctx, RULES, "on_position", cid, None, True)
    for order in list(acct.orders.values()):
        gated, run = gate_order(ctx, order)
        out += gated
        if run:
            out += run_rules(ctx, RULES, "on_order", order)
    # Fills we had not seen: each one as it would have been judged (cooldowns run from the fill's
    # time, so expired ones are skipped); otherwise one check of today's realized P&L.
    for trade in sorted(counted, key=lambda t: t.created or ctx.now):
        if acct.lockouts.has_hard():
            break
        out += run_rules(ctx, RULES, "on_trade", trade, True)
    if not counted and trades and not acct.lockouts.has_hard():
        out += run_rules(ctx, RULES, "on_trade", trades[-1], False)
    return out


def evaluate_account(state: EngineState, account_id: int, now: datetime) -> list[Action]:
    """Run every rule over an account's current state (after a config reload or a mode change)."""
    acct = state.accounts.get(account_id)
    if acct is None:
        return []
    state.now = now
    out = _housekeeping(state, acct, now)
    ctx = RuleContext(state, acct, now)
    trades = sorted(acct.trades.values(), key=lambda t: t.created or now)
    out += _evaluate_all(ctx, [], trades)
    return _finish(state, acct, ctx, out)


def restore_account(
    state: EngineState,
    account_id: int,
    *,
    last_reset: datetime | None,
    lockouts: Iterable[Any] = (),
) -> None:
    """Put persisted day state and lockouts back (daemon start); a missed reset runs at the next event."""
    acct = state.accounts.get(account_id)
    if acct is None:
        return
    acct.last_reset = last_reset
    acct.next_reset = None  # recomputed (and a missed reset caught up) by the next housekeeping
    for record in lockouts:
        acct.lockouts.add(record)
        seq = record.id[1:] if isinstance(record.id, str) and record.id.startswith("L") else ""
        if seq.isdigit():
            state.lockout_seq = max(state.lockout_seq, int(seq))


def admin_unlock(
    state: EngineState, account_id: int, lockout_id: str, now: datetime, reason: str, actor: str | None = None
) -> Action | None:
    """Remove one lockout record on an admin's request (the daemon audits it)."""
    acct = state.accounts.get(account_id)
    if acct is None:
        return None
    for record in acct.lockouts:
        if record.id == lockout_id:
            acct.lockouts.remove_record(record)
            invalidate(state, acct)
            return RuleContext(state, acct, now).unlock(ADMIN, record, reason, ClearedBy.ADMIN, actor=actor)
    return None
