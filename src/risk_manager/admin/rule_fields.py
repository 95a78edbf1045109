"""The rules as the console shows and edits them: every key of rules.md §5.1 with its type.

The keys and their order come from the config models (``RULE_KEYS``); this table adds what a person
needs: a title, the type that decides how input is parsed (§8.1), the allowed range, which direction
of a change weakens protection, and the one-line summaries of the rule list ("Key limits", "Action").
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from risk_manager.admin.values import format_duration
from risk_manager.config.models import RULE_IDS, RULE_KEYS, GlobalSettings, RulesConfig


@dataclass(frozen=True)
class Field:
    key: str  # dotted path inside the rule block, e.g. "per_minute.limit"
    kind: str  # bool int money duration choice time timezone days symbols symbol_map tiers symbol_action windows
    choices: tuple[str, ...] = ()
    minimum: int | None = 1
    weaker: str = ""  # higher | lower | false | true | stricter:<value order, strict first> | removed | moved
    nullable: bool = False  # "off" sets the parent window to null (RULE-006 windows)
    optional: bool = False  # "off" sets the key itself to null (a ladder's rung, RULE-013's firm numbers)
    maximum: int | None = None

    @property
    def type_text(self) -> str:
        return {
            "money": "money USD",
            "duration": "duration",
            "symbol_map": "symbol → int",
            "symbols": "symbol list",
            "tiers": "tiers",
            "windows": "windows",
            "symbol_action": "choice/limit",
            "percents": "percent list",
        }.get(self.kind, self.kind)

    def allowed_text(self) -> str:
        if self.kind == "choice":
            return "(" + ", ".join(self.choices) + ")"
        if self.kind == "percents":
            return f"1-{self.maximum or 99}, e.g. 50, 75" + ("; off = the global levels" if self.optional else "")
        if self.kind in ("int", "duration"):
            base = f"{self.minimum}-{self.maximum}" if self.maximum is not None else (
                f"≥ {self.minimum}" if self.minimum is not None else ""
            )
            return base + (", off = not checked" if self.nullable else "") + (", off = none" if self.optional else "")
        if self.kind == "money":
            return "> 0" + (", off = none" if self.optional else "")
        if self.kind == "time":
            return "HH:MM"
        if self.kind == "symbol_action":
            return "block | allow_unlimited | N"
        return ""


@dataclass(frozen=True)
class RuleDef:
    number: int
    key: str
    title: str
    fields: tuple[Field, ...]

    @property
    def rule_id(self) -> str:
        return RULE_IDS.get(self.key, self.key.upper())  # GLOBAL is not a rule: "GLOBAL"

    def field(self, key: str) -> Field | None:
        for f in self.fields:
            if f.key == key:
                return f
        return None


ENABLED = Field("enabled", "bool", weaker="false")
#: the action ladder (docs/rules-extra.md §4) of the rules that support one: warn levels, reduce-only
LADDER = (
    Field("ladder.warn_at", "percents", maximum=99, optional=True),
    Field("ladder.reduce_only_at", "int", minimum=1, maximum=99, weaker="higher", optional=True),
)

RULES: tuple[RuleDef, ...] = (
    RuleDef(
        1,
        "max_contracts",
        "Max contracts",
        (
            ENABLED,
            Field("limit", "int", weaker="higher"),
            Field("count_type", "choice", ("net", "gross"), weaker="stricter:gross,net"),
            Field("enforcement", "choice", ("close_all", "reduce_to_limit")),
        ),
    ),
    RuleDef(
        2,
        "max_contracts_per_instrument",
        "Max contracts per instrument",
        (
            ENABLED,
            Field("limits", "symbol_map", weaker="higher"),
            Field("enforcement", "choice", ("reduce_to_limit", "close_all")),
            Field("unknown_symbol_action", "symbol_action", weaker="higher"),
        ),
    ),
    RuleDef(
        3,
        "daily_realized_loss",
        "Daily realized loss",
        (
            ENABLED,
            Field("loss_limit", "money", weaker="higher"),
            Field(
                "lockout_until",
                "choice",
                ("daily_reset", "permanent"),
                weaker="stricter:permanent,daily_reset",
            ),
            *LADDER,
        ),
    ),
    RuleDef(
        4,
        "daily_unrealized_loss",
        "Daily unrealized loss",
        (
            ENABLED,
            Field("loss_limit", "money", weaker="higher"),
            Field("scope", "choice", ("per_position", "total")),
            *LADDER,
        ),
    ),
    RuleDef(
        5,
        "max_unrealized_profit",
        "Max unrealized profit",
        (
            ENABLED,
            Field("mode", "choice", ("profit_target", "breakeven")),
            Field("profit_target", "money"),
            Field("scope", "choice", ("per_position", "total")),
        ),
    ),
    RuleDef(
        6,
        "trade_frequency_limit",
        "Trade frequency",
        (
            ENABLED,
            Field("per_minute.limit", "int", weaker="higher", nullable=True),
            Field("per_minute.cooldown_seconds", "duration", weaker="lower"),
            Field("per_hour.limit", "int", weaker="higher", nullable=True),
            Field("per_hour.cooldown_seconds", "duration", weaker="lower"),
            Field("per_session.limit", "int", weaker="higher", nullable=True),
            *LADDER,
        ),
    ),
    RuleDef(
        7, "cooldown_after_loss", "Cooldown after loss", (ENABLED, Field("tiers", "tiers", weaker="tiers"))
    ),
    RuleDef(
        8,
        "no_stop_loss_grace",
        "Stop-loss grace",
        (ENABLED, Field("grace_period_seconds", "duration", weaker="higher")),
    ),
    RuleDef(
        9,
        "session_block_outside",
        "Session hours",
        (
            ENABLED,
            Field("window.start", "time"),
            Field("window.end", "time"),
            Field("window.timezone", "timezone"),
            Field("window.days", "days"),
            Field("per_symbol", "windows"),
            Field("respect_holidays", "bool", weaker="false"),
            Field("close_at_session_end", "bool", weaker="false"),
        ),
    ),
    RuleDef(
        10,
        "auth_loss_guard",
        "Broker trading permission",
        (ENABLED, Field("auto_unlock_on_restore", "bool")),
    ),
    RuleDef(
        11,
        "symbol_blocks",
        "Symbol blocks",
        (
            ENABLED,
            Field("blocked_symbols", "symbols", weaker="removed"),
            Field("close_existing", "bool", weaker="false"),
        ),
    ),
    RuleDef(
        12,
        "trade_management",
        "Trade management",
        (
            ENABLED,
            Field("auto_stop_loss.enabled", "bool", weaker="false"),
            Field("auto_stop_loss.stop_loss_ticks", "int"),
            Field("breakeven.enabled", "bool"),
            Field("breakeven.trigger_ticks", "int"),
            Field("breakeven.offset_ticks", "int", minimum=0),
            Field("trailing.enabled", "bool"),
            Field("trailing.activation_ticks", "int"),
            Field("trailing.distance_ticks", "int"),
        ),
    ),
    # The guardrails beyond the twelve (docs/rules-extra.md); what weakens follows config/loosening.py.
    RuleDef(
        13,
        "trailing_drawdown",
        "Trailing drawdown",
        (
            ENABLED,
            Field("mode", "choice", choices=("eod", "intraday"), weaker="stricter:intraday,eod"),
            Field("max_drawdown", "money", weaker="higher"),
            Field("buffer", "money", weaker="lower"),
            Field("lock_at_start", "bool", weaker="true"),
            Field("lockout_until", "choice", choices=("daily_reset", "indefinite"), weaker="stricter:indefinite,daily_reset"),
            # the firm's numbers, per account (--account): lower (or to/from null) loosens (rules-extra §5.2)
            Field("starting_balance", "money", weaker="moved", optional=True),
            Field("floor", "money", weaker="moved", optional=True),
            *LADDER,
        ),
    ),
    RuleDef(
        14,
        "weekly_limits",
        "Weekly limits",
        (
            ENABLED,
            Field("pnl", "choice", choices=("realized", "net")),
            Field("loss_limit", "money", weaker="higher"),
            Field("profit_target", "money", weaker="higher"),
            Field("week_start", "choice", choices=("mon", "tue", "wed", "thu", "fri", "sat", "sun")),
            *LADDER,
        ),
    ),
    RuleDef(
        15,
        "consecutive_losses",
        "Consecutive losses",
        (
            ENABLED,
            Field("max_losses", "int", weaker="higher"),
            Field("scratch_amount", "money", weaker="higher"),
            Field("scratches", "choice", choices=("count", "ignore", "reset"), weaker="stricter:count,ignore,reset"),
            Field("action", "choice", choices=("until_reset", "cooldown"), weaker="stricter:until_reset,cooldown"),
            Field("cooldown_seconds", "duration", weaker="lower"),
            *LADDER,
        ),
    ),
)
assert tuple(r.key for r in RULES) == RULE_KEYS, "rule table out of step with config.models"

STRONG_DISABLE = frozenset({1, 3, 4, 10})  # disabling these needs the typed WEAKEN (§8.1)

#: ``risk_config.yaml › global``: not a rule, but edited the same way (``admin rules set global KEY VALUE``);
#: defaults only (no account overrides). The settings lock is docs/rules-extra.md §5.
GLOBAL = RuleDef(
    0,
    "global",
    "Global settings",
    (
        Field("settings_lock.enabled", "bool", weaker="false"),
        Field("settings_lock.engage", "choice", ("at_reset", "first_fill"), weaker="stricter:at_reset,first_fill"),
        Field("include_fees", "bool", weaker="false"),
        Field("warn_at_percent", "percents", maximum=100),
    ),
)


def find_rule(ref: str) -> RuleDef | None:
    """``3``, ``RULE-003``, ``rule-3`` or ``daily_realized_loss``; ``global`` for the global settings."""
    if ref.strip().lower() == GLOBAL.key:
        return GLOBAL
    text = ref.strip().lower().replace("rule-", "").replace("rule", "")
    if text.isdigit() and 1 <= int(text) <= len(RULES):
        return RULES[int(text) - 1]
    for rule in RULES:
        if rule.key == ref.strip().lower():
            return rule
    return None


# ----- reading effective values ---------------------------------------------------------------------------
def get_path(data: Any, dotted: str) -> Any:
    value = data
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def has_path(data: Any, dotted: str) -> bool:
    value = data
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def effective_block(rules: RulesConfig | GlobalSettings, rule: RuleDef) -> dict[str, Any]:
    """The rule's block as the daemon uses it; for ``GLOBAL`` pass the ``GlobalSettings``."""
    model = rules if isinstance(rules, GlobalSettings) else getattr(rules, rule.key)
    block = model.model_dump(mode="python")
    assert isinstance(block, dict)
    return block


def money_text(value: Any) -> str:
    return f"{Decimal(str(value)):,.2f}"


def show(field: Field, value: Any) -> str:
    """A value as the console prints it (the same form it accepts as input)."""
    if value is None:
        return "off" if field.nullable or field.optional else "—"
    kind = field.kind
    if kind == "bool":
        return "true" if value else "false"
    if kind == "money":
        return f"{Decimal(str(value)):.2f}"
    if kind == "duration":
        return f"{value} ({format_duration(int(value))})"
    if kind == "time":
        return value.strftime("%H:%M") if hasattr(value, "strftime") else str(value)
    if kind in ("symbols", "days"):
        return ", ".join(str(v) for v in value) or "none"
    if kind == "percents":
        return ", ".join(f"{v}" for v in value) or "none"
    if kind == "symbol_map":
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    if kind == "tiers":
        return " · ".join(
            f"{money_text(t['loss_amount'])} {format_duration(t['cooldown_seconds'])}" for t in value
        )
    if kind == "windows":
        return "; ".join(f"{s} {_window(w)}" for s, w in value.items()) or "none"
    return str(value)


def _hhmm(value: Any) -> str:
    return value.strftime("%H:%M") if hasattr(value, "strftime") else str(value)


def _window(w: dict[str, Any]) -> str:
    days = ",".join(w.get("days") or [])
    return f"{_hhmm(w['start'])}-{_hhmm(w['end'])} {w.get('timezone', '')} {days}".strip()


def key_limits(rule: RuleDef, b: dict[str, Any], sep: str = "·", arrow: str = "→") -> str:
    """The "Key limits" column of the rule list (§8)."""
    n = rule.number
    if n == 1:
        return f"{b['limit']} {b['count_type']}"
    if n == 2:
        limits = f" {sep} ".join(f"{s} {v}" for s, v in b["limits"].items())
        action = b["unknown_symbol_action"].replace("allow_with_limit:", "max ")
        return f"{limits} {sep} others: {action}" if limits else f"others: {action}"
    if n == 3:
        until = "lock until reset" if b["lockout_until"] == "daily_reset" else "lock permanently"
        return f"${money_text(b['loss_limit'])} {sep} {until}"
    if n == 4:
        return f"${money_text(b['loss_limit'])} {b['scope'].replace('_', ' ')}"
    if n == 5:
        if b["mode"] == "breakeven":
            return "breakeven"
        return f"${money_text(b['profit_target'])} {b['scope'].replace('_', ' ')}"
    if n == 6:
        parts = []
        for key, unit in (("per_minute", "min"), ("per_hour", "h"), ("per_session", "session")):
            if b.get(key):
                parts.append(f"{b[key]['limit']}/{unit}")
        return f" {sep} ".join(parts) or "no window"
    if n == 7:
        return f" {sep} ".join(
            f"−${money_text(t['loss_amount'])} {arrow} {format_duration(t['cooldown_seconds'])}"
            for t in b["tiers"]
        )
    if n == 8:
        return f"{b['grace_period_seconds']} s"
    if n == 9:
        w = b["window"]
        text = f"{_hhmm(w['start'])}–{_hhmm(w['end'])} {w['timezone']}"
        if b["respect_holidays"]:
            text += ", holidays"
        if b["per_symbol"]:
            text += f" (+{len(b['per_symbol'])} symbol windows)"
        return text
    if n == 10:
        return "mirror canTrade" + (", auto unlock" if b["auto_unlock_on_restore"] else "")
    if n == 11:
        return ", ".join(b["blocked_symbols"]) or "none"
    if n == 13:
        return f"${money_text(b['max_drawdown'])} {b['mode']} {sep} buffer ${money_text(b['buffer'])}"
    if n == 14:
        parts = []
        if b.get("loss_limit") is not None:
            parts.append(f"loss ${money_text(b['loss_limit'])}")
        if b.get("profit_target") is not None:
            parts.append(f"profit ${money_text(b['profit_target'])}")
        return f" {sep} ".join(parts) + f" per week ({b['pnl']})" if parts else "no limit"
    if n == 15:
        return f"{b['max_losses']} losses in a row"
    parts = []
    if b["auto_stop_loss"]["enabled"]:
        parts.append(f"auto stop {b['auto_stop_loss']['stop_loss_ticks']} t")
    if b["breakeven"]["enabled"]:
        parts.append(f"breakeven {b['breakeven']['trigger_ticks']} t")
    if b["trailing"]["enabled"]:
        parts.append(f"trail {b['trailing']['activation_ticks']}/{b['trailing']['distance_ticks']} t")
    return f" {sep} ".join(parts) or "nothing enabled"


def action_text(rule: RuleDef, b: dict[str, Any]) -> str:
    """The "Action" column: what the daemon does on a breach."""
    n = rule.number
    if n == 1:
        return "close excess" if b["enforcement"] == "reduce_to_limit" else "close all"
    if n == 2:
        return "reduce to limit" if b["enforcement"] == "reduce_to_limit" else "close symbol"
    if n == 3 or n == 10:
        return "close all + lock"
    if n == 4 or n == 5:
        return (
            "close all + lock" if b["scope"] == "total" and b.get("mode") != "breakeven" else "close position"
        )
    if n in (6, 7):
        return "cooldown"
    if n == 8:
        return "close position"
    if n == 9:
        return "close + lock"
    if n == 11:
        return "cancel + close" if b["close_existing"] else "cancel orders"
    if n == 13:
        return "close all + lock"
    if n == 14:
        return "close all + lock until the week ends"
    if n == 15:
        return "cooldown" if b["action"] == "cooldown" else "close all + lock"
    return "move stop"
