"""Lockouts (admin-cli.md §11): the live list, manual unlock through the daemon, the history.

The list comes from the daemon's snapshot; when it does not answer, from the database with a notice
(unlocking then waits for the daemon). An unlock needs the password-authenticated admin session and a
reason of at least 10 characters; it writes no files, so no OS administrator rights are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from risk_manager.admin import exits
from risk_manager.admin.context import AdminContext
from risk_manager.admin.daemon_client import DaemonError, DaemonUnavailable
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.logs import stored_lockouts
from risk_manager.admin.rule_fields import RULES

MIN_REASON = 10
RULE_TITLES = {rule.rule_id: f"{rule.number} {rule.title}" for rule in RULES}


@dataclass
class LockoutRow:
    account: int
    lockout_id: str
    rule: str
    scope: str
    since: str
    until: str | None
    clears_on: str
    reason: str
    observed: bool
    can_trade: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def left_text(until: str | None, now: datetime | None = None) -> str:
    end = _parse(until)
    if end is None:
        return "—"
    seconds = int((end - (now or datetime.now(UTC))).total_seconds())
    if seconds <= 0:
        return "0s"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s"


def local_time(ts: str | None) -> str:
    moment = _parse(ts)
    return moment.astimezone().strftime("%H:%M:%S") if moment else "—"


def until_text(row: LockoutRow) -> str:
    if row.clears_on in ("admin",) or row.until is None:
        return "permanent" if row.clears_on == "admin" else "until condition clears"
    text = local_time(row.until)
    return f"{text} (reset)" if row.clears_on == "reset" else text


def live_lockouts(ctx: AdminContext) -> tuple[list[LockoutRow], bool]:
    """``(rows, from_daemon)``; from the database when the daemon does not answer."""
    snap = ctx.daemon_snapshot()
    if snap is not None:
        rows = []
        for account in snap.get("accounts") or []:
            for lock in account.get("lockouts") or []:
                rows.append(
                    LockoutRow(
                        account=int(account.get("accountId")),
                        lockout_id=str(lock.get("lockoutId")),
                        rule=str(lock.get("ruleId")),
                        scope=str(lock.get("scope")) + (f" {lock['symbol']}" if lock.get("symbol") else ""),
                        since=str(lock.get("createdAt")),
                        until=lock.get("until"),
                        clears_on=str(lock.get("clearsOn")),
                        reason=str(lock.get("reason") or ""),
                        observed=bool(lock.get("observed")),
                        can_trade=account.get("canTrade"),
                    )
                )
        return rows, True
    try:
        stored = stored_lockouts(ctx.data_dir, active=True)
    except (OSError, Exception):
        stored = []
    return [
        LockoutRow(
            account=int(r["accountId"]),
            lockout_id=str(r["lockoutId"]),
            rule=str(r["ruleId"]),
            scope=str(r["scope"]) + (f" {r['symbol']}" if r.get("symbol") else ""),
            since=str(r["createdAt"]),
            until=r["until"],
            clears_on=str(r["clearsOn"]),
            reason=str(r["reason"] or ""),
            observed=False,
        )
        for r in stored
    ], False


def condition_still_true(ctx: AdminContext, row: LockoutRow) -> bool:
    """Broker permission still off (RULE-010) or the symbol still blocked (RULE-011)."""
    if row.rule == "RULE-010":
        return row.can_trade is False
    if row.rule == "RULE-011":
        symbol = row.scope.split(" ", 1)[1] if " " in row.scope else ""
        try:
            rules = ctx.files.current().rules_for(row.account)
        except Exception:
            return True
        return symbol in rules.symbol_blocks.blocked_symbols and rules.symbol_blocks.enabled
    return False


def unlock(
    ctx: AdminContext, account: int, reason: str, *, lockout_id: str | None = None, rule: str | None = None
) -> dict[str, Any]:
    """The authenticated ``unlock`` (one lockout, one rule's, or all of the account's)."""
    if len(reason.strip()) < MIN_REASON:
        raise AdminExit(exits.USAGE, f"The reason must be at least {MIN_REASON} characters.")
    client = ctx.daemon_admin()
    data: dict[str, Any] = {"accountId": account, "reason": reason.strip(), "osUser": ctx.os_user}
    if lockout_id is not None:
        data["lockoutId"] = lockout_id
    elif rule is not None:
        data["ruleId"] = rule
    else:
        data["all"] = True
    target = f"account {account} " + (
        f"lockout {lockout_id}" if lockout_id else f"rule {rule}" if rule else "all"
    )
    try:
        answer = client.request("unlock", data)
    except DaemonError as exc:
        ctx.audit("lockout_unlocked", target=target, reason=reason, outcome=f"{exc.code}: {exc.message}")
        code = (
            exits.NOT_FOUND
            if exc.code == "not_found"
            else exits.USAGE
            if exc.code == "bad_request"
            else exits.RUNTIME
        )
        raise AdminExit(code, f"The daemon refused the unlock: {exc.message}") from None
    except DaemonUnavailable as exc:
        raise AdminExit(exits.DAEMON_UNREACHABLE, str(exc)) from None
    ctx.audit("lockout_unlocked", target=target, reason=reason, after={"cleared": answer.get("cleared")})
    return answer


def history(ctx: AdminContext, day: str | None = None) -> list[dict[str, Any]]:
    """Today's lockouts (set or cleared today), newest first, from the database."""
    day = day or datetime.now(UTC).date().isoformat()
    return stored_lockouts(ctx.data_dir, active=False, day=day)
