"""The rule plugin interface: each rule reacts to the triggers it cares about and ignores the rest."""

from __future__ import annotations

from datetime import datetime

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.events import AccountUpdate, OrderUpdate, TradeUpdate
from risk_manager.engine.quiet import QuietBand
from risk_manager.engine.state import PositionState


class Rule:
    """Base class; ``config_key`` names the rule's block in risk_config.yaml."""

    rule_id = "RULE-000"
    config_key = ""
    #: evaluated even while the account is hard-locked (only RULE-010)
    runs_while_locked = False
    #: reacts to quotes (unrealized P&L and trade management)
    price_driven = False

    def config(self, ctx: RuleContext) -> object:
        return getattr(ctx.rules, self.config_key)

    def enabled(self, ctx: RuleContext) -> bool:
        return bool(getattr(self.config(ctx), "enabled", False))

    def on_account(self, ctx: RuleContext, update: AccountUpdate, previous: bool | None) -> list[Action]:
        return []

    def on_position(
        self, ctx: RuleContext, contract_id: str, previous: PositionState | None, grew: bool
    ) -> list[Action]:
        return []

    def on_order(self, ctx: RuleContext, update: OrderUpdate) -> list[Action]:
        return []

    def on_trade(self, ctx: RuleContext, trade: TradeUpdate, counted: bool) -> list[Action]:
        return []

    def on_quote(self, ctx: RuleContext, contract_id: str) -> list[Action]:
        return []

    def on_tick(self, ctx: RuleContext) -> list[Action]:
        return []

    def on_reload(self, ctx: RuleContext) -> list[Action]:
        return []

    def on_reset(self, ctx: RuleContext, ended: datetime, started: datetime) -> list[Action]:
        """The daily reset at ``started`` ends the trading day that began at ``ended``; called for
        every rule, enabled or not (period bookkeeping such as RULE-014's week must not depend on the
        rule being on), before the day's P&L, trades and warnings are cleared."""
        return []

    def quiet_band(self, ctx: RuleContext, band: QuietBand) -> None:
        """For price-driven rules: the prices at which a quote cannot change this rule's decision
        (``quiet.py``). The default, every quote matters, is always correct; a narrower band only
        saves work."""
        for item in band.priced:
            band.always_evaluate(item)

    def condition_holds(self, ctx: RuleContext) -> bool:
        """Whether the cause of this rule's lockout is still present, so that the rule would lock the
        account again at its next event (an administrator who unlocks is told so)."""
        return False

    def next_deadline(self, ctx: RuleContext) -> datetime | None:
        """The next instant at which ``on_tick`` could decide something (None: never on its own)."""
        return None
