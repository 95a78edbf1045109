"""The admin audit trail (admin-cli.md §12): one entry per change and per refused attempt.

Entries go to the database's ``audit_log`` table (spec README: admin and config-change records live
there; the daemon writes its own, the console writes directly, SQLite serialises the two writers). When
the database does not exist yet or this user may not write it, the entry is appended to
``audit.log`` (JSON lines) in the config directory instead, and both are read back as one list.
Secrets never enter an entry: changed keys are recorded as ``changed``.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from risk_manager.store.codec import ts

DB_NAME = "risk.db"
FALLBACK_FILE = "audit.log"
BUSY_TIMEOUT_MS = 5000
CONFIG_ACTIONS = (
    "rule_changed",
    "config_restored",
    "config_reloaded",
    "reload_rejected",
    "account_added",
    "account_edited",
    "account_removed",
    "account_enabled",
    "account_disabled",
    "observe_only_on",
    "observe_only_off",
)
"""The audit actions that are configuration changes (change history, ``config history``)."""


@dataclass(frozen=True)
class AuditEntry:
    at: str
    os_user: str | None
    host: str | None
    action: str
    target: str | None
    before: Any
    after: Any
    reason: str | None
    outcome: str | None
    source: str  # "database" | "audit.log"

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.at,
            "os_user": self.os_user,
            "host": self.host,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "outcome": self.outcome,
        }


def _json(value: Any) -> str | None:
    if value is None or value == {} or value == []:
        return None
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _load(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class AuditLog:
    """Appends and reads audit entries for one console run."""

    def __init__(self, data_dir: Path, config_dir: Path, os_user: str, host: str) -> None:
        self.db_path = data_dir / DB_NAME
        self.fallback = config_dir / FALLBACK_FILE
        self.os_user = os_user
        self.host = host
        self.last_error: str | None = None

    def write(
        self,
        action: str,
        *,
        target: str | None = None,
        before: Any = None,
        after: Any = None,
        reason: str | None = None,
        outcome: str = "ok",
    ) -> bool:
        """Append one entry; False (and ``last_error``) when neither the database nor the file took it."""
        row = {
            "at": ts(datetime.now(UTC)),
            "actor": self.os_user,
            "peer": f"admin-console@{self.host}",
            "action": action,
            "target": target,
            "before": _json(before),
            "after": _json(after),
            "reason": reason,
            "outcome": outcome,
        }
        if self._write_db(row):
            return True
        try:
            line = json.dumps(
                {
                    "time": row["at"],
                    "os_user": self.os_user,
                    "host": self.host,
                    "action": action,
                    "target": target,
                    "before": before,
                    "after": after,
                    "reason": reason,
                    "outcome": outcome,
                },
                default=str,
            )
            with self.fallback.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
            return True
        except OSError as exc:
            self.last_error = f"{self.fallback}: {exc.strerror or exc}"
            return False

    def _write_db(self, row: dict[str, Any]) -> bool:
        if not self.db_path.is_file():
            return False
        try:
            conn = sqlite3.connect(str(self.db_path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error:
            return False
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cols = ", ".join(row)
            marks = ", ".join(f":{c}" for c in row)
            conn.execute(f"INSERT INTO audit_log ({cols}) VALUES ({marks})", row)
            return True
        except sqlite3.Error as exc:
            self.last_error = f"{self.db_path}: {exc}"
            return False
        finally:
            conn.close()

    # ----- reading --------------------------------------------------------------------------------------
    def read(
        self,
        *,
        action: str | None = None,
        since: date | None = None,
        until: date | None = None,
        actions: tuple[str, ...] = (),
    ) -> list[AuditEntry]:
        """Every entry matching the filters, newest first (``action`` matches a prefix)."""
        entries = self._read_db() + self._read_file()
        out = []
        for e in entries:
            if action and not e.action.startswith(action):
                continue
            if actions and e.action not in actions:
                continue
            day = e.at[:10]
            if since is not None and day < since.isoformat():
                continue
            if until is not None and day > until.isoformat():
                continue
            out.append(e)
        out.sort(key=lambda e: e.at, reverse=True)
        return out

    def _read_db(self) -> list[AuditEntry]:
        if not self.db_path.is_file():
            return []
        try:
            conn = sqlite3.connect(f"{self.db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        except sqlite3.Error:
            return []
        try:
            rows = conn.execute(
                "SELECT at, actor, peer, action, target, before, after, reason, outcome FROM audit_log"
            ).fetchall()
        except sqlite3.Error:
            return []
        finally:
            conn.close()
        out = []
        for at, actor, peer, act, target, before, after, reason, outcome in rows:
            host = (
                peer.split("@", 1)[1] if isinstance(peer, str) and peer.startswith("admin-console@") else peer
            )
            out.append(
                AuditEntry(
                    at, actor, host, act, target, _load(before), _load(after), reason, outcome, "database"
                )
            )
        return out

    def _read_file(self) -> list[AuditEntry]:
        out: list[AuditEntry] = []
        with contextlib.suppress(OSError):
            for line in self.fallback.read_text(encoding="utf-8").splitlines():
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(d, dict) or "action" not in d:
                    continue
                out.append(
                    AuditEntry(
                        str(d.get("time", "")),
                        d.get("os_user"),
                        d.get("host"),
                        str(d["action"]),
                        d.get("target"),
                        d.get("before"),
                        d.get("after"),
                        d.get("reason"),
                        d.get("outcome"),
                        FALLBACK_FILE,
                    )
                )
        return out
