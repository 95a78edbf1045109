"""The console's side of the admin password (admin-cli.md §3): hash file, attempt counter, re-hash.

``admin_password.hash`` holds the argon2id PHC string (shared format and checks in
``risk_manager.security.password``); ``admin_auth_state.json`` holds the consecutive failures and the
lockout deadline across launches. A verified hash with weaker parameters is re-hashed when the file is
writable. The daemon keeps its own counter (in its database); a reset clears both.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from risk_manager.platform import fileperms
from risk_manager.security.password import (
    HASH_FILE,
    AuthResult,
    HashFileProblem,
    after_failure,
    hash_password,
    needs_rehash,
    read_admin_hash,
    verify_password,
)

STATE_FILE = "admin_auth_state.json"


@dataclass(frozen=True)
class Attempt:
    result: AuthResult
    failures: int = 0
    retry_after_s: float = 0.0
    lock_duration: timedelta | None = None
    rehashed: bool = False


class PasswordStore:
    def __init__(self, config_dir: Path, clock: type[datetime] = datetime) -> None:
        self.dir = config_dir
        self.hash_path = config_dir / HASH_FILE
        self.state_path = config_dir / STATE_FILE
        self._clock = clock
        self.state_error: str | None = None

    def now(self) -> datetime:
        return self._clock.now(UTC)

    # ----- state ----------------------------------------------------------------------------------------
    def state(self) -> tuple[int, datetime | None]:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0, None
        failures = data.get("failures") if isinstance(data, dict) else 0
        until_text = data.get("locked_until") if isinstance(data, dict) else None
        until = None
        if isinstance(until_text, str):
            with contextlib.suppress(ValueError):
                until = datetime.fromisoformat(until_text.replace("Z", "+00:00"))
        return (failures if isinstance(failures, int) else 0), until

    def save_state(self, failures: int, locked_until: datetime | None) -> None:
        """Persist the counter. Without write access (a read-only user who may read the hash) the
        counter cannot be kept; ``state_error`` says why and the caller may warn."""
        payload = {"failures": failures, "locked_until": locked_until.isoformat() if locked_until else None}
        try:
            self._write(self.state_path, json.dumps(payload) + "\n")
        except OSError as exc:
            self.state_error = f"{self.state_path}: {exc.strerror or exc}"

    def locked_for(self) -> float:
        """Seconds left of a running lockout (0 when not locked)."""
        _, until = self.state()
        if until is None:
            return 0.0
        return max(0.0, (until - self.now()).total_seconds())

    def record_failure(self) -> Attempt:
        failures, _ = self.state()
        failures, until, duration = after_failure(failures, self.now())
        self.save_state(failures, until)
        if until is None:
            return Attempt(AuthResult.WRONG_PASSWORD, failures)
        return Attempt(AuthResult.NEWLY_LOCKED, failures, (until - self.now()).total_seconds(), duration)

    # ----- hash file ------------------------------------------------------------------------------------
    def is_set(self) -> bool:
        """False only when the hash file is really missing; a file this user may not even see counts
        as set (its check then goes through the daemon)."""
        try:
            self.hash_path.stat()
        except FileNotFoundError:
            return False
        except OSError:
            return True
        return True

    def read_hash(self) -> str:
        return read_admin_hash(self.hash_path)

    def write_password(self, password: str) -> None:
        self._write(self.hash_path, hash_password(password) + "\n")

    def _write(self, path: Path, text: str) -> None:
        keep = fileperms.capture(path) or fileperms.capture(self.dir / "accounts.yaml")
        self.dir.mkdir(parents=True, exist_ok=True)
        fileperms.write_atomic(path, text.encode("utf-8"), private=keep is None, keep=keep)

    def attempt(self, password: str) -> Attempt:
        """One verification with the cross-launch policy; HashFileProblem when the file is unusable."""
        left = self.locked_for()
        failures, _ = self.state()
        if left > 0:
            return Attempt(AuthResult.LOCKED, failures, left)
        encoded = self.read_hash()
        if not verify_password(encoded, password):
            return self.record_failure()
        if failures:
            self.save_state(0, None)
        rehashed = False
        if needs_rehash(encoded):
            with contextlib.suppress(OSError):
                self.write_password(password)
                rehashed = True
        return Attempt(AuthResult.OK, 0, rehashed=rehashed)

    def check_current(self, password: str) -> bool:
        """The "current password" of a change: a wrong one counts as a failure (§3.5)."""
        try:
            encoded = self.read_hash()
        except HashFileProblem:
            return False
        if verify_password(encoded, password):
            return True
        self.record_failure()
        return False


def clear_daemon_counter(data_dir: Path) -> bool:
    """Reset the daemon's own admin-login counter (``meta`` in its database) after a password reset."""
    db = data_dir / "risk.db"
    if not db.is_file():
        return False
    try:
        conn = sqlite3.connect(str(db), timeout=5.0, isolation_level=None)
    except sqlite3.Error:
        return False
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('admin_auth_failures', '0')")
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('admin_locked_until', NULL)")
        return True
    except sqlite3.Error:
        return False
    finally:
        conn.close()
