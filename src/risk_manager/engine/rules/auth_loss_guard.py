"""RULE-010: mirror the broker's ``canTrade``; a lost permission flattens and locks the account."""

from __future__ import annotations

from risk_manager.engine.actions import Action, ActionKind
from risk_manager.engine.context import RuleContext
from risk_manager.engine.events import AccountUpdate
from risk_manager.engine.lockouts import ClearedBy, LockoutKind, LockoutScope
from risk_manager.engine.rules.base import Rule


class AuthLossGuard(Rule):
    rule_id = "RULE-010"
    config_key = "auth_loss_guard"
    runs_while_locked = True

    def on_account(self, ctx: RuleContext, update: AccountUpdate, previous: bool | None) -> list[Action]:
        out: list[Action] = []
        can_trade = update.can_trade
        if can_trade is None:
            out.append(ctx.act(self.rule_id, ActionKind.WARN, "account event without canTrade: treated as true"))
            can_trade = True
        existing = ctx.account.lockouts.get(self.rule_id, LockoutScope.ACCOUNT)
        if not can_trade:
            if previous is False and existing is not None:
                return out  # already handled; nothing new
            reason = "broker reports canTrade=false"
            return out + ctx.flatten(self.rule_id, reason) + ctx.lock(self.rule_id, LockoutKind.INDEFINITE, None, reason)
        if existing is not None and ctx.rules.auth_loss_guard.auto_unlock_on_restore:
            ctx.account.lockouts.remove_record(existing)
            out.append(
                ctx.unlock(self.rule_id, existing, "broker reports canTrade=true again", ClearedBy.CONDITION)
            )
        return out

    def condition_holds(self, ctx: RuleContext) -> bool:
        return ctx.account.can_trade is False
