"""Editing one rule in one scope (Defaults or one account's overrides) on round-trip documents.

Defaults live in ``risk_config.yaml › rules.<rule>``; an account's overrides in ``accounts.yaml ›
logins[i].accounts[j].rule_overrides.<rule>`` (rules.md §5). The global settings (``GLOBAL``: the
settings lock, fees, warning levels) are edited the same way in ``risk_config.yaml › global``. Every change is validated at once with
the daemon's loader; an invalid change is undone and reported, so the documents in memory are always
a valid configuration. The diff, the weakening check and the audit's before/after all compare the
state at the start of the edit with the state now.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import time
from decimal import Decimal
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from risk_manager.admin.config_files import ConfigFiles, SaveRefused, dump, load_text
from risk_manager.admin.rule_fields import (
    GLOBAL,
    STRONG_DISABLE,
    Field,
    RuleDef,
    effective_block,
    get_path,
    has_path,
    show,
)
from risk_manager.admin.values import money_value
from risk_manager.config.loader import ACCOUNTS_FILE, RISK_FILE, AppConfig
from risk_manager.config.models import FrequencyWindow, GlobalSettings, RulesConfig, SessionFrequency

WINDOW_DEFAULTS = {
    "per_minute": FrequencyWindow(limit=3, cooldown_seconds=60).model_dump(),
    "per_hour": FrequencyWindow(limit=30, cooldown_seconds=1800).model_dump(),
    "per_session": SessionFrequency(limit=50).model_dump(),
}


@dataclass(frozen=True)
class Scope:
    account_id: int | None = None

    @property
    def label(self) -> str:
        return "Defaults" if self.account_id is None else f"account {self.account_id}"

    @property
    def file(self) -> str:
        return RISK_FILE if self.account_id is None else ACCOUNTS_FILE


@dataclass(frozen=True)
class Change:
    key: str
    before: str | None  # None: not in the file before
    after: str | None  # None: removed from the file


@dataclass(frozen=True)
class Weakening:
    field: str
    text: str
    strong: bool


def _flow(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):  # the only decimals in a rule block are money amounts
        return _money_text(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return str(value)


def _money_text(value: Any) -> str:
    text = str(value)
    try:
        return f"{Decimal(text):.2f}"
    except ArithmeticError:
        return text


def flatten(block: Any, prefix: str = "") -> dict[str, str]:
    """``{"per_minute.limit": "3", ...}``: leaves of a rule block as YAML-ish text (lists kept whole)."""
    out: dict[str, str] = {}
    if not isinstance(block, dict):
        return out
    for key, value in block.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and key not in ("limits", "per_symbol"):
            out.update(flatten(value, path + "."))
        elif isinstance(value, float):
            out[path] = _money_text(value)
        else:
            out[path] = _flow(value)
    return out


class RuleEditor:
    """In-memory edit session over risk_config.yaml and accounts.yaml for one scope."""

    def __init__(self, files: ConfigFiles, scope: Scope) -> None:
        self.files = files
        self.scope = scope
        self.original = {name: files.text(name) or "" for name in (RISK_FILE, ACCOUNTS_FILE)}
        self.docs = {name: files.document(name) for name in (RISK_FILE, ACCOUNTS_FILE)}
        self.config = files.validate(self.texts())  # raises SaveRefused when the files are already bad
        self.start_rules = self.rules()
        self.start_global = self.config.risk.global_
        if scope.account_id is not None and self._account() is None:
            raise KeyError(scope.account_id)

    # ----- documents ------------------------------------------------------------------------------------
    def texts(self) -> dict[str, str]:
        return {name: dump(doc) if doc else self.original[name] for name, doc in self.docs.items()}

    def changed_texts(self) -> dict[str, str]:
        return {name: text for name, text in self.texts().items() if text != self.original[name]}

    def _account(self) -> CommentedMap | None:
        for login in self.docs[ACCOUNTS_FILE].get("logins") or []:
            for account in login.get("accounts") or []:
                if account.get("id") == self.scope.account_id:
                    return account  # type: ignore[no-any-return]
        return None

    def region(self, rule: RuleDef, *, create: bool = False) -> CommentedMap | None:
        """The mapping in the file that holds this rule's keys for the scope."""
        if rule is GLOBAL:
            doc = self.docs[RISK_FILE]
            if doc.get("global") is None:
                if not create:
                    return None
                doc.insert(1 if "version" in doc else 0, "global", CommentedMap())
            return doc["global"]  # type: ignore[no-any-return]
        if self.scope.account_id is None:
            parent = self.docs[RISK_FILE]
            if "rules" not in parent or parent["rules"] is None:
                if not create:
                    return None
                parent["rules"] = CommentedMap()
            parent = parent["rules"]
        else:
            account = self._account()
            assert account is not None
            if account.get("rule_overrides") is None:
                if not create:
                    return None
                overrides = CommentedMap()
                overrides.fa.set_flow_style()
                account["rule_overrides"] = overrides
            parent = account["rule_overrides"]
        if rule.key not in parent or parent[rule.key] is None:
            if not create:
                return None
            block = CommentedMap()
            if self.scope.account_id is not None:
                block.fa.set_flow_style()
            parent[rule.key] = block
        return parent[rule.key]  # type: ignore[no-any-return]

    def rules(self, config: AppConfig | None = None) -> RulesConfig:
        config = config or self.config
        if self.scope.account_id is None:
            return config.risk.rules
        return config.rules_for(self.scope.account_id)

    def default_rules(self) -> RulesConfig:
        return self.config.risk.rules

    def source(self, rule: RuleDef, config: AppConfig | None = None) -> RulesConfig | GlobalSettings:
        """What ``effective_block`` reads for ``rule``: the rules in scope, or the global settings."""
        if rule is GLOBAL:
            return (config or self.config).risk.global_
        return self.rules(config)

    def overridden(self, rule: RuleDef, field: Field) -> bool:
        if self.scope.account_id is None:
            return False
        region = self.region(rule)
        return region is not None and has_path(region, field.key)

    # ----- changes --------------------------------------------------------------------------------------
    def _apply(self, mutate: Any) -> AppConfig:
        """Run ``mutate``; keep it only if the whole configuration still validates."""
        saved = {name: dump(doc) if doc else self.original[name] for name, doc in self.docs.items()}
        mutate()
        try:
            config = self.files.validate(self.texts())
        except SaveRefused:
            self.docs = {name: load_text(text) if text else {} for name, text in saved.items()}
            raise
        self.config = config
        return config

    def set(self, rule: RuleDef, field: Field, value: Any) -> AppConfig:
        def mutate() -> None:
            region = self.region(rule, create=True)
            assert region is not None
            parts = field.key.split(".")
            node = region
            for part in parts[:-1]:
                if node.get(part) is None:
                    seed = CommentedMap()
                    current = get_path(effective_block(self.source(rule), rule), part)
                    # Defaults: the block is written whole. An account override only carries what
                    # differs, except when it turns on a RULE-006 window that is off (null) in effect:
                    # merged over null, one key alone would be an incomplete window, and the other key
                    # could never be set first either.
                    whole = self.scope.account_id is None
                    if current is None and part in WINDOW_DEFAULTS:
                        current, whole = WINDOW_DEFAULTS[part], True
                    if whole and isinstance(current, dict):
                        for k, v in current.items():
                            seed[k] = yaml_value(v)
                    seed.fa.set_flow_style()
                    node[part] = seed
                node = node[part]
            node[parts[-1]] = value

        return self._apply(mutate)

    def set_off(self, rule: RuleDef, field: Field) -> AppConfig:
        """RULE-006: a window set to null is not checked."""
        parent = field.key.split(".")[0]

        def mutate() -> None:
            region = self.region(rule, create=True)
            assert region is not None
            region[parent] = None

        return self._apply(mutate)

    def unset(self, rule: RuleDef, field: Field | None) -> AppConfig:
        """Remove an account override (one key, or the whole rule when ``field`` is None)."""
        if self.scope.account_id is None:
            raise ValueError("only account overrides can be removed")

        def mutate() -> None:
            account = self._account()
            assert account is not None
            overrides = account.get("rule_overrides")
            if not isinstance(overrides, dict) or rule.key not in overrides:
                return
            if field is None:
                del overrides[rule.key]
                return
            parts = field.key.split(".")
            chain = [overrides[rule.key]]
            for part in parts[:-1]:
                nxt = chain[-1].get(part) if isinstance(chain[-1], dict) else None
                if not isinstance(nxt, dict):
                    return
                chain.append(nxt)
            chain[-1].pop(parts[-1], None)
            for depth in range(len(chain) - 1, 0, -1):
                if not chain[depth]:
                    del chain[depth - 1][parts[depth - 1]]
            if not overrides[rule.key]:
                del overrides[rule.key]

        return self._apply(mutate)

    # ----- review ---------------------------------------------------------------------------------------
    def diff(self, rule: RuleDef) -> list[Change]:
        before_doc = load_text(self.original[self.scope.file]) if self.original[self.scope.file] else {}
        before = flatten(_region_of(before_doc, self.scope, rule))
        after = flatten(self.region(rule))
        return [
            Change(key, before.get(key), after.get(key))
            for key in list(before) + [k for k in after if k not in before]
            if before.get(key) != after.get(key)
        ]

    def _start(self, rule: RuleDef) -> RulesConfig | GlobalSettings:
        return self.start_global if rule is GLOBAL else self.start_rules

    def weakenings(self, rule: RuleDef) -> list[Weakening]:
        old = effective_block(self._start(rule), rule)
        new = effective_block(self.source(rule), rule)
        out = []
        for field in rule.fields:
            text = weakening(rule, field, get_path(old, field.key), get_path(new, field.key), old, new)
            if text is not None:
                out.append(Weakening(field.key, text[0], text[1]))
        return out

    def audit_values(self, rule: RuleDef) -> tuple[dict[str, str], dict[str, str]]:
        old = effective_block(self._start(rule), rule)
        new = effective_block(self.source(rule), rule)
        before, after = {}, {}
        for field in rule.fields:
            a, b = get_path(old, field.key), get_path(new, field.key)
            if a != b:
                before[field.key] = show(field, a)
                after[field.key] = show(field, b)
        return before, after


def yaml_value(value: Any) -> Any:
    """A model value as the config file spells it (times "HH:MM", money with two decimals)."""
    if isinstance(value, time):
        return DoubleQuotedScalarString(value.strftime("%H:%M"))
    if isinstance(value, Decimal):
        return money_value(value)
    if isinstance(value, list):
        seq = CommentedSeq([yaml_value(v) for v in value])
        seq.fa.set_flow_style()
        return seq
    if isinstance(value, dict):
        mapping = CommentedMap((k, yaml_value(v)) for k, v in value.items())
        mapping.fa.set_flow_style()
        return mapping
    return value


def _region_of(doc: Any, scope: Scope, rule: RuleDef) -> Any:
    if rule is GLOBAL:
        return get_path(doc, "global")
    if scope.account_id is None:
        return get_path(doc, f"rules.{rule.key}")
    for login in (doc.get("logins") if isinstance(doc, dict) else None) or []:
        for account in login.get("accounts") or []:
            if account.get("id") == scope.account_id:
                return get_path(account, f"rule_overrides.{rule.key}")
    return None


def _unknown_limit(action: str) -> float:
    if action == "block":
        return 0
    if action == "allow_unlimited":
        return float("inf")
    return int(action.partition(":")[2])


def weakening(
    rule: RuleDef, field: Field, old: Any, new: Any, old_block: dict[str, Any], new_block: dict[str, Any]
) -> tuple[str, bool] | None:
    """``(what, strong)`` when the change reduces protection; strong ones need the typed WEAKEN."""
    if old == new:
        return None
    name = f"{rule.title} › {field.key}"
    how = field.weaker
    if field.key == "enabled":
        if old and not new:
            return f"{rule.title} is turned OFF", rule.number in STRONG_DISABLE
        return None
    if how == "false" and old is True and new is False:
        return f"{name} turned off", False
    if field.nullable and old is not None and new is None:
        return f"{name}: window no longer checked", False
    if how == "higher" and field.kind == "symbol_map":
        raised = [s for s, v in (old or {}).items() if s not in (new or {}) or new[s] > v]
        return (f"{name}: limit raised or removed for {', '.join(raised)}", False) if raised else None
    if how == "higher" and field.kind == "symbol_action":
        return (f"{name}: {old} → {new}", False) if _unknown_limit(new) > _unknown_limit(old) else None
    if field.optional and how == "higher" and old is not None and new is None:
        return f"{name} removed (was {show(field, old)})", False
    if how == "moved" and (old is None) != (new is None):
        return f"{name}: {show(field, old)} → {show(field, new)}", False
    if how == "moved" and old is not None and new is not None and new < old:
        return f"{name} lowered from {show(field, old)} to {show(field, new)}", False
    if how == "higher" and old is not None and new is not None and new > old:
        strong = (
            field.kind == "money"
            and "loss_limit" in field.key
            and Decimal(new) > Decimal(old) * Decimal("1.5")
        )
        return f"{name} raised from {show(field, old)} to {show(field, new)}", strong
    if how == "lower" and old is not None and new is not None and new < old:
        return f"{name} shortened from {show(field, old)} to {show(field, new)}", False
    if how.startswith("stricter:"):
        order = how.partition(":")[2].split(",")
        if old in order and new in order and order.index(new) > order.index(old):
            return f"{name}: {old} → {new}", False
    if how == "removed":
        gone = [s for s in (old or []) if s not in (new or [])]
        return (f"{name}: {', '.join(gone)} no longer blocked", False) if gone else None
    if how == "tiers":
        return _tiers_weaker(name, old or [], new or [])
    return None


def _tiers_weaker(name: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> tuple[str, bool] | None:
    def cooldown_for(tiers: list[dict[str, Any]], loss: Decimal) -> int:
        hits = [t for t in tiers if Decimal(str(t["loss_amount"])) <= loss]
        return max((int(t["cooldown_seconds"]) for t in hits), default=0)

    for tier in old:
        loss = Decimal(str(tier["loss_amount"]))
        if cooldown_for(new, loss) < int(tier["cooldown_seconds"]):
            return f"{name}: a loss of {loss:.2f} now gets a shorter cooldown (or none)", False
    return None


def dumps_json(value: Any) -> str:
    return json.dumps(value, default=str)
