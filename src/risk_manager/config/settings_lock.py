"""The settings lock (docs/rules-extra.md §5): once an account's trading day has started, a new
configuration that loosens any of its limits is refused until the next reset; tightening is always
allowed, and loosening can be scheduled for a later trading day with ``pending`` in
risk_config.yaml.

``settings_lock_issues(old, new, now)`` is the one check, shared by every path that replaces the
configuration in force (the daemon's reload, which the admin console and SIGHUP both use). It
compares, per account, the rules in force on the current trading day under the old configuration with
those the new one would put in force (``loosening.py`` says what loosens), plus the account-level
switches (removed, disabled, observe-only, reset time), the global ones (``include_fees``, the lock
itself) and holidays.yaml. Each refusal is a ``ConfigIssue`` naming file, key path and line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from risk_manager.config.issues import ConfigIssue, PathPart, format_path
from risk_manager.config.loader import ACCOUNTS_FILE, HOLIDAYS_FILE, RISK_FILE, AppConfig
from risk_manager.config.loosening import Loosening, Order, loosens, rule_loosenings
from risk_manager.config.models import RULE_KEYS, AccountConfig
from risk_manager.engine.trading_day import next_reset_after, trading_date

FilledToday = Callable[[int], bool]


@dataclass(frozen=True, slots=True)
class _Found:
    account: int
    file: str
    path: tuple[PathPart, ...]
    text: str


def _nested(data: Any, parts: Iterable[PathPart]) -> bool:
    for part in parts:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _account_path(config: AppConfig, account_id: int) -> tuple[PathPart, ...] | None:
    for li, login in enumerate(config.accounts.logins):
        for ai, account in enumerate(login.accounts):
            if account.id == account_id:
                return ("logins", li, "accounts", ai)
    return None


def _where(
    config: AppConfig, account: AccountConfig, day: date, rule: str, path: tuple[str, ...]
) -> tuple[str, tuple[PathPart, ...]] | None:
    """Where ``rules.<rule>.<path>`` is set explicitly for ``account`` in ``config`` (None: a default)."""
    pending = config.risk.pending
    due = pending is not None and config.pending_from is not None and day >= config.pending_from
    field = (rule, *path)
    if due and pending is not None and _nested(pending.rule_overrides.get(account.id), field):
        return RISK_FILE, ("pending", "rule_overrides", account.id, *field)
    if _nested(account.rule_overrides, field):
        where = _account_path(config, account.id)
        if where is not None:
            return ACCOUNTS_FILE, (*where, "rule_overrides", *field)
    if due and pending is not None and _nested(pending.rules, field):
        return RISK_FILE, ("pending", "rules", *field)
    risk = config.documents.get(RISK_FILE)
    if risk is not None and _nested(risk.data, ("rules", *field)):
        return RISK_FILE, ("rules", *field)
    return None


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return "(changed)"
    return str(value)


def _rule_findings(
    old: AppConfig, new: AppConfig, account: AccountConfig, new_account: AccountConfig, day: date
) -> list[_Found]:
    before = old.rules_in_force(account.id, day).model_dump()
    after = new.rules_in_force(account.id, day).model_dump()
    out: list[_Found] = []
    for rule in RULE_KEYS:
        for change in rule_loosenings(rule, before[rule], after[rule]):
            where = _where(new, new_account, day, rule, change.path) or _where(
                old, account, day, rule, change.path
            )
            file, path = where or (RISK_FILE, ("rules", rule, *change.path))
            out.append(_Found(account.id, file, path, _describe(change)))
    return out


def _describe(change: Loosening) -> str:
    key = ".".join((change.rule, *change.path))
    return f"{key} {_show(change.old)} -> {_show(change.new)} ({change.why})"


def _account_findings(old: AppConfig, new: AppConfig, account: AccountConfig, day: date) -> list[_Found]:
    where = _account_path(old, account.id) or ()
    try:
        _, now = new.account(account.id)
    except KeyError:
        return [
            _Found(
                account.id,
                ACCOUNTS_FILE,
                ("logins",),
                f"account {account.id} removed (it would no longer be protected)",
            )
        ]
    new_where = _account_path(new, account.id) or where
    out: list[_Found] = []
    if not now.enabled:
        out.append(
            _Found(
                account.id,
                ACCOUNTS_FILE,
                (*new_where, "enabled"),
                "enabled true -> false (no longer protected)",
            )
        )
        return out
    if now.observe_only and not account.observe_only:
        out.append(
            _Found(
                account.id,
                ACCOUNTS_FILE,
                (*new_where, "observe_only"),
                "observe_only false -> true (no enforcement)",
            )
        )
    for name in ("reset_time", "timezone"):
        a, b = getattr(account, name), getattr(now, name)
        if a != b:
            text = f"{name} {_show(a)} -> {_show(b)} (moves the reset: not provably tighter)"
            out.append(_Found(account.id, ACCOUNTS_FILE, (*new_where, name), text))
    out += _rule_findings(old, new, account, now, day)
    return out


def _global_findings(old: AppConfig, new: AppConfig) -> list[tuple[str, tuple[PathPart, ...], str]]:
    out: list[tuple[str, tuple[PathPart, ...], str]] = []
    a, b = old.risk.global_, new.risk.global_
    checks = (
        (("include_fees",), a.include_fees, b.include_fees, (True, False)),
        (("settings_lock", "enabled"), a.settings_lock.enabled, b.settings_lock.enabled, (True, False)),
        (
            ("settings_lock", "engage"),
            a.settings_lock.engage,
            b.settings_lock.engage,
            ("at_reset", "first_fill"),
        ),
    )
    for path, was, now, order in checks:
        why = loosens(Order(order), was, now)
        if why:
            text = f"global.{'.'.join(path)} {_show(was)} -> {_show(now)} ({why})"
            out.append((RISK_FILE, ("global", *path), text))
    gone = sorted(old.holidays - new.holidays)
    if gone:
        days = ", ".join(d.isoformat() for d in gone)
        out.append((HOLIDAYS_FILE, ("holidays",), f"holidays removed: {days} (sessions would open on them)"))
    return out


def settings_lock_issues(
    old: AppConfig, new: AppConfig, now: datetime, filled_today: FilledToday | None = None
) -> list[ConfigIssue]:
    """Why ``new`` may not replace ``old`` now (empty: it may). ``filled_today(account_id)`` says
    whether the account has had a fill this trading day (for ``engage: first_fill``)."""
    lock = old.risk.global_.settings_lock
    if not lock.enabled:
        return []
    engaged: list[tuple[AccountConfig, date, datetime]] = []
    for _login, account in old.account_configs():
        if not account.enabled:
            continue
        if lock.engage == "first_fill" and not (filled_today is not None and filled_today(account.id)):
            continue
        tz = account.zone()
        engaged.append(
            (
                account,
                trading_date(now, account.reset_time, tz),
                next_reset_after(now, account.reset_time, tz),
            )
        )
    if not engaged:
        return []
    found: list[_Found] = []
    for account, day, _ in engaged:
        found += _account_findings(old, new, account, day)
    for file, path, text in _global_findings(old, new):
        found += [_Found(account.id, file, path, text) for account, _, _ in engaged]
    return _issues(new, found, {a.id: (day, reset, a) for a, day, reset in engaged})


def _issues(
    new: AppConfig, found: list[_Found], engaged: dict[int, tuple[date, datetime, AccountConfig]]
) -> list[ConfigIssue]:
    grouped: dict[tuple[str, tuple[PathPart, ...], str], list[int]] = {}
    for f in found:
        grouped.setdefault((f.file, f.path, f.text), []).append(f.account)
    issues: list[ConfigIssue] = []
    for (file, path, text), accounts in grouped.items():
        ids = sorted(set(accounts))
        day, reset, account = min((engaged[i] for i in ids), key=lambda e: e[1])
        local = reset.astimezone(account.zone()).strftime("%Y-%m-%d %H:%M %Z")
        utc = reset.strftime("%Y-%m-%dT%H:%MZ") if reset.utcoffset() == timedelta(0) else reset.isoformat()
        who = f"account {ids[0]}" if len(ids) == 1 else f"accounts {', '.join(map(str, ids))}"
        message = (
            f"loosening is locked until {local} ({utc}, the next reset of {who}): {text}; tightening is "
            f"allowed now, and this change can be scheduled with `pending: {{from: {day + timedelta(days=1)}, "
            "...}` in risk_config.yaml"
        )
        doc = new.documents.get(file)
        issues.append(ConfigIssue(file, format_path(path), doc.line_of(path) if doc else None, message))
    return issues
