"""RULE-009: no exposure outside the trading window; optionally flatten at the window's end."""

from __future__ import annotations

from datetime import datetime, timedelta

from risk_manager.engine.actions import Action, ActionKind
from risk_manager.engine.context import RuleContext
from risk_manager.engine.events import OrderUpdate
from risk_manager.engine.lockouts import LockoutKind, LockoutScope
from risk_manager.engine.rules.base import Rule
from risk_manager.engine.sessions import Window
from risk_manager.engine.state import PositionState


def _local(ts: datetime, window: Window) -> str:
    return ts.astimezone(window.tz).strftime("%a %Y-%m-%d %H:%M %Z")


class SessionBlockOutside(Rule):
    rule_id = "RULE-009"
    config_key = "session_block_outside"

    def _window_for(self, ctx: RuleContext, contract_id: str) -> tuple[str | None, Window | None]:
        """(per-symbol key or None for the global window, the window that governs this contract)."""
        for symbol, window in ctx.settings.symbol_windows.items():
            if ctx.matches(symbol, contract_id):
                return symbol, window
        return None, ctx.settings.session_window

    def _lock(self, ctx: RuleContext, key: str | None, window: Window, reason: str) -> list[Action]:
        until = window.next_start(ctx.now)
        if key is None:
            return ctx.lock(self.rule_id, LockoutKind.UNTIL_SESSION_START, until, reason, scope=LockoutScope.ACCOUNT)
        return ctx.lock(self.rule_id, LockoutKind.UNTIL_SESSION_START, until, reason, scope=LockoutScope.SYMBOL, symbol=key)

    def _outside_reason(self, ctx: RuleContext, key: str | None, window: Window, what: str) -> str:
        label = f"{key} trading window" if key else "trading window"
        return (
            f"{what} outside the {label} {window.start:%H:%M}-{window.end:%H:%M} "
            f"({_local(ctx.now, window)}); next session {_local(window.next_start(ctx.now), window)}"
        )

    def on_position(
        self, ctx: RuleContext, contract_id: str, previous: PositionState | None, grew: bool
    ) -> list[Action]:
        if not grew:
            return []
        key, window = self._window_for(ctx, contract_id)
        if window is None or window.inside(ctx.now):
            return []
        reason = self._outside_reason(ctx, key, window, f"position in {contract_id}")
        return [ctx.close_position(self.rule_id, contract_id, reason), *self._lock(ctx, key, window, reason)]

    def on_order(self, ctx: RuleContext, update: OrderUpdate) -> list[Action]:
        if not update.cancellable:
            return []
        key, window = self._window_for(ctx, update.contract_id)
        if window is None or window.inside(ctx.now):
            return []
        reason = self._outside_reason(ctx, key, window, f"working order {update.order_id}")
        return [
            ctx.act(
                self.rule_id, ActionKind.CANCEL_ORDER, reason, order_id=update.order_id, contract_id=update.contract_id
            ),
            *self._lock(ctx, key, window, reason),
        ]

    def _windows(self, ctx: RuleContext) -> list[tuple[str | None, Window]]:
        out: list[tuple[str | None, Window]] = []
        if ctx.settings.session_window is not None:
            out.append((None, ctx.settings.session_window))
        out.extend(ctx.settings.symbol_windows.items())
        return out

    def on_tick(self, ctx: RuleContext) -> list[Action]:
        out: list[Action] = []
        close_at_end = ctx.rules.session_block_outside.close_at_session_end
        for key, window in self._windows(ctx):
            inside = window.inside(ctx.now)
            was_inside = ctx.account.window_inside.get(key)
            if was_inside is None:  # first tick: compare with the second before
                was_inside = window.inside(ctx.now - timedelta(seconds=1))
            ctx.account.window_inside[key] = inside
            if not (was_inside and not inside and close_at_end):
                continue
            governed = [
                p for p in ctx.account.positions.values() if self._window_for(ctx, p.contract_id)[0] == key
            ]
            if not governed:
                continue
            reason = (
                f"trading window {window.start:%H:%M}-{window.end:%H:%M} ended ({_local(ctx.now, window)}) "
                f"with {len(governed)} position(s) open"
            )
            if key is None and not ctx.settings.symbol_windows:
                out += ctx.flatten(self.rule_id, reason)
            else:
                out += [ctx.close_position(self.rule_id, p.contract_id, reason) for p in governed]
                out += [
                    ctx.act(
                        self.rule_id, ActionKind.CANCEL_ORDER, reason, order_id=o.order_id, contract_id=o.contract_id
                    )
                    for o in ctx.account.orders.values()
                    if o.cancellable and self._window_for(ctx, o.contract_id)[0] == key
                ]
            out += self._lock(ctx, key, window, reason)
        return out

    def next_deadline(self, ctx: RuleContext) -> datetime | None:
        bounds = [w.next_boundary(ctx.now) for _, w in self._windows(ctx)]
        return min(bounds) if bounds else None
