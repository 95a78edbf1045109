"""How close each rule is to its limit, in the local API's ``rule_status`` shape.

The trader dashboard shows a % used bar for every rule (spec/trader-cli.md §6.5) and alerts when a limit is
first approached (§8.2). Only the daemon knows the engine's state, so the figures are computed here,
read-only, from the same state and arithmetic the rules decide with; nothing here changes the engine.

One object per rule (spec/daemon.md §9.3 plus additive fields):

``ruleId, name, enabled, state`` (``ok``, ``warning``, ``breached``, ``locked``, ``reduce_only`` (the
action ladder's rung: exits only), ``inactive``),
``value``/``limit``/``pctUsed``/``label``/``unit`` of the limit closest to being hit, ``limits`` (every
limit of the rule: per window, per symbol, per position), ``limitText`` (the configured limit as a
trader reads it), ``text`` (state text of rules without a percentage), ``endsAt`` (the instant the
state text counts down to) and, for RULE-008, ``deadlines`` (contract -> when it is closed).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from risk_manager.daemon.api.views import money
from risk_manager.engine.context import RuleContext
from risk_manager.engine.drawdown import drawdown_view
from risk_manager.engine.lockouts import Lockout, LockoutKind
from risk_manager.engine.money import ZERO
from risk_manager.engine.rulebook import RULES
from risk_manager.engine.rules.max_contracts import count_contracts
from risk_manager.engine.rules.trade_frequency import count_in_window
from risk_manager.engine.sessions import Window
from risk_manager.engine.state import AccountState, EngineState
from risk_manager.engine.timefmt import iso

RULE_NAMES: dict[str, str] = {
    "RULE-001": "Max contracts",
    "RULE-002": "Max contracts per instrument",
    "RULE-003": "Daily realized loss",
    "RULE-004": "Daily unrealized loss",
    "RULE-005": "Max unrealized profit",
    "RULE-006": "Trade frequency",
    "RULE-007": "Cooldown after loss",
    "RULE-008": "No stop-loss grace",
    "RULE-009": "Session hours",
    "RULE-010": "Broker permission",
    "RULE-011": "Symbol blocks",
    "RULE-012": "Trade management",
    "RULE-013": "Trailing drawdown",
    "RULE-014": "Weekly limits",
    "RULE-015": "Consecutive losses",
}
#: rule id -> its block in risk_config.yaml (from the rulebook, the one place they are defined)
CONFIG_KEYS: dict[str, str] = {rule.rule_id: rule.config_key for rule in RULES}


def _pct(used: Decimal, limit: Decimal) -> float | None:
    if limit <= 0:
        return None
    return round(float(used * 100 / limit), 1)


def _limit(key: str, label: str, value: str, limit: str, pct: float | None, unit: str) -> dict[str, Any]:
    return {"key": key, "label": label, "value": value, "limit": limit, "pctUsed": pct, "unit": unit}


def _duration(seconds: int) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


class _Status:
    """Collects one rule's figures; ``done()`` renders the API object."""

    def __init__(self, rule_id: str, enabled: bool) -> None:
        self.rule_id = rule_id
        self.enabled = enabled
        self.limits: list[dict[str, Any]] = []
        self.limit_text = ""
        self.text = ""
        self.ends_at: datetime | None = None
        self.breached = False
        self.extra: dict[str, Any] = {}

    def done(self, lockouts: list[Lockout], warn_at: float) -> dict[str, Any]:
        if not self.enabled:  # a disabled rule's figures would only be noise (and pushes)
            self.limits, self.text, self.ends_at, self.extra = [], "", None, {}
        closest = max(
            self.limits, key=lambda item: -1.0 if item["pctUsed"] is None else item["pctUsed"], default=None
        )
        pct = closest["pctUsed"] if closest else None
        mine = [r for r in lockouts if r.rule == self.rule_id]
        # The ladder's rung is not a lock: exits stay allowed ("exits only"), so it has its own state.
        locks = [r for r in mine if r.kind is not LockoutKind.REDUCE_ONLY]
        rung = [r for r in mine if r.kind is LockoutKind.REDUCE_ONLY]
        if not self.enabled:
            state = "inactive"
        elif locks:
            state = "locked"
        elif rung:
            state = "reduce_only"
        elif self.breached or (pct is not None and pct > 100):
            state = "breached"
        elif pct is not None and pct >= warn_at:
            state = "warning"
        else:
            state = "ok"
        ends_at = self.ends_at
        text = self.text
        if locks and self.enabled:
            lock = locks[0]
            if lock.until is not None and (ends_at is None or lock.until > ends_at):
                ends_at = lock.until
            what = "cooldown" if lock.kind == "cooldown" else "locked"
            scope = f" ({lock.symbol})" if lock.symbol else ""
            text = f"{what}{scope}" + ("" if lock.until else " until unlocked")
        elif rung and self.enabled:
            ends_at = rung[0].until
            text = "exits only" + ("" if rung[0].until else " until unlocked")
        out: dict[str, Any] = {
            "ruleId": self.rule_id,
            "name": RULE_NAMES[self.rule_id],
            "enabled": self.enabled,
            "value": closest["value"] if closest else None,
            "limit": closest["limit"] if closest else None,
            "pctUsed": pct,
            "label": closest["label"] if closest else None,
            "unit": closest["unit"] if closest else None,
            "state": state,
            "limitText": self.limit_text,
            "text": text if self.enabled else "disabled",
            "endsAt": iso(ends_at),
            "limits": self.limits,
        }
        out.update(self.extra)
        return out


def rule_statuses(state: EngineState, acct: AccountState, now: datetime) -> list[dict[str, Any]]:
    """One ``rule_status`` object per rule of the rulebook for one account, in rule order."""
    ctx = RuleContext(state, acct, now)
    rules: Any = acct.settings.rules
    lockouts = acct.lockouts.active()
    warn_at = float(min(acct.settings.warn_at_percent, default=80))
    out = []
    for rule_id, key in CONFIG_KEYS.items():
        cfg = getattr(rules, key)
        status = _Status(rule_id, bool(getattr(cfg, "enabled", False)))
        _FILL[rule_id](status, ctx, cfg)
        out.append(status.done(lockouts, warn_at))
    return out


# ----- one function per rule --------------------------------------------------------------------------
def _max_contracts(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    count = count_contracts([p.signed for p in ctx.account.positions.values()], cfg.count_type)
    s.limit_text = f"{cfg.limit} {cfg.count_type}"
    s.limits.append(
        _limit(
            "contracts",
            cfg.count_type,
            str(count),
            str(cfg.limit),
            _pct(Decimal(count), Decimal(cfg.limit)),
            "contracts",
        )
    )
    s.breached = count > cfg.limit


def _group_of(ctx: RuleContext, cfg: Any, contract_id: str) -> tuple[str, int | None]:
    for symbol, limit in cfg.limits.items():
        if ctx.matches(symbol, contract_id):
            return symbol.upper(), int(limit)
    return ctx.symbol(contract_id), cfg.unknown_symbol_limit


def _per_instrument(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    groups: dict[str, tuple[int | None, int]] = {}
    for pos in ctx.account.positions.values():
        group, limit = _group_of(ctx, cfg, pos.contract_id)
        held = groups.get(group, (limit, 0))[1]
        groups[group] = (limit, held + pos.signed)
    s.limit_text = " · ".join(f"{sym} {lim}" for sym, lim in list(cfg.limits.items())[:4])
    for group, (limit, signed) in sorted(groups.items()):
        count = abs(signed)
        if limit is None:
            s.limits.append(_limit(group, group, str(count), "unlimited", None, "contracts"))
            continue
        pct = _pct(Decimal(count), Decimal(limit)) if limit > 0 else (100.0 if count == 0 else 200.0)
        s.limits.append(_limit(group, group, str(count), str(limit), pct, "contracts"))
        s.breached = s.breached or count > limit
    if not groups:
        s.text = "no position held"


def _daily_realized(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    realized = ctx.account.realized
    limit = cfg.loss_limit
    s.limit_text = f"loss {money(limit)}"
    s.limits.append(
        _limit(
            "realized",
            "realized",
            money(realized) or "0.00",
            money(limit) or "",
            _pct(max(-realized, ZERO), limit),
            "money",
        )
    )
    s.breached = realized < -limit


def _unrealized_limits(s: _Status, ctx: RuleContext, scope: str, limit: Decimal, sign: int) -> None:
    """RULE-004 and RULE-005: unrealized P&L against a money limit, per position or in total.
    ``sign`` is -1 for a loss limit (losses use it up) and +1 for a profit target."""
    if scope == "per_position":
        for pos in ctx.account.positions.values():
            pnl = ctx.unrealized(pos)
            if pnl is not None:
                used = _pct(max(sign * pnl, ZERO), limit)
                s.limits.append(
                    _limit(
                        pos.contract_id,
                        ctx.symbol(pos.contract_id),
                        money(pnl) or "",
                        money(limit) or "",
                        used,
                        "money",
                    )
                )
        if not s.limits:
            s.text = "no open position"
        return
    total = ctx.total_unrealized()
    used = _pct(max(sign * total, ZERO), limit)
    s.limits.append(_limit("total", "total", money(total) or "", money(limit) or "", used, "money"))


def _daily_unrealized(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    limit = cfg.loss_limit
    s.limit_text = f"loss {money(limit)} " + ("per position" if cfg.scope == "per_position" else "total")
    _unrealized_limits(s, ctx, cfg.scope, limit, -1)


def _unrealized_profit(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    if cfg.mode == "breakeven":
        armed = sum(1 for p in ctx.account.positions.values() if p.armed)
        s.limit_text = "breakeven"
        s.text = f"{armed} position(s) armed at breakeven" if armed else "watching for profit"
        return
    target = cfg.profit_target
    s.limit_text = f"target {money(target)} " + ("per position" if cfg.scope == "per_position" else "total")
    _unrealized_limits(s, ctx, cfg.scope, target, 1)


def _frequency(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    times = list(ctx.account.recent_trades)
    parts = []
    for key, window, seconds in (("minute", cfg.per_minute, 60), ("hour", cfg.per_hour, 3600)):
        if window is None:
            continue
        count = count_in_window(times, ctx.now, seconds)
        parts.append(f"{window.limit}/{key}")
        s.limits.append(
            _limit(
                key,
                f"per {key}",
                str(count),
                str(window.limit),
                _pct(Decimal(count), Decimal(window.limit)),
                "count",
            )
        )
    if cfg.per_session is not None:
        count = ctx.account.session_trades
        parts.append(f"{cfg.per_session.limit}/session")
        s.limits.append(
            _limit(
                "session",
                "per session",
                str(count),
                str(cfg.per_session.limit),
                _pct(Decimal(count), Decimal(cfg.per_session.limit)),
                "count",
            )
        )
    s.limit_text = " · ".join(parts)


def _cooldown_after_loss(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    tiers = sorted(cfg.tiers, key=lambda t: t.loss_amount)
    s.limit_text = " · ".join(f"-{money(t.loss_amount)} → {_duration(t.cooldown_seconds)}" for t in tiers[:3])
    s.text = "ready"


def _stop_grace(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    s.limit_text = f"stop within {cfg.grace_period_seconds}s"
    deadlines = {
        p.contract_id: p.stop_deadline for p in ctx.account.positions.values() if p.stop_deadline is not None
    }
    s.extra["deadlines"] = {cid: iso(when) for cid, when in deadlines.items()}
    if deadlines:
        first = min(deadlines, key=lambda c: deadlines[c])
        s.text = f"{ctx.symbol(first)} has no stop: closes"
        s.ends_at = deadlines[first]
    elif ctx.account.positions:
        s.text = "every position has a stop"
    else:
        s.text = "no open position"


def _session(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    window: Window | None = ctx.settings.session_window
    if window is None:
        s.text = "no trading window"
        return
    s.limit_text = f"{window.start:%H:%M}–{window.end:%H:%M}"
    inside = window.inside(ctx.now)
    s.ends_at = window.next_boundary(ctx.now)
    s.text = "inside, ends in" if inside else "outside, opens in"
    s.extra["inside"] = inside
    s.extra["timezone"] = window.tz.key


def _auth_guard(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    can = ctx.account.can_trade
    s.limit_text = "broker canTrade"
    s.text = "broker allows trading" if can is not False else "broker does not allow trading"
    s.breached = can is False


def _symbol_blocks(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    blocked = [str(x).upper() for x in cfg.blocked_symbols]
    s.limit_text = ", ".join(blocked) if blocked else "none"
    held = sorted({sym for sym in blocked for cid in ctx.account.positions if ctx.matches(sym, cid)})
    s.text = f"{', '.join(held)} held" if held else "no blocked symbol held"
    s.breached = bool(held)


def _trade_management(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    parts = []
    if cfg.auto_stop_loss.enabled:
        parts.append(f"stop {cfg.auto_stop_loss.stop_loss_ticks} ticks")
    if cfg.breakeven.enabled:
        parts.append(f"breakeven +{cfg.breakeven.trigger_ticks}")
    if cfg.trailing.enabled:
        parts.append(f"trail {cfg.trailing.distance_ticks}")
    s.limit_text = " · ".join(parts) or "—"
    managed = sum(1 for p in ctx.account.positions.values() if p.managed_stop is not None)
    s.text = f"managing {managed} stop(s)" if managed else "no managed stop"


def _trailing_drawdown(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    view = drawdown_view(ctx)
    s.limit_text = f"max drawdown {money(cfg.max_drawdown)} ({cfg.mode})"
    if view is None or view["netBalance"] is None:
        s.text = "waiting for the account balance"
        return
    # Used: how much of the allowed drawdown (high-water mark down to the breach line) is gone.
    line, net = Decimal(view["breachAt"]), Decimal(view["netBalance"])
    top = Decimal(view["highWaterMark"] or view["startingBalance"])
    allowed = top - line
    used = top - net
    s.limits.append(
        _limit(
            "floor",
            "drawdown",
            money(max(used, ZERO)) or "0.00",
            money(allowed) or "0.00",
            _pct(used, allowed),
            "money",
        )
    )
    s.text = f"{view['distance']} above the floor line {view['breachAt']}"
    s.extra["drawdown"] = view
    s.breached = net <= line


def _weekly(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    week = ctx.account.week
    value = week.closed + ctx.account.realized
    if cfg.pnl == "net":
        value += ctx.total_unrealized()
    parts = []
    if cfg.loss_limit is not None:
        parts.append(f"loss {money(cfg.loss_limit)}")
        s.limits.append(
            _limit(
                "loss",
                f"weekly {cfg.pnl} loss",
                money(value) or "0.00",
                money(cfg.loss_limit) or "",
                _pct(-value, cfg.loss_limit),
                "money",
            )
        )
        s.breached = s.breached or value <= -cfg.loss_limit
    if cfg.profit_target is not None:
        parts.append(f"profit {money(cfg.profit_target)}")
        s.limits.append(
            _limit(
                "profit",
                f"weekly {cfg.pnl} profit",
                money(value) or "0.00",
                money(cfg.profit_target) or "",
                _pct(value, cfg.profit_target),
                "money",
            )
        )
        s.breached = s.breached or value >= cfg.profit_target
    s.limit_text = " · ".join(parts) + f" per week (from {cfg.week_start})"


def _streak(s: _Status, ctx: RuleContext, cfg: Any) -> None:
    losses = ctx.account.streak.losses
    s.limit_text = f"{cfg.max_losses} losing trades in a row"
    s.limits.append(
        _limit(
            "streak",
            "losses in a row",
            str(losses),
            str(cfg.max_losses),
            _pct(Decimal(losses), Decimal(cfg.max_losses)),
            "trades",
        )
    )
    s.breached = losses >= cfg.max_losses


_FILL: dict[str, Any] = {
    "RULE-001": _max_contracts,
    "RULE-002": _per_instrument,
    "RULE-003": _daily_realized,
    "RULE-004": _daily_unrealized,
    "RULE-005": _unrealized_profit,
    "RULE-006": _frequency,
    "RULE-007": _cooldown_after_loss,
    "RULE-008": _stop_grace,
    "RULE-009": _session,
    "RULE-010": _auth_guard,
    "RULE-011": _symbol_blocks,
    "RULE-012": _trade_management,
    "RULE-013": _trailing_drawdown,
    "RULE-014": _weekly,
    "RULE-015": _streak,
}
