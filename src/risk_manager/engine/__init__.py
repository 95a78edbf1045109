"""The rule engine: pure, synchronous, deterministic. Broker events in, enforcement actions out.

``Engine`` is the small public face; ``core.evaluate(state, name, data, now)`` and
``core.tick(state, now)`` are the functional form the spec describes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from risk_manager.engine import core, rule_state
from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.drawdown import drawdown_view
from risk_manager.engine.events import MalformedEvent
from risk_manager.engine.isolation import guarded
from risk_manager.engine.lockouts import Lockout
from risk_manager.engine.periods import due_settings
from risk_manager.engine.rulebook import RULES_BY_ID
from risk_manager.engine.setup import account_settings
from risk_manager.engine.state import AccountSettings, AccountState, EngineState

__all__ = ["Action", "Engine", "EngineState", "Lockout", "MalformedEvent", "evaluate", "tick"]

evaluate = core.evaluate
tick = core.tick


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("the engine clock must be timezone-aware (UTC)")


class Engine:
    """Holds one ``EngineState`` and exposes the operations the daemon and replay need."""

    def __init__(self, settings: Iterable[AccountSettings], state: EngineState | None = None) -> None:
        self.state = state if state is not None else core.new_state(settings)

    @classmethod
    def from_config(cls, app_config: Any) -> Engine:
        return cls(account_settings(app_config))

    # ----- driving --------------------------------------------------------------------------------
    def evaluate(self, event: str, data: Any, now: datetime) -> list[Action]:
        """Apply one broker event; raises ``MalformedEvent`` (state untouched) when it is unusable."""
        _require_aware(now)
        return core.evaluate(self.state, event, data, now)

    def tick(self, now: datetime) -> list[Action]:
        _require_aware(now)
        return core.tick(self.state, now)

    def next_deadline(self) -> datetime | None:
        return core.next_deadline(self.state)

    # ----- daemon: restore, reconcile, admin -------------------------------------------------------
    def apply_only(self, event: str, data: Any, now: datetime) -> None:
        """Update state without deciding anything (loading history)."""
        _require_aware(now)
        core.apply_only(self.state, event, data, now)

    def reconcile_account(self, account_id: int, now: datetime, **snapshot: Any) -> list[Action]:
        """Adopt the broker's REST snapshot of an account and evaluate every rule at once."""
        _require_aware(now)
        return core.reconcile_account(self.state, account_id, now, **snapshot)

    def replay_done(self, account_id: int) -> None:
        """The hub events buffered while ``reconcile_account(..., replay_follows=True)`` read the
        broker have been applied again (the daemon says so after the last of them)."""
        core.replay_done(self.state, account_id)

    def evaluate_account(self, account_id: int, now: datetime) -> list[Action]:
        """Every rule over the account's current state (config reload, observe-only switched off)."""
        _require_aware(now)
        return core.evaluate_account(self.state, account_id, now)

    def reload(self, app_config: Any, now: datetime, *, observe_only: bool = False) -> list[Action]:
        """Swap in a new configuration keeping all state; then every account is evaluated at once."""
        settings = account_settings(app_config)
        if observe_only:
            for s in settings:
                s.observe_only = True
                if s.scheduled is not None:
                    s.scheduled.observe_only = True
        # Settings scheduled for a trading day that has already begun are in force at once.
        settings = [due_settings(s, now) for s in settings]
        out = core.reload(self.state, settings, now)
        for account_id in self.account_ids():
            out += core.evaluate_account(self.state, account_id, now)
        return out

    def restore_account(
        self, account_id: int, *, last_reset: datetime | None, lockouts: Iterable[Lockout] = ()
    ) -> None:
        core.restore_account(self.state, account_id, last_reset=last_reset, lockouts=lockouts)

    def rule_state(self, account_id: int, now: datetime) -> dict[str, dict[str, Any]]:
        """What RULE-013 and RULE-015 remember (JSON-ready), for the daemon to persist."""
        return rule_state.export(self.state.accounts[account_id], now)

    def restore_rule_state(
        self,
        account_id: int,
        stored: Mapping[str, Any],
        day_pnl: Mapping[date, Decimal],
        now: datetime,
    ) -> list[str]:
        """Put persisted rule memory back (after ``restore_account``); RULE-014's week is rebuilt from
        the stored realized P&L per trading day. Returns what could not be read."""
        acct = self.state.accounts.get(account_id)
        if acct is None:
            return []
        return rule_state.restore(acct, stored, day_pnl, now)

    def drawdown(self, account_id: int, now: datetime) -> dict[str, Any] | None:
        """RULE-013 for the dashboards: floor, buffer, net balance and the distance to the breach."""
        acct = self.state.accounts.get(account_id)
        if acct is None:
            return None
        return drawdown_view(RuleContext(self.state, acct, now))

    def admin_unlock(
        self, account_id: int, lockout_id: str, now: datetime, reason: str, actor: str | None = None
    ) -> Action | None:
        return core.admin_unlock(self.state, account_id, lockout_id, now, reason, actor)

    def condition_holds(self, account_id: int, rule_id: str, now: datetime) -> bool:
        """Whether ``rule_id`` would lock the account again at its next event (see ``Rule``)."""
        rule = RULES_BY_ID.get(rule_id)
        acct = self.state.accounts.get(account_id)
        if rule is None or acct is None:
            return False
        ctx = RuleContext(self.state, acct, now)
        return guarded(ctx, rule, "condition_holds", partial(rule.condition_holds, ctx), False)

    # ----- queries --------------------------------------------------------------------------------
    def account(self, account_id: int) -> AccountState:
        return self.state.accounts[account_id]

    def account_ids(self) -> list[int]:
        return sorted(self.state.accounts)

    def lockouts(self, account_id: int) -> list[Lockout]:
        return self.state.accounts[account_id].lockouts.active()

    def realized_pnl(self, account_id: int) -> Decimal:
        return self.state.accounts[account_id].realized

    def unrealized_pnl(self, account_id: int) -> Decimal:
        acct = self.state.accounts[account_id]
        now = self.state.now or datetime.now().astimezone()
        return RuleContext(self.state, acct, now).total_unrealized()

    def knows_contract(self, contract_id: str) -> bool:
        return contract_id in self.state.contracts

    def contracts_in_use(self, account_id: int) -> set[str]:
        """Contracts the account holds or works an order in (their quotes matter)."""
        acct = self.state.accounts.get(account_id)
        if acct is None:
            return set()
        return set(acct.positions) | {o.contract_id for o in acct.orders.values()}

    def position_sizes(self, account_id: int) -> dict[str, int]:
        acct = self.state.accounts.get(account_id)
        return {} if acct is None else {cid: pos.size for cid, pos in acct.positions.items()}

    def rule_errors(self) -> int:
        """Rule failures on every account since start (each rule runs isolated; ``isolation.py``)."""
        return self.state.rule_errors

    def last_reset(self, account_id: int) -> datetime | None:
        return self.state.accounts[account_id].last_reset
