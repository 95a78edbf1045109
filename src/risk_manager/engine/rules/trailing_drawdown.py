"""RULE-013: the firm's trailing maximum loss limit, with a buffer; a breach flattens and locks.

The arithmetic (floor, high-water mark, distance) lives in ``drawdown.py``; this module decides
when to look: a new balance from the broker, a position or a quote (net balance includes unrealized
P&L), a fill, and the daily reset (``eod`` mode samples the day's closing net balance there). A high
is only taken from a settled net balance (``settling.py``: balance and positions of one moment,
each position priced after its last fill); the breach check never waits for that.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.drawdown import (
    adopt,
    anchor_of,
    describe,
    net_balance,
    raise_high,
    room_and_limit,
)
from risk_manager.engine.events import AccountUpdate, TradeUpdate
from risk_manager.engine.ladder import climb, pending_levels
from risk_manager.engine.lockouts import LockoutKind
from risk_manager.engine.money import ZERO
from risk_manager.engine.quiet import INF, QuietBand
from risk_manager.engine.rules.base import Rule
from risk_manager.engine.settling import settled
from risk_manager.engine.state import PositionState
from risk_manager.engine.trading_day import trading_date

_SECOND = timedelta(seconds=1)


class TrailingDrawdown(Rule):
    rule_id = "RULE-013"
    config_key = "trailing_drawdown"
    price_driven = True

    def on_account(self, ctx: RuleContext, update: AccountUpdate, previous: bool | None) -> list[Action]:
        return self._check(ctx)

    def on_position(
        self, ctx: RuleContext, contract_id: str, previous: PositionState | None, grew: bool
    ) -> list[Action]:
        return self._check(ctx)

    def on_quote(self, ctx: RuleContext, contract_id: str) -> list[Action]:
        return self._check(ctx)

    def on_trade(self, ctx: RuleContext, trade: TradeUpdate, counted: bool) -> list[Action]:
        return self._check(ctx)

    def on_reset(self, ctx: RuleContext, ended: datetime, started: datetime) -> list[Action]:
        """End of a trading day: ``eod`` mode raises the high-water mark to the day's closing net
        balance; without a usable balance (stopped over the reset, a fill not yet in the balance)
        the next settled balance seen is taken instead."""
        cfg = ctx.rules.trailing_drawdown
        if not cfg.enabled:
            return []
        dd = ctx.account.drawdown
        net = net_balance(ctx)
        unsettled = not settled(ctx.state, ctx.account, ctx.now)
        if net is None or unsettled or not adopt(dd, cfg, ctx.account.balance):
            dd.eod_pending = True
            return []
        s = ctx.settings
        if cfg.mode == "eod":
            raise_high(dd, cfg, net)
        dd.last_eod = (trading_date(ended, s.reset_time, s.timezone), net)
        return []

    def _check(self, ctx: RuleContext) -> list[Action]:
        cfg = ctx.rules.trailing_drawdown
        dd = ctx.account.drawdown
        balance = ctx.account.balance
        if balance is None or not adopt(dd, cfg, balance):
            return []  # never judged on missing data
        net = balance + ctx.total_unrealized()
        if settled(ctx.state, ctx.account, ctx.now):  # a net balance that really existed
            if dd.eod_pending:
                dd.eod_pending = False
                raise_high(dd, cfg, net)
                s = ctx.settings
                before = (ctx.account.last_reset or ctx.now) - _SECOND
                dd.last_eod = (trading_date(before, s.reset_time, s.timezone), net)
            if cfg.mode == "intraday":
                raise_high(dd, cfg, net)
        measured = room_and_limit(dd, cfg, net)
        assert measured is not None
        room, limit = measured
        breached = room <= 0
        out = climb(
            ctx,
            self.rule_id,
            "drawdown",
            max(limit - room, ZERO),
            limit,
            "trailing drawdown used",
            ladder=cfg.ladder,
            breached=breached,
            until=ctx.next_reset(),
        )
        if not breached:
            return out
        stale = any(ctx.quote_stale(c) for c in ctx.account.positions)
        reason = describe(dd, cfg, net) + (" (stale quote)" if stale else "")
        out += ctx.flatten(self.rule_id, reason)
        if cfg.lockout_until == "indefinite":
            out += ctx.lock(self.rule_id, LockoutKind.INDEFINITE, None, reason)
        else:
            out += ctx.lock(self.rule_id, LockoutKind.UNTIL_RESET, ctx.next_reset(), reason)
        return out

    def quiet_band(self, ctx: RuleContext, band: QuietBand) -> None:
        """Quiet while the net balance stays above every threshold not yet acted on (breach line,
        warn and reduce-only rungs) and, intraday, below the high-water mark (a new high moves state)."""
        cfg = ctx.rules.trailing_drawdown
        dd = ctx.account.drawdown
        balance = ctx.account.balance
        if balance is None or dd.floor is None or dd.high is None:
            return  # nothing a quote changes: the rule waits for a balance
        if dd.eod_pending or dd.anchor != anchor_of(cfg) or not settled(ctx.state, ctx.account, ctx.now):
            band.constrain_total(None)
            return
        line = dd.floor + cfg.buffer
        limit = cfg.max_drawdown - cfg.buffer
        lo_net = line
        for p in pending_levels(ctx, self.rule_id, "drawdown", cfg.ladder):
            lo_net = max(lo_net, line + limit * (100 - p) / 100)
        hi_net = dd.high if cfg.mode == "intraday" else INF
        lo, hi = lo_net - balance, hi_net - balance
        band.constrain_total((lo, hi) if lo < band.total < hi else None)

    def condition_holds(self, ctx: RuleContext) -> bool:
        cfg = ctx.rules.trailing_drawdown
        dd = ctx.account.drawdown
        net = net_balance(ctx)
        return net is not None and dd.floor is not None and net <= dd.floor + cfg.buffer
