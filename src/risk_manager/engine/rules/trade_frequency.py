"""RULE-006: too many fills per minute / hour / session -> a cooldown (or a lock until the reset)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.events import TradeUpdate
from risk_manager.engine.ladder import climb
from risk_manager.engine.lockouts import LockoutKind
from risk_manager.engine.rules.base import Rule


def count_in_window(times: list[datetime], end: datetime, seconds: int) -> int:
    """Trades with time in (end - seconds, end]."""
    start = end - timedelta(seconds=seconds)
    return sum(1 for t in times if start < t <= end)


class TradeFrequencyLimit(Rule):
    rule_id = "RULE-006"
    config_key = "trade_frequency_limit"

    def on_trade(self, ctx: RuleContext, trade: TradeUpdate, counted: bool) -> list[Action]:
        if not counted:
            return []
        cfg = ctx.rules.trade_frequency_limit
        at = trade.created or ctx.now
        times = list(ctx.account.recent_trades)
        candidates: list[tuple[datetime | None, LockoutKind, str]] = []  # (until, kind, reason)
        for label, window, seconds in (("minute", cfg.per_minute, 60), ("hour", cfg.per_hour, 3600)):
            if window is None:
                continue
            count = count_in_window(times, at, seconds)
            if count > window.limit:
                until = at + timedelta(seconds=window.cooldown_seconds)
                reason = (
                    f"{count} trades in the last {label} > limit {window.limit}: "
                    f"cooldown {window.cooldown_seconds}s"
                )
                candidates.append((until, LockoutKind.COOLDOWN, reason))
        out: list[Action] = []
        if cfg.per_session is not None:
            count = ctx.account.session_trades
            if cfg.ladder is not None:  # without a ladder RULE-006 gives no warnings (as before it)
                out += climb(
                    ctx,
                    self.rule_id,
                    "session",
                    Decimal(count),
                    Decimal(cfg.per_session.limit),
                    "trades this session",
                    ladder=cfg.ladder,
                    breached=count > cfg.per_session.limit,
                    until=ctx.next_reset(),
                    money=False,
                )
            if count > cfg.per_session.limit:
                reason = f"{count} trades this session > limit {cfg.per_session.limit}"
                candidates.append((ctx.next_reset(), LockoutKind.UNTIL_RESET, reason))
        if not candidates:
            return out
        # Several windows breached at once: one lockout, the longest.
        best = max(candidates, key=lambda c: c[0] or datetime.max.replace(tzinfo=at.tzinfo))
        return out + ctx.lock(self.rule_id, best[1], best[0], best[2])
