"""Which events become a toast, a terminal bell or a desktop notification (trader-cli.md §8.2).

Decided once per event: a lockout alerts once per lockout id, an enforcement record once per record id
when it reaches its outcome, the 80 % alert once per rule, limit, account and trading day (dropping
below and crossing again does not repeat it). Repeated pushes of the same record therefore never make
a second toast or bell. Figures already at or above 80 % when the dashboard connects are the baseline:
they are visible in colour, and only a crossing seen live is announced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from risk_manager.trader.fmt import money
from risk_manager.trader.model import FINAL_STATES, AccountView, Delta

ALERT_PCT = 80.0
STICKY = 24 * 3600.0  # "stays until dismissed"

CLEARED_BY = {
    "expiry": "lockout ended",
    "daily_reset": "daily reset",
    "admin": "unlocked by an administrator",
    "condition": "condition cleared",
    "restore": "restored",
}
ACTION_WORDS = {
    "close_position": "close position",
    "close_all": "close all",
    "cancel_order": "cancel order",
    "cancel_all": "cancel all",
    "reduce_position": "reduce position",
    "place_stop": "place stop",
    "modify_stop": "move stop",
    "lockout": "lock",
    "unlock": "unlock",
}


@dataclass(frozen=True)
class Alert:
    title: str
    text: str
    severity: str  # Textual toast severity: information | warning | error
    timeout: float
    bell: bool = False
    desktop: bool = False


def _limit_text(item: dict[str, Any], value: Any) -> str:
    if item.get("unit") == "money":
        return money(value, signed=False)
    return str(value)


def rule_alert_text(rule: dict[str, Any], item: dict[str, Any]) -> str:
    pct = float(item.get("pctUsed") or 0)
    label = item.get("label") or ""
    per = (
        f" {label}"
        if label.startswith("per ")
        else (f" on {label}" if label and label not in ("realized", "total", "net", "gross") else "")
    )
    return (
        f"{rule.get('name') or rule.get('ruleId')} at {pct:.0f} % "
        f"({_limit_text(item, item.get('value'))} of {_limit_text(item, item.get('limit'))}{per})"
    )


class AlertPolicy:
    def __init__(self) -> None:
        self._crossed: set[tuple[int, str, str, str]] = set()
        self._locks: set[tuple[int, str, str]] = set()
        self._enforced: set[tuple[int, Any]] = set()

    def baseline(self, view: AccountView) -> None:
        """Mark what is already at or over 80 % (or already locked) when a snapshot arrives."""
        day = str(view.info.get("tradingDay"))
        for rule in view.rules.values():
            for item in rule.get("limits") or []:
                if float(item.get("pctUsed") or 0) >= ALERT_PCT:
                    self._crossed.add((view.account_id, str(rule.get("ruleId")), str(item.get("key")), day))
        for lock in view.lockouts.values():
            self._locks.add((view.account_id, str(lock.get("lockoutId")), str(lock.get("until"))))
        for key, entry in view.enforcement.items():
            if entry.get("state") in FINAL_STATES:
                self._enforced.add((view.account_id, key))

    def consume(self, delta: Delta, view: AccountView) -> list[Alert]:
        out: list[Alert] = []
        for kind, before, after in delta.events:
            if kind == "rule":
                out += self._rule(view, before, after)
            elif kind == "lockout_set":
                out += self._lockout(view, after)
            elif kind == "lockout_cleared" and before is not None:
                why = CLEARED_BY.get(str(after.get("clearedBy")), "lockout cleared")
                if after.get("clearedBy") == "expiry" and before.get("kind") == "cooldown":
                    why = "cooldown ended"
                out.append(Alert("Lockout cleared", f"Trading allowed again ({why})", "information", 5.0))
            elif kind == "enforcement":
                out += self._enforcement(view, after)
            elif kind == "protection":
                out += self.protection(view, before, after)
        return out

    def _rule(self, view: AccountView, before: dict[str, Any] | None, after: dict[str, Any]) -> list[Alert]:
        if not after.get("enabled", True):
            return []
        day = str(view.info.get("tradingDay"))
        old = {str(i.get("key")): float(i.get("pctUsed") or 0) for i in (before or {}).get("limits") or []}
        out = []
        for item in after.get("limits") or []:
            pct = float(item.get("pctUsed") or 0)
            key = (view.account_id, str(after.get("ruleId")), str(item.get("key")), day)
            if pct < ALERT_PCT or key in self._crossed:
                continue
            self._crossed.add(key)
            if old.get(str(item.get("key")), 0.0) >= ALERT_PCT or pct > 100:
                continue  # not a crossing seen here, or already a breach (the enforcement says more)
            out.append(Alert("Approaching a limit", rule_alert_text(after, item), "warning", 8.0, True, True))
        return out

    def _lockout(self, view: AccountView, lock: dict[str, Any]) -> list[Alert]:
        key = (view.account_id, str(lock.get("lockoutId")), str(lock.get("until")))
        if key in self._locks:
            return []
        self._locks.add(key)
        observed = bool(lock.get("observed"))
        until = lock.get("until")
        when = "until an administrator unlocks" if until is None else f"until {until}"
        text = f"{lock.get('ruleId')}: {lock.get('reason')} — {when}"
        if observed:
            return [Alert("Lockout observed (not enforced)", text, "warning", 8.0)]
        if lock.get("kind") == "reduce_only":  # the ladder's rung: a warning, exits stay open
            text += " · new entries are cancelled or closed; closing positions is allowed"
            return [Alert("EXITS ONLY", text, "warning", STICKY, True, True)]
        return [Alert("LOCKED", text, "error", STICKY, True, True)]

    def _enforcement(self, view: AccountView, entry: dict[str, Any]) -> list[Alert]:
        if entry.get("state") not in FINAL_STATES:
            return []
        key = (view.account_id, entry.get("id") if entry.get("id") is not None else id(entry))
        if key in self._enforced:
            return []
        self._enforced.add(key)
        action = ACTION_WORDS.get(str(entry.get("action")), str(entry.get("action")))
        state = str(entry.get("state"))
        result = "observed — not enforced" if state == "observed" else state
        severity = (
            "error"
            if state in ("failed", "interrupted") or entry.get("action") in ("close_all", "close_position")
            else "warning"
        )
        text = f"{entry.get('ruleId')} {action}: {result} — {entry.get('reason') or ''}"
        return [Alert("Enforcement", text, severity, 8.0)]

    @staticmethod
    def protection(view: AccountView, before: str, after: str) -> list[Alert]:
        if before == after:
            return []
        if after in ("protected", "degraded") and before not in ("protected", "degraded"):
            return [
                Alert("Protected", "Account protected again — the risk manager can act.", "information", 5.0)
            ]
        if after not in ("protected", "degraded") and before in ("protected", "degraded"):
            reason = view.connection.get("reason") or after
            return [
                Alert("NOT PROTECTED", f"The risk manager cannot act: {reason}", "error", STICKY, True, True)
            ]
        return []
