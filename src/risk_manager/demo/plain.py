"""``risk-manager demo --no-dashboard``: one readable line per event, not raw JSON.

``14:02:11 CT  1001  RULE-002  reduce position   done      MNQ net contracts 6 > limit 4``

time (the accounts' trading time zone), account, rule, action, outcome and the numbers the rule saw
(its reason). Events: enforcement outcomes, lockouts set and cleared, limits approached (the daemon's
warnings), protection changes (NOT PROTECTED / protected again) and daily resets. The same record
pushed twice prints once (lines are keyed like the dashboard's rows).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from risk_manager.trader.alerts import ACTION_WORDS
from risk_manager.trader.fmt import clock, parse_time, zone, zone_abbrev
from risk_manager.trader.widgets.common import contract_name

FINAL = ("done", "failed", "observed", "interrupted")


class PlainLines:
    def __init__(self, timezone: str = "America/Chicago", now: Callable[[], datetime] | None = None) -> None:
        self.tz = zone(timezone)
        self._now = now or (lambda: datetime.now(UTC))
        self._seen: set[Any] = set()
        self._protection: dict[int, str] = {}

    def line(self, msg: dict[str, Any]) -> str | None:
        kind = msg.get("type")
        data = msg.get("data") if isinstance(msg.get("data"), dict) else {}
        assert isinstance(data, dict)
        account = msg.get("accountId")
        when = parse_time(msg.get("ts")) or self._now()
        stamp = f"{clock(when, self.tz)} {zone_abbrev(when, self.tz)}"
        if kind == "snapshot":
            for acct in data.get("accounts") or []:
                if isinstance(acct, dict) and isinstance(acct.get("accountId"), int):
                    self._protection[acct["accountId"]] = str(acct.get("protection"))
            return None
        if kind == "enforcement":
            state = str(data.get("state"))
            key: tuple[Any, ...] = ("enf", account, data.get("id"), state)
            if state not in FINAL or key in self._seen:
                return None
            self._seen.add(key)
            outcome = "observed (not enforced)" if state == "observed" else state
            action = ACTION_WORDS.get(str(data.get("action")), str(data.get("action")))
            raw = data.get("target")
            target = f" {contract_name(raw) if isinstance(raw, str) else f'order {raw}'}" if raw else ""
            return self._fmt(
                stamp, account, data.get("ruleId"), f"{action}{target}", outcome, data.get("reason")
            )
        if kind == "lockout_set":
            key = ("lock", account, data.get("lockoutId"), data.get("until"))
            if key in self._seen:
                return None
            self._seen.add(key)
            until = parse_time(data.get("until"))
            end = (
                "until an administrator unlocks"
                if until is None
                else f"until {clock(until, self.tz)} {zone_abbrev(until, self.tz)}"
            )
            what = {"cooldown": "cooldown", "reduce_only": "exits only"}.get(str(data.get("kind")), "lock")
            scope = f" {data.get('symbol')}" if data.get("symbol") else ""
            return self._fmt(
                stamp, account, data.get("ruleId"), f"{what}{scope}", f"set {end}", data.get("reason")
            )
        if kind == "lockout_cleared":
            key = ("clear", account, data.get("lockoutId"), data.get("clearedAt"))
            if key in self._seen:
                return None
            self._seen.add(key)
            return self._fmt(
                stamp,
                account,
                data.get("ruleId"),
                "unlock",
                f"cleared ({data.get('clearedBy')})",
                data.get("reason"),
            )
        if kind == "warning":
            return self._fmt(
                stamp, account, data.get("ruleId"), "warning", "limit approached", data.get("message")
            )
        if kind == "connection" and isinstance(account, int):
            state = str(data.get("protection"))
            before = self._protection.get(account)
            self._protection[account] = state
            if state == before:
                return None
            outcome = "protected" if state in ("protected", "degraded") else "NOT PROTECTED"
            if before is None and outcome == "protected":
                return None
            return self._fmt(stamp, account, "-", "connection", outcome, data.get("reason"))
        if kind == "daily_reset":
            previous = data.get("previousPnl") or {}
            return self._fmt(
                stamp,
                account,
                "-",
                "daily reset",
                f"new day {data.get('tradingDay')}",
                f"previous day realized {previous.get('realized')}",
            )
        return None

    @staticmethod
    def _fmt(stamp: str, account: Any, rule: Any, action: str, outcome: str, detail: Any) -> str:
        return f"{stamp}  {account!s:<6} {rule!s:<9} {action:<22} {outcome:<24} {detail or ''}".rstrip()
