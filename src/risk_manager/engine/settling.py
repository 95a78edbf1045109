"""Whether an account's balance and positions are of one moment, so that balance + unrealized P&L is
a net balance that really existed. RULE-013 takes its high-water mark only from such a figure.

Why: one fill reaches us as three events (the trade, the position, the account's balance) and the
broker orders nothing across event types (spec/gateway.md §4.4); quotes come on another hub. In
between, the engine holds mixtures: a balance that already holds a closing fill's P&L beside the
position that fill closed (the P&L counted twice), a closed position beside a balance that does not
hold its loss yet, a new position priced with a quote from before it was bought, or, after a
reconcile, hub events older than the REST snapshot they are replayed over. Each looks like a new
high, and a false high raises the floor by money the trader never had: an early lockout.

The bookkeeping pairs the events of each fill:

- per contract, trades whose position event has not arrived (the balance may already hold them while
  the position does not), and position events that came before their trade (which then completes them);
- a fill that moves the balance (a trade with P&L or charges, a position event that reduces, closes or
  flips) expects a balance change; a balance change nobody expects is *ahead* of its fill, and the next
  fill that expects one takes it. Held positions beside a balance ahead are not of its moment;
- a position remembers the quote count at its last fill: only a quote received after it prices it.

Each open item lapses ``FILL_SETTLE`` after it began, so a lost event holds the high back for 5 s at
most (the 60 s sweep repairs the state itself). In the broker's usual order (trade, position, order,
account) nothing stays open once a fill's events are in: no timer is needed. Breaches never wait.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from risk_manager.engine.events import TradeUpdate
from risk_manager.engine.state import AccountState, EngineState, FillLead, PositionState, Settling

#: how long the events of one fill may take to arrive together; an open item lapses after that
FILL_SETTLE = timedelta(seconds=5)


def moves_balance(trade: TradeUpdate) -> bool:
    """Whether the broker's balance changes with this fill (its P&L less every charge)."""
    return (trade.pnl or 0) - trade.charges != 0


def _lead(s: Settling, contract_id: str, now: datetime) -> FillLead | None:
    lead = s.leads.get(contract_id)
    if lead is not None and now >= lead.until:
        del s.leads[contract_id]
        return None
    return lead


def _expect_balance(s: Settling, now: datetime) -> None:
    """A fill that moves the balance: a balance change already ahead is its own; else one is due."""
    if s.balance_ahead is not None and now < s.balance_ahead:
        s.balance_ahead = None
        return
    s.balance_ahead = None
    s.balance_due = now + FILL_SETTLE


def on_trade(acct: AccountState, trade: TradeUpdate, now: datetime) -> None:
    """A fill counted for the first time."""
    s = acct.settling
    cid = trade.contract_id
    lead = _lead(s, cid, now)
    if lead is not None and lead.lead < 0:  # its position event came first
        lead.lead += 1
        expect = moves_balance(trade) and not lead.asked
        if lead.lead == 0:
            del s.leads[cid]
    else:
        if lead is None:
            lead = s.leads[cid] = FillLead(0, False, now)
        lead.lead += 1
        lead.until = now + FILL_SETTLE
        expect = moves_balance(trade)
    if expect:
        _expect_balance(s, now)


def on_void(acct: AccountState, trade: TradeUpdate, now: datetime) -> None:
    """A counted fill voided: the broker backs its P&L and charges out of the balance."""
    if moves_balance(trade):
        _expect_balance(acct.settling, now)


def on_position(acct: AccountState, contract_id: str, reduced: bool, now: datetime) -> None:
    """A position's size or side changed (a fill); ``reduced``: it got smaller, closed or flipped."""
    s = acct.settling
    lead = _lead(s, contract_id, now)
    if lead is not None and lead.lead > 0:  # its trade came first and expected what it moves
        lead.lead -= 1
        if lead.lead == 0:
            del s.leads[contract_id]
        return
    if lead is None:
        lead = s.leads[contract_id] = FillLead(0, False, now)
    lead.lead -= 1
    lead.until = now + FILL_SETTLE
    if reduced:  # a closing fill: its P&L is on its way to the balance
        lead.asked = True
        _expect_balance(s, now)


def on_balance(acct: AccountState, now: datetime) -> None:
    """The broker's balance changed."""
    s = acct.settling
    if s.balance_due is not None and now < s.balance_due:
        s.balance_due = None
        return
    s.balance_due = None
    s.balance_ahead = now + FILL_SETTLE


def restart(acct: AccountState, *, replaying: bool = False) -> None:
    """A REST snapshot was adopted: it is the baseline. ``replaying``: the hub events buffered while
    it was read follow (older than the snapshot, in part); they are not of one moment with it."""
    acct.settling = Settling(replaying=replaying)


def priced(state: EngineState, pos: PositionState, now: datetime) -> bool:
    """A quote received after the position's last fill prices it (or that fill is 5 s old)."""
    if pos.filled_at is None:
        return True
    quote = state.quotes.get(pos.contract_id)
    if quote is not None and quote.seq > pos.fill_quote_seq:
        return True
    return now >= pos.filled_at + FILL_SETTLE


def settled(state: EngineState, acct: AccountState, now: datetime) -> bool:
    """Balance + unrealized P&L is a net balance of one moment (lapsed items are dropped here)."""
    s = acct.settling
    if s.replaying:
        return False
    if s.balance_due is not None:
        if now < s.balance_due:
            return False
        s.balance_due = None
    if s.balance_ahead is not None:
        if now >= s.balance_ahead:
            s.balance_ahead = None
        elif acct.positions:
            return False
    for cid in list(s.leads):
        lead = _lead(s, cid, now)
        if lead is not None and lead.lead > 0:
            return False
    return all(priced(state, pos, now) for pos in acct.positions.values())
