"""Lockout records and the per-account book that keeps them (spec/rules.md §2).

A lockout is a record, not a flag: an account may hold many (one per rule, scope and symbol), each
with its own kind and end. A new record never shortens an existing one of the same rule and scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from risk_manager.engine.timefmt import iso


class LockoutScope(StrEnum):
    ACCOUNT = "account"
    SYMBOL = "symbol"


class LockoutKind(StrEnum):
    """How a lockout ends (spec/rules.md §2)."""

    UNTIL_RESET = "until_reset"
    UNTIL_SESSION_START = "until_session_start"
    COOLDOWN = "cooldown"
    INDEFINITE = "indefinite"
    PERMANENT = "permanent"
    #: RULE-014: until the first trading day of the next trading week (docs/rules-extra.md)
    UNTIL_WEEK_END = "until_week_end"
    #: the action ladder's middle rung: exits only, until the end of the rule's period
    REDUCE_ONLY = "reduce_only"

    @property
    def clears_on(self) -> str:
        """What ends it, in the local API's and the database's words: reset, time, condition, admin."""
        return _CLEARS_ON[self]

    @property
    def family(self) -> str:
        """As shown to users: ``cooldown`` (blocks new exposure beyond what was held), ``reduce_only``
        (blocks any new exposure, exits allowed) or ``hard`` (blocks everything)."""
        if self is LockoutKind.COOLDOWN:
            return "cooldown"
        if self is LockoutKind.REDUCE_ONLY:
            return "reduce_only"
        return "hard"

    @classmethod
    def from_columns(cls, family: str, clears_on: str) -> LockoutKind:
        """The inverse of (``family``, ``clears_on``); unknown pairs read as ``indefinite``.

        (hard, time) reads as ``until_session_start``; the database keeps the exact kind in
        ``lockouts.engine_kind`` since schema 2, which is preferred when present."""
        if family == "cooldown":
            return cls.COOLDOWN
        if family == "reduce_only":
            return cls.REDUCE_ONLY
        for kind in cls:
            if kind.family == family and kind.clears_on == clears_on:
                return kind
        return cls.INDEFINITE


_CLEARS_ON = {
    LockoutKind.UNTIL_RESET: "reset",
    LockoutKind.UNTIL_SESSION_START: "time",
    LockoutKind.COOLDOWN: "time",
    LockoutKind.INDEFINITE: "condition",
    LockoutKind.PERMANENT: "admin",
    LockoutKind.UNTIL_WEEK_END: "time",
    LockoutKind.REDUCE_ONLY: "time",
}


_SOFT = frozenset({LockoutKind.COOLDOWN, LockoutKind.REDUCE_ONLY})


class ClearedBy(StrEnum):
    """Why a lockout ended (the ``cleared_by`` of its record and of the ``lockout_cleared`` push)."""

    EXPIRY = "expiry"
    DAILY_RESET = "daily_reset"
    CONDITION = "condition"
    ADMIN = "admin"
    RESTORE = "restore"


@dataclass(slots=True)
class Lockout:
    id: str
    account_id: int
    rule: str
    scope: LockoutScope
    kind: LockoutKind
    until: datetime | None
    reason: str
    created: datetime
    symbol: str | None = None
    # For cooldowns: signed position sizes held when the cooldown began (exposure baseline).
    baseline: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Records read back from the database or a test carry plain strings.
        self.scope = LockoutScope(self.scope)
        self.kind = LockoutKind(self.kind)

    @property
    def key(self) -> tuple[str, str, str | None, bool]:
        """(rule, scope, symbol, rung): a rule's reduce-only rung is a record of its own, so the
        rule's full action can stand beside it (and outlast it) without either shortening the other."""
        return (self.rule, self.scope, self.symbol, self.kind is LockoutKind.REDUCE_ONLY)

    @property
    def hard(self) -> bool:
        """Account-wide and blocking everything (every kind but a cooldown or a reduce-only rung)."""
        return self.scope == LockoutScope.ACCOUNT and self.kind not in _SOFT

    def over(self, now: datetime) -> bool:
        return self.until is not None and now >= self.until

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scope": self.scope}
        if self.symbol is not None:
            out["symbol"] = self.symbol
        out["kind"] = self.kind
        out["until"] = iso(self.until)
        return out

    def record(self) -> dict[str, Any]:
        """The full record, for persistence and the local API."""
        return {
            "id": self.id,
            "accountId": self.account_id,
            "rule": self.rule,
            "scope": self.scope,
            "symbol": self.symbol,
            "kind": self.kind,
            "until": iso(self.until),
            "reason": self.reason,
            "created": iso(self.created),
            "baseline": dict(self.baseline),
        }


def later(a: datetime | None, b: datetime | None) -> datetime | None:
    """The later of two ends, where None means never."""
    if a is None or b is None:
        return None
    return a if a >= b else b


class LockoutBook:
    """Lockouts of one account, keyed by (rule, scope, symbol)."""

    __slots__ = ("_records",)

    def __init__(self) -> None:
        self._records: dict[tuple[str, str, str | None, bool], Lockout] = {}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._records.values()))

    def __len__(self) -> int:
        return len(self._records)

    def active(self) -> list[Lockout]:
        return list(self._records.values())

    def get(self, rule: str, scope: str, symbol: str | None = None, *, rung: bool = False) -> Lockout | None:
        """The record of ``rule`` at ``scope``; ``rung=True``: its reduce-only rung instead."""
        return self._records.get((rule, scope, symbol, rung))

    def add(self, new: Lockout) -> Lockout | None:
        """Insert or extend; returns the record now in force when it changed, None when it did not.

        Never shortens: the later ``until`` wins (None = never ends), and the kind follows it.
        """
        existing = self._records.get(new.key)
        if existing is None:
            self._records[new.key] = new
            return new
        end = later(existing.until, new.until)
        if end == existing.until and (existing.kind == new.kind or end != new.until):
            return None
        existing.until = end
        if end == new.until:
            existing.kind = new.kind
            existing.reason = new.reason
        return existing

    def remove(self, rule: str, scope: str, symbol: str | None = None) -> Lockout | None:
        return self._records.pop((rule, scope, symbol, False), None)

    def remove_record(self, record: Lockout) -> None:
        self._records.pop(record.key, None)

    def hard(self) -> Lockout | None:
        for rec in self._records.values():
            if rec.hard:
                return rec
        return None

    def has_hard(self) -> bool:
        return any(rec.hard for rec in self._records.values())

    def symbol_locks(self) -> list[Lockout]:
        return [r for r in self._records.values() if r.scope == LockoutScope.SYMBOL]

    def cooldowns(self) -> list[Lockout]:
        return [r for r in self._records.values() if r.kind == LockoutKind.COOLDOWN and r.scope == LockoutScope.ACCOUNT]

    def reduce_only(self) -> Lockout | None:
        """A reduce-only rung in force (account scope), if any."""
        for rec in self._records.values():
            if rec.kind is LockoutKind.REDUCE_ONLY and rec.scope == LockoutScope.ACCOUNT:
                return rec
        return None

    def expired(self, now: datetime) -> list[Lockout]:
        return [r for r in self._records.values() if r.over(now)]

    def next_end(self) -> datetime | None:
        ends = [r.until for r in self._records.values() if r.until is not None]
        return min(ends) if ends else None
