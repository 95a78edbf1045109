"""Account Management actions (admin-cli.md §7), shared by the menu and ``admin accounts …``.

Inputs are already collected (prompts live in the screens, options in the commands); every action
goes through the rights gate, a broker check where the spec asks for one, and save + apply (§7.1).
A key is never printed, logged or put in the audit entry (``api_key: changed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from risk_manager.admin import exits
from risk_manager.admin.accounts_edit import AccountsEditor
from risk_manager.admin.apply import Applied, save_and_apply
from risk_manager.admin.config_files import SaveRefused
from risk_manager.admin.context import AdminContext
from risk_manager.admin.exits import AdminExit
from risk_manager.config.models import TOPSTEPX_URLS


@dataclass(frozen=True)
class NewAccount:
    id: int
    nickname: str
    observe_only: bool


def api_url(ctx: AdminContext) -> str:
    """The broker REST URL of accounts.yaml (the daemon's), TopstepX's when it cannot be read."""
    try:
        doc = ctx.files.document("accounts.yaml")
    except SaveRefused:
        return TOPSTEPX_URLS[0]
    gateway = doc.get("gateway") if isinstance(doc, dict) else None
    if isinstance(gateway, dict) and gateway.get("environment") == "custom" and gateway.get("api_url"):
        return str(gateway["api_url"]).rstrip("/")
    return TOPSTEPX_URLS[0]


def broker_accounts(ctx: AdminContext, user: str, key: str) -> list[dict[str, Any]]:
    """Sign in, then the login's active accounts; AdminExit(8) with the §7 message on failure."""
    from risk_manager.admin.broker import (  # aiohttp: only when used
        BrokerCheck,
        BrokerFailure,
        sign_in_message,
    )

    ui = ctx.ui
    with BrokerCheck(api_url(ctx), user, key) as broker:
        with ui.step("Signing in") as step:
            try:
                broker.sign_in()
                step.done = "Signed in"
            except BrokerFailure as failure:
                step.failed = sign_in_message(failure)
        if step.failed is not None:
            raise AdminExit(exits.BROKER)
        with ui.step("Fetching accounts") as step:
            try:
                accounts = broker.accounts()
                step.done = f"{len(accounts)} active account{'s' if len(accounts) != 1 else ''}"
            except BrokerFailure as failure:
                step.failed = f"Fetching accounts failed: {failure.reason}."
        if step.failed is not None:
            raise AdminExit(exits.BROKER)
    if not accounts:
        raise AdminExit(exits.BROKER, "The broker returned no active accounts for this login.")
    return accounts


def check_key(
    ctx: AdminContext, user: str, key: str, label: str = "Signing in with the new key"
) -> str | None:
    """None when the key signs in, else the failure message."""
    from risk_manager.admin.broker import BrokerCheck, BrokerFailure, sign_in_message

    with BrokerCheck(api_url(ctx), user, key) as broker, ctx.ui.step(label) as step:
        try:
            broker.sign_in()
            step.done = "Signed in"
        except BrokerFailure as failure:
            step.failed = sign_in_message(failure)
    return step.failed


def _apply(ctx: AdminContext, editor: AccountsEditor, interactive: bool, **what: Any) -> Applied:
    texts = editor.changed_texts()
    if not texts:
        raise AdminExit(exits.OK, "Nothing to save.", kind="plain")
    for note in editor.notes:
        ctx.ui.warn(note)
    return save_and_apply(ctx, texts, interactive=interactive, **what)


def _protecting(ctx: AdminContext, account_id: int) -> str | None:
    snap = ctx.daemon_snapshot()
    for account in (snap or {}).get("accounts") or []:
        if account.get("accountId") == account_id:
            return str(account.get("protection"))
    return None


def add_accounts(
    ctx: AdminContext,
    user: str,
    new: list[NewAccount],
    *,
    key: str | None,
    interactive: bool,
) -> None:
    """Add accounts (and the login with its key when new) after the broker confirmed them."""
    ctx.require_rights()
    editor = AccountsEditor(ctx.files)
    configured = editor.configured_ids()
    for account in new:
        if account.id in configured:
            raise AdminExit(exits.VALIDATION, f"Account {account.id} is already configured.")
    login = editor.find_login(user) or editor.add_login(user)
    if key is not None:
        editor.set_key(user, key)
    for account in new:
        editor.add_account(login, account.id, account.nickname, account.observe_only)
    ids = ", ".join(str(a.id) for a in new)
    after: dict[str, Any] = {str(a.id): {"name": a.nickname, "observe_only": a.observe_only} for a in new}
    if key is not None:
        after["api_key"] = "changed"
    result = _apply(
        ctx,
        editor,
        interactive,
        action="account_added",
        target=f"accounts {ids} ({user})",
        after=after,
        summary=f"added {ids}",
    )
    for account in new:
        mode = "observe-only" if account.observe_only else "enforce"
        state = _protecting(ctx, account.id) if result.live == "applied" else None
        if state == "protected":
            ctx.ui.ok(f"Added {account.id} ({mode}). The daemon is now protecting it.")
        else:
            ctx.ui.ok(f"Added {account.id} ({mode}).")
            if result.live == "applied":
                ctx.ui.warn(
                    f"The daemon reports {account.id} as {state or 'not monitored yet'}; "
                    "a restart of the service may be needed for a new login."
                )


def set_key(ctx: AdminContext, user: str, key: str, *, force: bool, interactive: bool) -> None:
    ctx.require_rights()
    editor = AccountsEditor(ctx.files)
    login = editor.find_login(user)
    if login is None:
        raise AdminExit(exits.NOT_FOUND, f"Unknown login: {user}.")
    failure = check_key(ctx, user, key)
    if failure is not None:
        if interactive:
            if not ctx.ui.confirm("Save anyway? The daemon will not be able to protect these accounts."):
                ctx.audit(
                    "account_edited",
                    target=f"login {user}",
                    after={"api_key": "changed"},
                    outcome="refused: sign-in failed",
                )
                raise AdminExit(exits.BROKER, "The API key was not changed.", kind="plain")
        elif not force:
            ctx.audit(
                "account_edited",
                target=f"login {user}",
                after={"api_key": "changed"},
                outcome="refused: sign-in failed",
            )
            raise AdminExit(
                exits.BROKER, "The API key was not changed (use --force to save it anyway).", kind="plain"
            )
    editor.set_key(str(login.get("user_name")), key)
    count = len(login.get("accounts") or [])
    _apply(
        ctx,
        editor,
        interactive,
        action="account_edited",
        target=f"login {user}",
        before={"api_key": "set"},
        after={"api_key": "changed"},
        summary=f"API key of {user}",
    )
    ctx.ui.ok(f"API key updated for {user} ({count} account{'s' if count != 1 else ''}).")


def rename_user(ctx: AdminContext, user: str, new_user: str, *, interactive: bool) -> None:
    ctx.require_rights()
    editor = AccountsEditor(ctx.files)
    login = editor.find_login(user)
    if login is None:
        raise AdminExit(exits.NOT_FOUND, f"Unknown login: {user}.")
    key = editor.key_for(user)
    if key is not None:
        failure = check_key(ctx, new_user, key, "Signing in with the new user name")
        if failure is not None and not (
            interactive
            and ctx.ui.confirm("Save anyway? The daemon will not be able to protect these accounts.")
        ):
            raise AdminExit(exits.BROKER, "The user name was not changed.", kind="plain")
    editor.rename_user(login, new_user)
    _apply(
        ctx,
        editor,
        interactive,
        action="account_edited",
        target=f"login {user}",
        before={"user_name": user},
        after={"user_name": new_user},
        summary=f"user name {user} -> {new_user}",
    )
    ctx.ui.ok(f"User name changed to {new_user}.")


def _account_or_exit(editor: AccountsEditor, account_id: int) -> None:
    if editor.find_account(account_id) is None:
        raise AdminExit(exits.NOT_FOUND, f"Unknown account: {account_id}.")


FLAGS = {
    # flag: (action when true, action when false, word when true, word when false)
    "enabled": ("account_enabled", "account_disabled", "enabled", "disabled"),
    "observe_only": ("observe_only_on", "observe_only_off", "in observe-only mode", "in enforce mode"),
}


def set_flag(ctx: AdminContext, account_id: int, flag: str, value: bool, *, interactive: bool) -> None:
    """``enabled`` or ``observe_only`` of one account, saved and applied (§7 items 4 and 5)."""
    ctx.require_rights()
    editor = AccountsEditor(ctx.files)
    _account_or_exit(editor, account_id)
    on_action, off_action, on_word, off_word = FLAGS[flag]
    word = on_word if value else off_word
    if not editor.set_flag(account_id, flag, value):
        raise AdminExit(exits.OK, f"Account {account_id} is already {word}.", kind="warn")
    _apply(
        ctx,
        editor,
        interactive,
        action=on_action if value else off_action,
        target=f"account {account_id}",
        before={flag: not value},
        after={flag: value},
        summary=f"{flag} {value} for {account_id}",
    )
    ctx.ui.ok(f"Account {account_id} {'now ' if flag == 'observe_only' else ''}{word}.")


def remove(ctx: AdminContext, account_id: int, *, delete_key: bool, interactive: bool) -> None:
    ctx.require_rights()
    editor = AccountsEditor(ctx.files)
    _account_or_exit(editor, account_id)
    login, last = editor.remove(account_id)
    user = str(login.get("user_name"))
    after: dict[str, Any] = {"removed": account_id}
    if last and delete_key:
        editor.remove_login(login)
        after["api_key"] = "deleted"
    _apply(
        ctx,
        editor,
        interactive,
        action="account_removed",
        target=f"account {account_id} ({user})",
        after=after,
        summary=f"removed {account_id}",
    )
    ctx.ui.ok(f"Account {account_id} removed.")
