"""The admin password: argon2id PHC hash file, verification, re-hash check and lockout arithmetic.

One module for both sides (admin-cli.md §3, daemon.md §9.5): the console sets, changes, resets and
verifies the password at launch; the daemon verifies the same file for admin sessions. Both apply
the same cross-launch policy (10 consecutive failures lock for 15 min, doubling up to 24 h), each with
its own persisted counter.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASH_FILE = "admin_password.hash"
LOCK_AFTER_FAILURES = 10
FIRST_LOCK = timedelta(minutes=15)
MAX_LOCK = timedelta(hours=24)
MAX_PASSWORD_CHARS = 1024  # longest password a request may carry
NEW_PASSWORD_MIN = 10
NEW_PASSWORD_MAX = 128

# admin-cli.md §3.1: argon2id, 64 MiB, 3 passes, parallelism 4, 16-byte salt (argon2-cffi's defaults).
_HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, hash_len=32, salt_len=16)


class AuthResult(Enum):
    OK = "ok"
    WRONG_PASSWORD = "wrong_password"
    LOCKED = "locked"  # refused without checking: a lockout is running
    NEWLY_LOCKED = "newly_locked"  # wrong password, and this failure started a lockout
    NO_PASSWORD = "no_password"
    CORRUPT = "hash_file_corrupt"
    UNREADABLE = "hash_file_unreadable"


def lock_duration(consecutive_failures: int) -> timedelta | None:
    """15 min at the 10th consecutive failure, doubled for each further one, at most 24 h."""
    if consecutive_failures < LOCK_AFTER_FAILURES:
        return None
    doublings = consecutive_failures - LOCK_AFTER_FAILURES
    if doublings >= 8:  # 15 min * 2**7 = 32 h already exceeds the cap
        return MAX_LOCK
    return min(FIRST_LOCK * (1 << doublings), MAX_LOCK)


def after_failure(failures: int, now: datetime) -> tuple[int, datetime | None, timedelta | None]:
    """One more consecutive failure: ``(failures, locked_until, lock duration)`` (None when not locked)."""
    failures += 1
    duration = lock_duration(failures)
    return failures, (None if duration is None else now + duration), duration


def describe_duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" if rest == 0 else f"{hours} h {rest} min"


def describe_wait(seconds: float) -> str:
    """``14 min 32 s`` / ``2 h 5 min`` / ``45 s`` (the console's locked message)."""
    total = max(0, math.ceil(seconds))
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


class HashFileProblem(Exception):
    def __init__(self, result: AuthResult, message: str) -> None:
        super().__init__(message)
        self.result = result
        self.message = message


def corrupt_message(path: Path) -> str:
    return (
        f"Admin password file is corrupt: {path}. An administrator can reset it with "
        '"risk-manager admin password reset".'
    )


def read_admin_hash(path: Path) -> str:
    """The PHC string, or HashFileProblem: missing means "not set", unparsable is never "not set"."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HashFileProblem(
            AuthResult.NO_PASSWORD,
            "No admin password is set. An OS administrator can set one with "
            '"risk-manager admin password setup".',
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise HashFileProblem(
            AuthResult.UNREADABLE, f"Cannot read the admin password file {path}: {reason}."
        ) from None
    encoded = text.strip()
    corrupt = HashFileProblem(AuthResult.CORRUPT, corrupt_message(path))
    if not encoded.startswith("$argon2id$") or "\n" in encoded:
        raise corrupt
    try:
        extract_parameters(encoded)
    except (InvalidHashError, ValueError):
        raise corrupt from None
    return encoded


def verify_password(encoded_hash: str, password: str) -> bool:
    """Blocking argon2 check; False for a wrong password, HashFileProblem for an unusable hash."""
    try:
        return _HASHER.verify(encoded_hash, password)
    except VerifyMismatchError:
        return False
    except (InvalidHashError, VerificationError):
        raise HashFileProblem(AuthResult.CORRUPT, "Admin password file is corrupt.") from None


def hash_password(password: str) -> str:
    """A fresh argon2id PHC string with the parameters of admin-cli.md §3.1 and a random salt."""
    return _HASHER.hash(password)


def needs_rehash(encoded_hash: str) -> bool:
    """True when the hash uses weaker (or just other) parameters than the current ones."""
    try:
        return _HASHER.check_needs_rehash(encoded_hash)
    except (InvalidHashError, ValueError):
        return False


def new_password_problem(password: str) -> str | None:
    """Why ``password`` cannot be the new admin password (admin-cli.md §3.2), or None."""
    if not password.strip():
        return "The password cannot be only whitespace."
    if len(password) < NEW_PASSWORD_MIN:
        return f"Too short: at least {NEW_PASSWORD_MIN} characters."
    if len(password) > NEW_PASSWORD_MAX:
        return f"Too long: at most {NEW_PASSWORD_MAX} characters."
    return None
