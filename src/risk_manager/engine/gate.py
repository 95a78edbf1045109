"""The lockout gate (spec/rules.md §3): what a locked account may still do.

Runs after an event has been applied and before the rules. Hard lockouts close every new or larger
position and cancel every working order; symbol lockouts do that for their symbol only; a reduce-only
rung (the action ladder, docs/rules-extra.md) closes any position that grew and cancels every order
that is not protective; cooldowns only stop new exposure beyond what was held. Trader exits (smaller
positions, protective orders) are never blocked.
"""

from __future__ import annotations

from risk_manager.engine.actions import Action, ActionKind
from risk_manager.engine.context import RuleContext
from risk_manager.engine.events import OrderUpdate
from risk_manager.engine.lockouts import Lockout
from risk_manager.engine.state import PositionState
from risk_manager.engine.stops import is_protective

GATE = "LOCKOUT"


def _describe(lock: Lockout) -> str:
    until = lock.until.isoformat().replace("+00:00", "Z") if lock.until else "lifted"
    what = f"{lock.symbol} " if lock.symbol else ""
    return f"{what}lockout {lock.kind} by {lock.rule} in force (until {until})"


def _symbol_lock(ctx: RuleContext, contract_id: str) -> Lockout | None:
    for lock in ctx.account.lockouts.symbol_locks():
        if lock.symbol is not None and ctx.matches(lock.symbol, contract_id):
            return lock
    return None


def _shrink_baselines(cooldowns: list[Lockout], contract_id: str, pos: PositionState | None) -> None:
    """A cooldown (or a reduce-only rung) allows what was held when it began, never more than what
    is held since.

    The broker reports a closing fill before the position update, so a cooldown set on that fill
    sees the old size; exposure given up afterwards must not be re-openable during the cooldown.
    """
    for cooldown in cooldowns:
        held = cooldown.baseline.get(contract_id, 0)
        if held == 0:
            continue
        now = 0 if pos is None else pos.signed
        if now == 0 or (now > 0) != (held > 0):
            cooldown.baseline.pop(contract_id, None)
        elif abs(now) < abs(held):
            cooldown.baseline[contract_id] = now


def gate_position(
    ctx: RuleContext, contract_id: str, previous: PositionState | None, grew: bool
) -> tuple[list[Action], bool]:
    """(gate actions, whether the rules still run for this event)."""
    book = ctx.account.lockouts
    hard = book.hard()
    pos = ctx.account.positions.get(contract_id)
    rung = book.reduce_only()
    _shrink_baselines([*book.cooldowns(), *([rung] if rung is not None else [])], contract_id, pos)
    if hard is not None:
        if pos is not None and grew:
            reason = f"new exposure in {contract_id} while {_describe(hard)}"
            return [ctx.close_position(GATE, contract_id, reason)], False
        return [], False
    if pos is None or not grew:
        return [], True
    lock = _symbol_lock(ctx, contract_id)
    if lock is not None:
        return [
            ctx.close_position(GATE, contract_id, f"position in {contract_id} while {_describe(lock)}")
        ], False
    if rung is not None:
        # Reduce-only: a position beyond what was held when the rung was reached (a new contract, a
        # flip, more contracts) is flattened; what was held may only shrink. The other rules still run.
        held = rung.baseline.get(contract_id, 0)
        if held == 0 or (held > 0) != (pos.signed > 0) or abs(pos.signed) > abs(held):
            reason = f"new exposure in {contract_id} while {_describe(rung)}"
            return [ctx.close_position(GATE, contract_id, reason)], True
    out: list[Action] = []
    for cooldown in book.cooldowns():
        held = cooldown.baseline.get(contract_id, 0)
        reason = f"new exposure in {contract_id} during {_describe(cooldown)}"
        if held == 0 or (held > 0) != (pos.signed > 0):
            out.append(ctx.close_position(GATE, contract_id, reason))
        elif abs(pos.signed) > abs(held):
            increase = abs(pos.signed) - abs(held)
            out.append(
                ctx.act(
                    GATE,
                    ActionKind.REDUCE_POSITION,
                    f"{reason}: +{increase} over the {abs(held)} held",
                    contract_id=contract_id,
                    size=increase,
                )
            )
    return out, True


def gate_order(ctx: RuleContext, update: OrderUpdate) -> tuple[list[Action], bool]:
    if not update.cancellable:
        return [], ctx.account.lockouts.hard() is None
    book = ctx.account.lockouts
    hard = book.hard()

    def cancel(reason: str) -> Action:
        return ctx.act(GATE, ActionKind.CANCEL_ORDER, reason, order_id=update.order_id, contract_id=update.contract_id)

    if hard is not None:
        return [cancel(f"working order {update.order_id} while {_describe(hard)}")], False
    lock = _symbol_lock(ctx, update.contract_id)
    if lock is not None:
        return [
            cancel(f"working order {update.order_id} in {update.contract_id} while {_describe(lock)}")
        ], False
    soft = book.reduce_only() or next(iter(book.cooldowns()), None)
    if soft is not None and not is_protective(ctx.account.positions.get(update.contract_id), update):
        return [cancel(f"order {update.order_id} would add exposure during {_describe(soft)}")], True
    return [], True
