"""Do the daemon's database, its local-API snapshot and the broker (the simulator) agree?

Used after restarts and reconnects (issue 8, section 3): to the cent on realized P&L, trade for trade
on the ``trades`` table, every daily-loss lockout the broker's own list of fills makes owed in
force with the reason the live daemon would have given, no position left where a lockout or a limit
forbids one, and no enforcement record left unfinished or falsely failed. ``problems`` lists what
disagrees (empty when all agree); ``settle`` waits for that with a deadline.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from risk_manager.daemon.enforcement.work import WorkState
from risk_manager.engine.money import fmt_money

from .harness import ApiClient, Simulator

CENT = Decimal("0.01")
UNFINISHED = tuple(str(s) for s in WorkState.unfinished())


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def broker_trades(sim: Simulator, account: int) -> list[dict[str, Any]]:
    trades = [t for t in sim.state(account)["trades"] if t["accountId"] == account]
    return sorted(trades, key=lambda t: (t["creationTimestamp"], t["id"]))


def broker_realized(trades: list[dict[str, Any]]) -> Decimal:
    return sum(
        (_dec(t["profitAndLoss"]) for t in trades if not t["voided"] and t["profitAndLoss"] is not None),
        Decimal(0),
    )


def owed_reason(trades: list[dict[str, Any]], limit: Decimal) -> str | None:
    """The reason of the RULE-003 lockout the fills make owed (the first crossing), or None."""
    running = Decimal(0)
    for t in trades:
        if t["voided"] or t["profitAndLoss"] is None:
            continue
        running += _dec(t["profitAndLoss"])
        if running < -limit:
            return f"realized {fmt_money(running)} < -{fmt_money(limit)}"
    return None


def _signed(position: dict[str, Any]) -> int:
    """A wire position's size with its direction (``type`` 1 long, 2 short): sizes are unsigned."""
    return int(position["size"]) * (-1 if position.get("type") == 2 else 1)


def _db(root: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{root / 'data' / 'risk.db'}?mode=ro", uri=True, timeout=5)
    db.row_factory = sqlite3.Row
    return db


async def problems(
    root: Path, sim: Simulator, api_url: str, accounts: list[int], *, loss_limit: Decimal, max_size: int
) -> list[str]:
    out: list[str] = []
    async with ApiClient(api_url) as api:
        snapshot = await api.snapshot()
        views = {a["accountId"]: a for a in snapshot.get("accounts") or []}
        history = {}
        for account in accounts:
            reply = await api.request("history.pnl", {"accountId": account})
            history[account] = reply["data"]["items"] if reply.get("ok") else reply
    db = _db(root)
    try:
        for account in accounts:
            trades = broker_trades(sim, account)
            realized = broker_realized(trades)
            positions = {
                p["contractId"]: _signed(p) for p in sim.state(account)["positions"] if p["accountId"] == account
            }
            view = views.get(account)
            if view is None:
                out.append(f"{account}: not in the snapshot")
                continue
            # signed on both sides (the snapshot's sizes are unsigned, with ``type``); a size-0 entry
            # left in the snapshot is a disagreement too
            held = {p["contractId"]: _signed(p) for p in view.get("positions") or []}
            if held != positions:
                out.append(f"{account}: snapshot positions {held} != broker {positions}")
            # realized P&L: broker = snapshot = daily_pnl = history.pnl, to the cent
            shown = _dec(view["pnl"]["realized"])
            if shown != realized.quantize(CENT):
                out.append(f"{account}: snapshot realized {shown} != broker {realized}")
            rows = db.execute("SELECT realized FROM daily_pnl WHERE account_id = ?", (account,)).fetchall()
            stored = sum((_dec(r["realized"]) for r in rows), Decimal(0))
            if trades and stored != realized:
                out.append(f"{account}: daily_pnl realized {stored} != broker {realized}")
            items = history[account]
            if not isinstance(items, list):
                out.append(f"{account}: history.pnl failed: {items}")
            elif trades and sum((_dec(i["realized"]) for i in items), Decimal(0)) != realized:
                out.append(f"{account}: history.pnl {[i['realized'] for i in items]} != broker {realized}")
            # every fill stored, exactly as the broker has it
            db_trades = {
                r["trade_id"]: (_dec(r["pnl"]) if r["pnl"] is not None else None, bool(r["voided"]))
                for r in db.execute(
                    "SELECT trade_id, pnl, voided FROM trades WHERE account_id = ?", (account,)
                )
            }
            want = {
                t["id"]: (
                    _dec(t["profitAndLoss"]) if t["profitAndLoss"] is not None else None,
                    bool(t["voided"]),
                )
                for t in trades
            }
            if db_trades != want:
                missing = sorted(set(want) - set(db_trades))
                extra = sorted(set(db_trades) - set(want))
                out.append(f"{account}: trades table differs (missing {missing}, extra {extra})")
            # the lockout owed is in force, with the live reason
            reason = owed_reason(trades, loss_limit)
            locks = [lk for lk in view.get("lockouts") or [] if lk.get("ruleId") == "RULE-003"]
            active = db.execute(
                "SELECT reason FROM lockouts WHERE account_id = ? AND rule_id = 'RULE-003' AND active = 1",
                (account,),
            ).fetchall()
            if reason is not None:
                if [lk["reason"] for lk in locks] != [reason]:
                    out.append(
                        f"{account}: RULE-003 lockout {[lk['reason'] for lk in locks]} != owed {reason!r}"
                    )
                if [r["reason"] for r in active] != [reason]:
                    out.append(
                        f"{account}: stored RULE-003 lockout {[r['reason'] for r in active]} != {reason!r}"
                    )
                if positions:
                    out.append(f"{account}: locked but holds {positions}")
            elif locks or active:
                out.append(f"{account}: RULE-003 lockout not owed: {[lk['reason'] for lk in locks]}")
            if abs(sum(positions.values())) > max_size:  # RULE-001's "net" count: long minus short
                out.append(f"{account}: {positions} (signed) over the net limit of {max_size}")
            # nothing unfinished, nothing failed
            states = [
                (r["id"], r["action"], r["state"])
                for r in db.execute(
                    "SELECT id, action, state FROM enforcement_log WHERE account_id = ?", (account,)
                )
            ]
            open_ = [s for s in states if s[2] in UNFINISHED or s[2] == "failed"]
            if open_:
                out.append(f"{account}: enforcement records not done: {open_}")
    finally:
        db.close()
    return out


async def settle(
    root: Path,
    sim: Simulator,
    api_url: str,
    accounts: list[int],
    *,
    loss_limit: Decimal,
    max_size: int,
    timeout: float = 20.0,
) -> float:
    """Wait until everything agrees; returns the seconds it took (raises with what still differs)."""
    started = time.monotonic()
    last: list[str] = []
    while time.monotonic() - started < timeout:
        last = await problems(root, sim, api_url, accounts, loss_limit=loss_limit, max_size=max_size)
        if not last:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"no agreement after {timeout:.0f} s:\n  " + "\n  ".join(last))
