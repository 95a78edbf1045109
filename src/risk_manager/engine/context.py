"""What a rule sees while it decides: one account's state plus shared market data and the clock.

Rules stay small because everything they have in common (prices, P&L, symbols, building actions,
setting lockouts, 80/90 % warnings) lives here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from risk_manager.engine.actions import BROKER_KINDS, Action, ActionKind
from risk_manager.engine.events import ContractInfo
from risk_manager.engine.lockouts import ClearedBy, Lockout, LockoutKind, LockoutScope
from risk_manager.engine.money import ZERO, fmt_money, fmt_price
from risk_manager.engine.state import AccountState, EngineState, PositionState
from risk_manager.engine.symbols import canonical_symbol, symbol_matches
from risk_manager.engine.trading_day import next_reset_after


class RuleContext:
    __slots__ = ("state", "account", "now", "rules", "settings")

    def __init__(self, state: EngineState, account: AccountState, now: datetime) -> None:
        self.state = state
        self.account = account
        self.now = now
        self.settings = account.settings
        self.rules: Any = account.settings.rules

    # ----- market data -------------------------------------------------------------------------
    def contract(self, contract_id: str) -> ContractInfo | None:
        return self.state.contracts.get(contract_id)

    def symbol(self, contract_id: str) -> str:
        info = self.state.contracts.get(contract_id)
        return canonical_symbol(contract_id, info.name if info else None)

    def matches(self, configured: str, contract_id: str) -> bool:
        info = self.state.contracts.get(contract_id)
        return symbol_matches(configured, contract_id, info.name if info else None)

    def price(self, contract_id: str) -> Decimal | None:
        quote = self.state.quotes.get(contract_id)
        return quote.price() if quote is not None else None

    def quote_stale(self, contract_id: str) -> bool:
        quote = self.state.quotes.get(contract_id)
        if quote is None or quote.received is None:
            return False
        return self.now - quote.received > timedelta(seconds=self.settings.max_quote_age_seconds)

    def unrealized(self, pos: PositionState) -> Decimal | None:
        """Unrealized P&L of one position; None when the contract or a price is unknown."""
        info = self.state.contracts.get(pos.contract_id)
        price = self.price(pos.contract_id)
        if info is None or price is None:
            return None
        return (price - pos.average_price) / info.tick_size * info.tick_value * pos.size * pos.direction

    def total_unrealized(self) -> Decimal:
        total = ZERO
        for pos in self.account.positions.values():
            value = self.unrealized(pos)
            if value is not None:
                total += value
        return total

    def price_note(self, contract_id: str) -> str:
        """Suffix for reasons: which price was used, flagged when stale."""
        price = self.price(contract_id)
        info = self.state.contracts.get(contract_id)
        note = f" at {fmt_price(price, info.tick_size if info else None)}" if price is not None else ""
        return note + (" (stale quote)" if self.quote_stale(contract_id) else "")

    # ----- actions --------------------------------------------------------------------------------
    def act(self, rule: str, kind: ActionKind, reason: str, **fields: Any) -> Action:
        if kind in BROKER_KINDS and "extra" not in fields:
            fields["extra"] = self.seen(rule)
        return Action(
            account_id=self.settings.account_id,
            rule=rule,
            kind=kind,
            reason=reason,
            at=self.now,
            observe_only=self.settings.observe_only,
            **fields,
        )

    def seen(self, rule: str) -> dict[str, Any]:
        """The numbers behind a broker action (``enforcement_log.seen``, the dispute report): the
        account's P&L and exposure when the rule decided, and the rule's own limit where it has one
        (signed as it compares: a loss limit is negative). Money is decimal text."""
        realized = self.account.realized
        out: dict[str, Any] = {
            "realized": fmt_money(realized),
            "openContracts": sum(abs(p.size) for p in self.account.positions.values()),
            "tradeCount": len(self.account.trades),
        }
        limit = rule_limit(self.rules, rule)
        if limit is not None:
            out["limit"], out["measure"] = limit
        if limit is None or limit[1] in PRICE_MEASURES:
            # Only where prices matter: between a closing fill and its position event the closed
            # position still shows unrealized P&L, which a realized-loss decision never used.
            unrealized = self.total_unrealized()
            out["unrealized"] = fmt_money(unrealized)
            out["net"] = fmt_money(realized + unrealized)
        return out

    def close_position(self, rule: str, contract_id: str, reason: str) -> Action:
        return self.act(rule, ActionKind.CLOSE_POSITION, reason, contract_id=contract_id)

    def flatten(self, rule: str, reason: str) -> list[Action]:
        return [self.act(rule, ActionKind.CLOSE_ALL, reason), self.act(rule, ActionKind.CANCEL_ALL, reason)]

    def lock(
        self,
        rule: str,
        kind: LockoutKind,
        until: datetime | None,
        reason: str,
        *,
        scope: LockoutScope = LockoutScope.ACCOUNT,
        symbol: str | None = None,
    ) -> list[Action]:
        """Set (or extend) a lockout; emits a ``lockout`` action only when the record changed."""
        if until is not None and until <= self.now:
            return []
        self.state.lockout_seq += 1
        record = Lockout(
            id=f"L{self.state.lockout_seq}",
            account_id=self.settings.account_id,
            rule=rule,
            scope=scope,
            kind=kind,
            until=until,
            reason=reason,
            created=self.now,
            symbol=symbol,
        )
        if kind is LockoutKind.COOLDOWN or kind is LockoutKind.REDUCE_ONLY:
            record.baseline = {cid: p.signed for cid, p in self.account.positions.items()}
        changed = self.account.lockouts.add(record)
        if changed is None:
            return []
        return [self.act(rule, ActionKind.LOCKOUT, reason, lockout=_snapshot(changed))]

    def unlock(
        self, rule: str, record: Lockout, reason: str, cleared_by: ClearedBy, *, actor: str | None = None
    ) -> Action:
        """The ``unlock`` action for a record already taken out of the book."""
        return self.act(rule, ActionKind.UNLOCK, reason, lockout=record, cleared_by=cleared_by, actor=actor)

    def next_reset(self) -> datetime:
        return next_reset_after(self.now, self.settings.reset_time, self.settings.timezone)

    # ----- warnings -------------------------------------------------------------------------------
    def warnings_pending(self, rule: str, key: str, percents: Sequence[int] | None = None) -> list[int]:
        """The warning percents of ``rule`` for ``key`` not yet given this trading day (``percents``:
        a rule's own ladder levels instead of the global ``warn_at_percent``)."""
        warned = self.account.warned
        levels = self.settings.warn_at_percent if percents is None else percents
        return [p for p in levels if (rule, key, p) not in warned]

    def warn_levels(
        self,
        rule: str,
        key: str,
        used: Decimal,
        limit: Decimal,
        what: str,
        *,
        money: bool = True,
        percents: Sequence[int] | None = None,
    ) -> list[Action]:
        """``warn`` once per trading day when ``used`` first reaches a configured percent of ``limit``
        (``percents``: a rule's own ladder levels instead of the global ``warn_at_percent``).

        Levels crossed together give one warning (the highest); a breach gives none, since the
        breach's own action says more.
        """
        if limit <= 0:
            return []
        warned = self.account.warned
        levels = self.settings.warn_at_percent if percents is None else percents
        crossed = [p for p in levels if used * 100 >= limit * p]
        fresh = [p for p in crossed if (rule, key, p) not in warned]
        if not fresh:
            return []
        for p in crossed:
            warned.add((rule, key, p))
        if used > limit:
            return []
        percent = max(fresh)
        return [
            self.act(
                rule,
                ActionKind.WARN,
                f"{what} at {percent}% of limit: {_fmt(used, money)} of {_fmt(limit, money)}",
                contract_id=key if key.startswith("CON.") else None,
                extra={
                    "threshold": percent,
                    "pctUsed": float(round(used * 100 / limit, 1)),
                    "value": _fmt(used, money),
                    "limit": _fmt(limit, money),
                },
            )
        ]


PRICE_MEASURES = ("unrealized", "positionUnrealized", "net")


def rule_limit(rules: Any, rule: str) -> tuple[str, str] | None:
    """``(limit, what it is compared with)`` for the rules with one money or count limit."""
    if rule == "RULE-001":
        return str(rules.max_contracts.limit), "openContracts"
    if rule == "RULE-003":
        return fmt_money(-rules.daily_realized_loss.loss_limit), "realized"
    if rule == "RULE-004":
        cfg = rules.daily_unrealized_loss
        return fmt_money(-cfg.loss_limit), _unrealized_measure(cfg.scope)
    if rule == "RULE-005" and rules.max_unrealized_profit.mode == "profit_target":
        cfg = rules.max_unrealized_profit
        return fmt_money(cfg.profit_target), _unrealized_measure(cfg.scope)
    return None


def _unrealized_measure(scope: str) -> str:
    return "unrealized" if scope == "total" else "positionUnrealized"


def _fmt(value: Decimal, money: bool) -> str:
    return fmt_money(value) if money else str(value)


def _snapshot(record: Lockout) -> Lockout:
    """A copy for the action, so later extensions do not rewrite what was reported."""
    return Lockout(
        id=record.id,
        account_id=record.account_id,
        rule=record.rule,
        scope=record.scope,
        kind=record.kind,
        until=record.until,
        reason=record.reason,
        created=record.created,
        symbol=record.symbol,
        baseline=dict(record.baseline),
    )
