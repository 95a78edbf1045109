"""Enforcement actions: what the engine decides, and how decisions of several rules are merged."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from risk_manager.engine.lockouts import ClearedBy, Lockout
from risk_manager.engine.timefmt import iso


class ActionKind(StrEnum):
    """What an action asks for. The order is the order in which merged actions are carried out."""

    CLOSE_ALL = "close_all"
    CLOSE_POSITION = "close_position"
    REDUCE_POSITION = "reduce_position"
    CANCEL_ALL = "cancel_all"
    CANCEL_ORDER = "cancel_order"
    PLACE_STOP = "place_stop"
    MODIFY_STOP = "modify_stop"
    LOCKOUT = "lockout"
    UNLOCK = "unlock"
    WARN = "warn"


_ORDER = {kind: i for i, kind in enumerate(ActionKind)}
#: Actions that take exposure away; everything a locked account may receive.
ENFORCEMENT_KINDS = frozenset(
    {
        ActionKind.CLOSE_ALL,
        ActionKind.CLOSE_POSITION,
        ActionKind.REDUCE_POSITION,
        ActionKind.CANCEL_ALL,
        ActionKind.CANCEL_ORDER,
    }
)
#: Actions carried out at the broker (the executor's work); the rest are bookkeeping.
BROKER_KINDS = ENFORCEMENT_KINDS | {ActionKind.PLACE_STOP, ActionKind.MODIFY_STOP}


@dataclass(slots=True)
class Action:
    """One decision. ``rule`` is the deciding rule (RULE-00n), LOCKOUT (the gate), RESET (the daily
    reset) or ADMIN (an administrator's unlock)."""

    account_id: int
    rule: str
    kind: ActionKind
    reason: str
    at: datetime
    contract_id: str | None = None
    order_id: int | None = None
    size: int | None = None
    side: int | None = None
    stop_price: Decimal | None = None
    stop_price_text: str | None = None
    lockout: Lockout | None = None
    observe_only: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: for ``unlock``: why the lockout ended, and who ended it (an admin's OS user)
    cleared_by: ClearedBy | None = None
    actor: str | None = None

    def key(self) -> tuple[Any, ...]:
        """Identity for de-duplication: same account, rule, action and target."""
        lock = self.lockout
        lock_key = (lock.scope, lock.symbol, lock.kind, lock.until) if lock is not None else None
        target = self.contract_id if self.order_id is None else self.order_id
        reason = self.reason if self.kind == ActionKind.WARN else None
        return (self.account_id, self.rule, self.kind, target, lock_key, reason)

    def to_dict(self) -> dict[str, Any]:
        """The replay / log shape (keys camelCase like the broker's)."""
        out: dict[str, Any] = {
            "at": iso(self.at),
            "accountId": self.account_id,
            "rule": self.rule,
            "action": str(self.kind),
        }
        if self.contract_id is not None:
            out["contractId"] = self.contract_id
        if self.order_id is not None:
            out["orderId"] = self.order_id
        if self.size is not None:
            out["size"] = self.size
        if self.side is not None:
            out["side"] = self.side
        if self.stop_price is not None:
            out["stopPrice"] = self.stop_price_text or str(self.stop_price)
        if self.lockout is not None:
            out["lockout"] = self.lockout.to_dict()
        out["reason"] = self.reason
        if self.observe_only:
            out["observe_only"] = True
        return out


def merge_actions(actions: list[Action]) -> list[Action]:
    """Combine the decisions of every rule for one event (no first-breach-wins).

    ``close_all`` subsumes per-contract closes and reductions of the same account, ``cancel_all``
    subsumes single cancels, a close subsumes a reduction of the same contract, two reductions keep the
    larger, stops for a contract being closed are dropped, identical actions collapse, and every
    lockout is kept.
    """
    if len(actions) <= 1:
        return actions
    close_all: set[int] = set()
    cancel_all: set[int] = set()
    closed: set[tuple[int, str | None]] = set()
    biggest_reduce: dict[tuple[int, str | None], Action] = {}
    for a in actions:
        if a.kind == ActionKind.CLOSE_ALL:
            close_all.add(a.account_id)
        elif a.kind == ActionKind.CANCEL_ALL:
            cancel_all.add(a.account_id)
        elif a.kind == ActionKind.CLOSE_POSITION:
            closed.add((a.account_id, a.contract_id))
        elif a.kind == ActionKind.REDUCE_POSITION:
            k = (a.account_id, a.contract_id)
            best = biggest_reduce.get(k)
            if best is None or (a.size or 0) > (best.size or 0):
                biggest_reduce[k] = a
    out: list[Action] = []
    seen: set[tuple[Any, ...]] = set()
    seen_targets: set[tuple[Any, ...]] = set()
    for a in actions:
        kind = a.kind
        acct = a.account_id
        if kind in (ActionKind.CLOSE_POSITION, ActionKind.REDUCE_POSITION, ActionKind.PLACE_STOP, ActionKind.MODIFY_STOP) and acct in close_all:
            continue
        if kind == ActionKind.CANCEL_ORDER and acct in cancel_all:
            continue
        if kind in (ActionKind.REDUCE_POSITION, ActionKind.PLACE_STOP, ActionKind.MODIFY_STOP) and (acct, a.contract_id) in closed:
            continue
        if kind == ActionKind.REDUCE_POSITION and biggest_reduce.get((acct, a.contract_id)) is not a:
            continue
        if kind in (ActionKind.CLOSE_ALL, ActionKind.CANCEL_ALL, ActionKind.CLOSE_POSITION, ActionKind.CANCEL_ORDER, ActionKind.REDUCE_POSITION):
            # One broker call per target whichever rule asked; the first rule's reason is kept.
            target = (acct, kind, a.contract_id, a.order_id)
            if target in seen_targets:
                continue
            seen_targets.add(target)
        key = a.key()
        if key in seen:
            continue
        seen.add(key)
        out.append(a)
    out.sort(key=lambda a: _ORDER[a.kind])
    return out
