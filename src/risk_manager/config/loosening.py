"""What loosens a limit (docs/rules-extra.md §5.2): the comparison the settings lock is built on.

``rule_loosenings(key, old, new)`` compares one rule block of the configuration in force with the
same block of a new configuration and lists every change that gives the trader more room. The table
below says, per field, which direction loosens; a field it does not name counts as loosening on
any change, so a field added later is locked until someone decides otherwise. A disabled rule's
fields are free to change; switching a rule off loosens, switching one on tightens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Loosening:
    """One loosening change inside a rule block (``path`` is relative to ``rules.<rule>``)."""

    rule: str
    path: Path
    old: Any
    new: Any
    why: str


# ----- directions --------------------------------------------------------------------------------------
UP = "higher"  # a higher value (or null: no limit) loosens
DOWN = "lower"  # a lower value loosens
ANY = "any"  # any change loosens (not provably tighter)
IGNORE = "ignore"  # not a limit (warning levels)


@dataclass(frozen=True, slots=True)
class Order:
    """Values from the tightest to the loosest: moving right loosens."""

    values: tuple[Any, ...]


FIELDS: dict[str, dict[str, Any]] = {
    "max_contracts": {
        "limit": UP,
        "count_type": Order(("gross", "net")),
        "enforcement": Order(("close_all", "reduce_to_limit")),
    },
    "max_contracts_per_instrument": {"enforcement": Order(("close_all", "reduce_to_limit"))},
    "daily_realized_loss": {"loss_limit": UP, "lockout_until": Order(("permanent", "daily_reset"))},
    "daily_unrealized_loss": {"loss_limit": UP, "scope": ANY},
    "max_unrealized_profit": {"profit_target": UP, "mode": ANY, "scope": ANY},
    "trade_frequency_limit": {},
    "cooldown_after_loss": {},
    "no_stop_loss_grace": {"grace_period_seconds": UP},
    "session_block_outside": {
        "respect_holidays": Order((True, False)),
        "close_at_session_end": Order((True, False)),
    },
    "auth_loss_guard": {"auto_unlock_on_restore": Order((False, True))},
    "symbol_blocks": {"close_existing": Order((True, False))},
    "trade_management": {
        "auto_stop_loss.enabled": Order((True, False)),
        "auto_stop_loss.stop_loss_ticks": UP,
        "breakeven.enabled": Order((True, False)),
        "breakeven.trigger_ticks": UP,
        "breakeven.offset_ticks": DOWN,
        "trailing.enabled": Order((True, False)),
        "trailing.activation_ticks": UP,
        "trailing.distance_ticks": UP,
    },
    "trailing_drawdown": {
        "mode": Order(("intraday", "eod")),
        "max_drawdown": UP,
        "buffer": DOWN,
        "lock_at_start": Order((False, True)),
        "starting_balance": DOWN,
        "floor": DOWN,
        "lockout_until": Order(("indefinite", "daily_reset")),
    },
    "weekly_limits": {"loss_limit": UP, "profit_target": UP, "pnl": ANY, "week_start": ANY},
    "consecutive_losses": {
        "max_losses": UP,
        "scratch_amount": UP,
        "scratches": Order(("count", "ignore", "reset")),
        "action": Order(("until_reset", "cooldown")),
        "cooldown_seconds": DOWN,
    },
}


def _rank(value: Any, *, none_is_unlimited: bool) -> Any:
    if value is None:
        return Decimal("Infinity") if none_is_unlimited else None
    return (
        Decimal(str(value))
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
        else value
    )


def loosens(direction: Any, old: Any, new: Any) -> str | None:
    """Why ``old -> new`` loosens under ``direction``, or None when it does not."""
    if old == new or direction == IGNORE:
        return None
    if direction == ANY:
        return "not provably tighter"
    if isinstance(direction, Order):
        values = direction.values
        if old in values and new in values:
            return "a looser setting" if values.index(new) > values.index(old) else None
        return "not provably tighter"
    if direction == UP:
        a, b = _rank(old, none_is_unlimited=True), _rank(new, none_is_unlimited=True)
        return "a higher limit" if b > a else None
    if direction == DOWN:
        if old is None or new is None:
            return "not provably tighter"
        return (
            "a lower value"
            if _rank(new, none_is_unlimited=False) < _rank(old, none_is_unlimited=False)
            else None
        )
    return "not provably tighter"


def _flatten(prefix: Path, value: Any, out: dict[Path, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten((*prefix, str(key)), inner, out)
    else:
        out[prefix] = value


# ----- fields that need more than a direction ----------------------------------------------------------
Special = Callable[[str, dict[str, Any], dict[str, Any]], list[Loosening]]


def _ladder(rule: str, old: dict[str, Any], new: dict[str, Any]) -> list[Loosening]:
    a, b = old.get("ladder"), new.get("ladder")
    rung_a = a.get("reduce_only_at") if a else None
    rung_b = b.get("reduce_only_at") if b else None
    if rung_a is None or rung_a == rung_b:
        return []  # no rung before, or the same: warn levels are not limits
    why = (
        "the reduce-only rung removed"
        if rung_b is None
        else ("a later reduce-only rung" if rung_b > rung_a else "")
    )
    return [Loosening(rule, ("ladder", "reduce_only_at"), rung_a, rung_b, why)] if why else []


def _frequency(rule: str, old: dict[str, Any], new: dict[str, Any]) -> list[Loosening]:
    out: list[Loosening] = []
    for window in ("per_minute", "per_hour", "per_session"):
        a, b = old.get(window), new.get(window)
        if a is None:
            continue
        if b is None:
            out.append(Loosening(rule, (window,), a, None, "the window is no longer checked"))
            continue
        if b["limit"] > a["limit"]:
            out.append(Loosening(rule, (window, "limit"), a["limit"], b["limit"], "a higher limit"))
        if "cooldown_seconds" in a and b["cooldown_seconds"] < a["cooldown_seconds"]:
            out.append(
                Loosening(
                    rule,
                    (window, "cooldown_seconds"),
                    a["cooldown_seconds"],
                    b["cooldown_seconds"],
                    "a shorter cooldown",
                )
            )
    return out


def _tier_seconds(tiers: Sequence[dict[str, Any]], loss: Decimal) -> int:
    hits = [t for t in tiers if loss >= Decimal(str(t["loss_amount"]))]
    return max(hits, key=lambda t: Decimal(str(t["loss_amount"])))["cooldown_seconds"] if hits else 0


def _tiers(rule: str, old: dict[str, Any], new: dict[str, Any]) -> list[Loosening]:
    """Looser when some loss gets a shorter cooldown (or none); checked at every tier amount."""
    a, b = old.get("tiers") or [], new.get("tiers") or []
    for amount in sorted({Decimal(str(t["loss_amount"])) for t in [*a, *b]}):
        if _tier_seconds(b, amount) < _tier_seconds(a, amount):
            return [Loosening(rule, ("tiers",), a, b, f"a loss of {amount} gets a shorter cooldown")]
    return []


def _contained(inner: dict[str, Any] | None, outer: dict[str, Any] | None) -> bool:
    """Is every instant of window ``inner`` inside window ``outer`` (same zone and shape)?"""
    if inner is None or outer is None:
        return inner == outer
    if inner["timezone"] != outer["timezone"] or not set(inner["days"]) <= set(outer["days"]):
        return False
    overnight_in = inner["end"] < inner["start"]
    overnight_out = outer["end"] < outer["start"]
    if overnight_in != overnight_out:
        return False
    return bool(inner["start"] >= outer["start"] and inner["end"] <= outer["end"])


def _windows(rule: str, old: dict[str, Any], new: dict[str, Any]) -> list[Loosening]:
    out: list[Loosening] = []
    if not _contained(new["window"], old["window"]):
        out.append(
            Loosening(rule, ("window",), old["window"], new["window"], "a window not inside the old one")
        )
    a, b = old.get("per_symbol") or {}, new.get("per_symbol") or {}
    for symbol in sorted(set(a) | set(b)):
        was = a.get(symbol, old["window"])
        now = b.get(symbol, new["window"])
        if not _contained(now, was):
            out.append(
                Loosening(
                    rule,
                    ("per_symbol", symbol),
                    a.get(symbol),
                    b.get(symbol),
                    "a window not inside the old one",
                )
            )
    return out


def _per_instrument(rule: str, old: dict[str, Any], new: dict[str, Any]) -> list[Loosening]:
    def unknown(action: str) -> Decimal:
        if action == "block":
            return Decimal(0)
        if action == "allow_unlimited":
            return Decimal("Infinity")
        return Decimal(action.partition(":")[2])

    out: list[Loosening] = []
    ua, ub = unknown(old["unknown_symbol_action"]), unknown(new["unknown_symbol_action"])
    if ub > ua:
        out.append(
            Loosening(
                rule,
                ("unknown_symbol_action",),
                old["unknown_symbol_action"],
                new["unknown_symbol_action"],
                "a higher limit",
            )
        )
    a, b = old.get("limits") or {}, new.get("limits") or {}
    for symbol in sorted(set(a) | set(b)):
        was = Decimal(a[symbol]) if symbol in a else ua
        now = Decimal(b[symbol]) if symbol in b else ub
        if now > was:
            out.append(Loosening(rule, ("limits", symbol), a.get(symbol), b.get(symbol), "a higher limit"))
    return out


def _blocked(rule: str, old: dict[str, Any], new: dict[str, Any]) -> list[Loosening]:
    gone = sorted(set(old.get("blocked_symbols") or []) - set(new.get("blocked_symbols") or []))
    return (
        [Loosening(rule, ("blocked_symbols",), gone, None, f"{', '.join(gone)} no longer blocked")]
        if gone
        else []
    )


SPECIAL: dict[str, tuple[tuple[str, ...], Special]] = {
    "trade_frequency_limit": (("per_minute", "per_hour", "per_session"), _frequency),
    "cooldown_after_loss": (("tiers",), _tiers),
    "session_block_outside": (("window", "per_symbol"), _windows),
    "max_contracts_per_instrument": (("limits", "unknown_symbol_action"), _per_instrument),
    "symbol_blocks": (("blocked_symbols",), _blocked),
}


def rule_loosenings(rule: str, old: dict[str, Any], new: dict[str, Any]) -> list[Loosening]:
    """Every loosening change from ``old`` to ``new`` (one rule block each, ``model_dump()``-ed)."""
    if not old.get("enabled"):
        return []
    if not new.get("enabled"):
        return [Loosening(rule, ("enabled",), True, False, "the rule switched off")]
    out = _ladder(rule, old, new)
    handled: tuple[str, ...] = ("enabled", "ladder")
    special = SPECIAL.get(rule)
    if special is not None:
        fields, check = special
        out += check(rule, old, new)
        handled += fields
    flat_old: dict[Path, Any] = {}
    flat_new: dict[Path, Any] = {}
    _flatten((), {k: v for k, v in old.items() if k not in handled}, flat_old)
    _flatten((), {k: v for k, v in new.items() if k not in handled}, flat_new)
    table = FIELDS.get(rule, {})
    for path in sorted(set(flat_old) | set(flat_new)):
        a, b = flat_old.get(path), flat_new.get(path)
        why = loosens(table.get(".".join(path), ANY), a, b)
        if why:
            out.append(Loosening(rule, path, a, b, why))
    return out
