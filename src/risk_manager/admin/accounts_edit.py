"""Editing logins, accounts and API keys on round-trip documents (admin-cli.md §7, rules.md §5.2).

``accounts.yaml`` holds the logins (``name``, ``user_name``) and their accounts (``id``, ``name`` — the
nickname —, ``enabled``, ``observe_only``, reset time and zone, overrides); ``secrets.yaml`` holds
``api_keys`` keyed by ``user_name``. A login and its key are always saved together, secrets first,
so the daemon never sees an enabled account without its key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from risk_manager.admin.config_files import ConfigFiles, dump
from risk_manager.config.loader import ACCOUNTS_FILE, SECRETS_FILE
from risk_manager.config.secrets import mask

TEMPLATE_USER = "trader@example.com"
TEMPLATE_ACCOUNT = 123456


@dataclass(frozen=True)
class AccountRow:
    id: int
    name: str
    login: str
    user_name: str
    enabled: bool
    observe_only: bool
    key_mask: str | None  # None: no key stored


class AccountsEditor:
    """accounts.yaml + secrets.yaml in memory; ``texts()`` gives what to save."""

    def __init__(self, files: ConfigFiles) -> None:
        self.files = files
        self.original = {name: files.text(name) for name in (ACCOUNTS_FILE, SECRETS_FILE)}
        self.accounts = files.document(ACCOUNTS_FILE) or CommentedMap(
            [("version", 1), ("logins", CommentedSeq())]
        )
        self.secrets = files.document(SECRETS_FILE) or CommentedMap([("version", 1)])
        if self.accounts.get("logins") is None:
            self.accounts["logins"] = CommentedSeq()
        self.notes: list[str] = []

    def texts(self) -> dict[str, str]:
        return {ACCOUNTS_FILE: dump(self.accounts), SECRETS_FILE: dump(self.secrets)}

    def changed_texts(self) -> dict[str, str]:
        return {n: t for n, t in self.texts().items() if t != self.original[n]}

    # ----- reading --------------------------------------------------------------------------------------
    def logins(self) -> list[CommentedMap]:
        return list(self.accounts.get("logins") or [])

    def keys(self) -> dict[str, Any]:
        keys = self.secrets.get("api_keys")
        return keys if isinstance(keys, dict) else {}

    def key_for(self, user_name: str) -> str | None:
        for user, key in self.keys().items():
            if str(user).casefold() == user_name.casefold() and isinstance(key, str) and key:
                return key
        return None

    def rows(self) -> list[AccountRow]:
        out = []
        for login in self.logins():
            user = str(login.get("user_name", ""))
            key = self.key_for(user)
            for account in login.get("accounts") or []:
                out.append(
                    AccountRow(
                        id=int(account.get("id")),
                        name=str(account.get("name", "")),
                        login=str(login.get("name", "")),
                        user_name=user,
                        enabled=bool(account.get("enabled", True)),
                        observe_only=bool(account.get("observe_only", False)),
                        key_mask=mask(key) if key else None,
                    )
                )
        return out

    def find_login(self, user_name: str) -> CommentedMap | None:
        for login in self.logins():
            if str(login.get("user_name", "")).casefold() == user_name.strip().casefold():
                return login
        return None

    def find_account(self, account_id: int) -> tuple[CommentedMap, CommentedMap] | None:
        for login in self.logins():
            for account in login.get("accounts") or []:
                if account.get("id") == account_id:
                    return login, account
        return None

    def configured_ids(self) -> set[int]:
        return {row.id for row in self.rows()}

    # ----- changes --------------------------------------------------------------------------------------
    def _drop_template(self) -> None:
        """The template's example login goes when the first real one is added."""
        for index, login in enumerate(self.logins()):
            ids = [a.get("id") for a in login.get("accounts") or []]
            if login.get("user_name") == TEMPLATE_USER and ids in ([TEMPLATE_ACCOUNT], []):
                del self.accounts["logins"][index]
                self.notes.append("The template's example login (trader@example.com) was removed.")
                return

    def add_login(self, user_name: str) -> CommentedMap:
        self._drop_template()
        taken = {str(login.get("name")) for login in self.logins()}
        base = re.sub(r"[^a-z0-9]+", "-", user_name.split("@", 1)[0].lower()).strip("-") or "login"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        login = CommentedMap([("name", name), ("user_name", user_name), ("accounts", CommentedSeq())])
        self.accounts["logins"].append(login)
        return login

    def add_account(self, login: CommentedMap, account_id: int, nickname: str, observe_only: bool) -> None:
        self._drop_template()
        entry = CommentedMap(
            [
                ("id", account_id),
                ("name", nickname),
                ("enabled", True),
                ("observe_only", observe_only),
                ("reset_time", DoubleQuotedScalarString("17:00")),
                ("timezone", "America/Chicago"),
            ]
        )
        if login.get("accounts") is None:
            login["accounts"] = CommentedSeq()
        login["accounts"].append(entry)

    def set_key(self, user_name: str, key: str) -> None:
        keys = self.secrets.get("api_keys")
        if not isinstance(keys, dict):
            keys = CommentedMap()
            self.secrets["api_keys"] = keys
        for existing in list(keys):
            if str(existing).casefold() == user_name.casefold() and existing != user_name:
                del keys[existing]
        keys[DoubleQuotedScalarString(user_name)] = DoubleQuotedScalarString(key)

    def drop_key(self, user_name: str) -> None:
        keys = self.secrets.get("api_keys")
        if isinstance(keys, dict):
            for existing in list(keys):
                if str(existing).casefold() == user_name.casefold():
                    del keys[existing]

    def rename_user(self, login: CommentedMap, new_user: str) -> None:
        old = str(login.get("user_name", ""))
        key = self.key_for(old)
        login["user_name"] = new_user
        if key is not None:
            self.drop_key(old)
            self.set_key(new_user, key)

    def set_flag(self, account_id: int, flag: str, value: bool) -> bool:
        """``enabled`` / ``observe_only``; False when it already had that value."""
        found = self.find_account(account_id)
        assert found is not None
        account = found[1]
        current = bool(account.get(flag, flag == "enabled"))
        if current == value:
            return False
        account[flag] = value
        return True

    def remove(self, account_id: int) -> tuple[CommentedMap, bool]:
        """Remove the account; returns its login and whether that login has no account left."""
        found = self.find_account(account_id)
        assert found is not None
        login, account = found
        login["accounts"].remove(account)
        return login, not login["accounts"]

    def remove_login(self, login: CommentedMap) -> None:
        self.accounts["logins"].remove(login)
        self.drop_key(str(login.get("user_name", "")))
