"""Main menu 2: Account Management (admin-cli.md §7)."""

from __future__ import annotations

from typing import Any

from risk_manager.admin import account_actions as act
from risk_manager.admin import exits
from risk_manager.admin.accounts_edit import AccountRow, AccountsEditor
from risk_manager.admin.context import AdminContext
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.screens.base import header, pick_account, run_action
from risk_manager.config.secrets import mask


def account_table(ctx: AdminContext, rows: list[AccountRow], snap: dict[str, Any] | None) -> None:
    ui = ctx.ui
    sym = ui.sym
    live = {a.get("accountId"): a for a in (snap or {}).get("accounts") or []}
    table = []
    for n, row in enumerate(rows, start=1):
        mode = "—" if not row.enabled else ("observe" if row.observe_only else "enforce")
        if not row.enabled:
            status = "disabled"
        elif snap is None:
            status = "unknown"
        else:
            account = live.get(row.id)
            if account is None:
                status = "not monitored"
            elif account.get("lockouts"):
                status = f"{sym.fail} locked"
            elif account.get("protection") == "protected":
                status = f"{sym.dot} protected" if not row.observe_only else f"{sym.warn} observe-only"
            else:
                status = f"NOT protected: {account.get('protection')}"
        key = row.key_mask or "none"
        if not ui.unicode:
            key = key.replace("••••", sym.secret)
        table.append(
            [n, row.id, row.name, row.user_name, key, sym.ok if row.enabled else sym.fail, mode, status]
        )
    ui.table(["#", "Account", "Name", "Login", "Key", "Enabled", "Mode", "Status"], table)


def screen(ctx: AdminContext) -> None:
    ui = ctx.ui
    while True:
        header(ctx, "Account Management")
        editor = AccountsEditor(ctx.files)
        rows = editor.rows()
        account_table(ctx, rows, ctx.daemon_snapshot())
        ui.rule()
        ui.info("1. List accounts  2. Add account   3. Edit login / API key   4. Enable / disable")
        ui.info("5. Observe-only on/off   6. Test connection   7. Remove account   0. Back")
        choice = ui.choose(" Select [0-7]: ", 0, 7)
        ids = [r.id for r in rows]
        if choice == "0":
            return
        if choice == "1":
            continue
        handler = {
            "2": add,
            "3": edit_login,
            "4": toggle_enabled,
            "5": toggle_observe,
            "6": test,
            "7": remove,
        }[choice]
        run_action(ctx, handler, ctx, ids)


def _ask_key(ctx: AdminContext, prompt: str = "API key: ") -> str:
    while True:
        key = ctx.ui.ask_hidden(prompt).strip()
        if key:
            return key
        ctx.ui.error("The API key cannot be empty.")


def add(ctx: AdminContext, ids: list[int]) -> None:
    ui = ctx.ui
    ctx.require_rights()
    editor = AccountsEditor(ctx.files)
    logins = [login for login in editor.logins() if login.get("user_name") != "trader@example.com"]
    user, key = None, None
    if logins:
        for n, login in enumerate(logins, start=1):
            ui.info(f"{n}. {login.get('user_name')}")
        answer = ui.ask("Login # or n for a new login: ")
        if answer.isdigit() and 1 <= int(answer) <= len(logins):
            user = str(logins[int(answer) - 1].get("user_name"))
            key = editor.key_for(user)
        elif answer.lower() != "n":
            raise AdminExit(exits.USAGE, f'Invalid choice: "{answer}".')
    new_key = False
    if user is None:
        while not user:
            user = ui.ask("Broker user name: ").strip()
    if key is None:
        key = _ask_key(ctx)
        new_key = True
    accounts = act.broker_accounts(ctx, user, key)
    configured = editor.configured_ids()
    table = []
    for n, account in enumerate(accounts, start=1):
        note = "already added" if account.get("id") in configured else ""
        table.append(
            [
                n,
                account.get("id"),
                account.get("name"),
                account.get("balance"),
                "yes" if account.get("canTrade") else "no",
                "yes" if account.get("simulated") else "no",
                note,
            ]
        )
    ui.table(["#", "ID", "Name", "Balance", "Can trade", "Simulated", ""], table)
    choice = ui.ask("Accounts to add (e.g. 1,3 or all): ").lower()
    if choice == "all":
        picked = [a for a in accounts if a.get("id") not in configured]
    else:
        try:
            numbers = [int(p) for p in choice.replace(" ", "").split(",") if p]
        except ValueError:
            raise AdminExit(exits.USAGE, f'Invalid choice: "{choice}".') from None
        if not numbers or any(not 1 <= n <= len(accounts) for n in numbers):
            raise AdminExit(
                exits.USAGE, f'Invalid choice: "{choice}". Enter numbers from 1 to {len(accounts)}.'
            )
        picked = [accounts[n - 1] for n in numbers]
    for account in picked:
        if account.get("id") in configured:
            raise AdminExit(exits.VALIDATION, f"Account {account.get('id')} is already configured.")
    new: list[act.NewAccount] = []
    for account in picked:
        broker_name = str(account.get("name") or account.get("id"))
        nickname = ui.ask(f"Nickname [{broker_name}]: ") or broker_name
        mode = ui.ask("Mode: 1 enforce  2 observe-only [1]: ") or "1"
        new.append(act.NewAccount(int(account["id"]), nickname, mode == "2"))
    for item in new:
        ui.info(
            f"{item.id}  {item.nickname}  {'observe-only' if item.observe_only else 'enforce'}  login {user}"
        )
    if not ui.confirm("Save?"):
        ui.info("Not saved.")
        return
    act.add_accounts(ctx, user, new, key=key if new_key else None, interactive=True)


def edit_login(ctx: AdminContext, ids: list[int]) -> None:
    ui = ctx.ui
    ctx.require_rights()
    editor = AccountsEditor(ctx.files)
    logins = editor.logins()
    if not logins:
        raise AdminExit(exits.NOT_FOUND, "No login is configured. Use 2. Add account.")
    for n, login in enumerate(logins, start=1):
        accounts = ", ".join(str(a.get("id")) for a in login.get("accounts") or [])
        ui.info(f"{n}. {login.get('user_name')}  ({accounts or 'no accounts'})")
    answer = ui.ask("Login #: ")
    if not (answer.isdigit() and 1 <= int(answer) <= len(logins)):
        raise AdminExit(exits.USAGE, f'Invalid choice: "{answer}".')
    login = logins[int(answer) - 1]
    user = str(login.get("user_name"))
    key = editor.key_for(user)
    shown = mask(key) if key else "none"
    if not ui.unicode:
        shown = shown.replace("••••", ui.sym.secret)
    ui.info(f"User name: {user}   API key: {shown}")
    what = ui.ask("1 change API key  2 change user name  0 back: ")
    if what == "1":
        act.set_key(ctx, user, _ask_key(ctx, "New API key: "), force=False, interactive=True)
    elif what == "2":
        new_user = ui.ask("New broker user name: ").strip()
        if new_user:
            act.rename_user(ctx, user, new_user, interactive=True)


def _pick_row(ctx: AdminContext, ids: list[int]) -> AccountRow | None:
    ctx.require_rights()
    account_id = pick_account(ctx, ids)
    if account_id is None:
        return None
    return next(r for r in AccountsEditor(ctx.files).rows() if r.id == account_id)


def toggle_enabled(ctx: AdminContext, ids: list[int]) -> None:
    ui = ctx.ui
    row = _pick_row(ctx, ids)
    if row is None:
        return
    account_id = row.id
    if row.enabled:
        ui.warn(f"Account {account_id} will NOT be protected and disappears from the trader dashboard.")
        if not ui.confirm(f"Disable {account_id}?"):
            ui.info("Not changed.")
            return
    act.set_flag(ctx, account_id, "enabled", not row.enabled, interactive=True)


def toggle_observe(ctx: AdminContext, ids: list[int]) -> None:
    ui = ctx.ui
    row = _pick_row(ctx, ids)
    if row is None:
        return
    account_id = row.id
    if not row.observe_only:
        ui.warn(f"Rules will be evaluated and logged but NOT enforced on {account_id}.")
        question = f"Turn observe-only on for {account_id}?"
    else:
        snap = ctx.daemon_snapshot() or {}
        live: dict[str, Any] = next(
            (a for a in snap.get("accounts") or [] if a.get("accountId") == account_id), {}
        )
        breaches = [r for r in live.get("rules") or [] if r.get("state") in ("breached", "locked")]
        for rule in breaches:
            ui.warn(f"{rule.get('ruleId')} is {rule.get('state')}: the daemon will act on it immediately.")
        question = f"Enforce the rules on {account_id} again?"
    if not ui.confirm(question):
        ui.info("Not changed.")
        return
    act.set_flag(ctx, account_id, "observe_only", not row.observe_only, interactive=True)


def test(ctx: AdminContext, ids: list[int]) -> None:
    from risk_manager.admin.screens import testing  # the gateway client loads only when a test runs

    answer = ctx.ui.ask("Account # or ID (or all): ").strip().lower()
    logins = None
    if answer and answer != "all":
        account_id = (
            ids[int(answer) - 1]
            if answer.isdigit() and 1 <= int(answer) <= len(ids)
            else int(answer)
            if answer.isdigit()
            else None
        )
        row = next((r for r in AccountsEditor(ctx.files).rows() if r.id == account_id), None)
        if row is None:
            raise AdminExit(exits.NOT_FOUND, f"Unknown account: {answer}.")
        logins = [row.user_name]
    testing.run_and_show(ctx, {"rest", "user-hub"}, logins)


def remove(ctx: AdminContext, ids: list[int]) -> None:
    ui = ctx.ui
    ctx.require_rights()
    account_id = pick_account(ctx, ids)
    if account_id is None:
        return
    editor = AccountsEditor(ctx.files)
    found = editor.find_account(account_id)
    assert found is not None
    login = found[0]
    ui.panel(
        [
            f"Rules stop for account {account_id}: it will NOT be protected.",
            "Its history and lockouts stay in the database.",
        ],
        title=f"Remove account {account_id}",
        danger=True,
    )
    if not ui.typed_confirm("Type the account ID to confirm: ", str(account_id)):
        return
    delete_key = False
    if len(login.get("accounts") or []) == 1 and editor.key_for(str(login.get("user_name"))):
        delete_key = ui.confirm(f"Also delete the stored API key of {login.get('user_name')}?")
    act.remove(ctx, account_id, delete_key=delete_key, interactive=True)
