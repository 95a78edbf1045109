"""Admin password check for the daemon's admin sessions (spec/daemon.md §9.5, spec/admin-cli.md §3).

The hash file is re-read on every attempt so a password change or reset applies without a restart.
Verification (argon2id, ~150 ms) runs on a worker thread so the event loop never waits for it.
The cross-launch failure counter lives wherever the caller persists it (the daemon keeps it in the
database ``meta`` table because it may not write the config directory).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

LOCK_AFTER_FAILURES = 10
FIRST_LOCK = timedelta(minutes=15)
MAX_LOCK = timedelta(hours=24)
MAX_PASSWORD_CHARS = 1024


class AuthResult(Enum):
    OK = "ok"
    WRONG_PASSWORD = "wrong_password"
    LOCKED = "locked"  # refused without checking: a lockout is running
    NEWLY_LOCKED = "newly_locked"  # wrong password, and this failure started a lockout
    NO_PASSWORD = "no_password"
    CORRUPT = "hash_file_corrupt"
    UNREADABLE = "hash_file_unreadable"


@dataclass(frozen=True)
class AuthOutcome:
    result: AuthResult
    failures: int = 0
    locked_until: datetime | None = None
    retry_after_s: int | None = None
    lock_duration: timedelta | None = None
    detail: str = ""


def lock_duration(consecutive_failures: int) -> timedelta | None:
    """15 min at the 10th consecutive failure, doubled for each further one, at most 24 h."""
    if consecutive_failures < LOCK_AFTER_FAILURES:
        return None
    doublings = consecutive_failures - LOCK_AFTER_FAILURES
    if doublings >= 8:  # 15 min * 2**7 = 32 h already exceeds the cap
        return MAX_LOCK
    return min(FIRST_LOCK * (1 << doublings), MAX_LOCK)


def retry_after_s(locked_until: datetime, now: datetime) -> int:
    return max(1, math.ceil((locked_until - now).total_seconds()))


def describe_duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" if rest == 0 else f"{hours} h {rest} min"


class HashFileProblem(Exception):
    def __init__(self, result: AuthResult, message: str) -> None:
        super().__init__(message)
        self.result = result
        self.message = message


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
    corrupt = HashFileProblem(
        AuthResult.CORRUPT,
        f"Admin password file is corrupt: {path}. An administrator can reset it with "
        '"risk-manager admin password reset".',
    )
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
        return PasswordHasher().verify(encoded_hash, password)
    except VerifyMismatchError:
        return False
    except (InvalidHashError, VerificationError):
        raise HashFileProblem(AuthResult.CORRUPT, "Admin password file is corrupt.") from None


LoadFailures = Callable[[], Awaitable[tuple[int, datetime | None]]]
SaveFailures = Callable[[int, datetime | None], Awaitable[None]]


class AdminPasswordChecker:
    """One attempt at a time (a lock), so concurrent connections cannot race the shared counter
    and a burst of attempts cannot occupy every worker thread with argon2."""

    def __init__(
        self,
        hash_path: Callable[[], Path],
        load_failures: LoadFailures,
        save_failures: SaveFailures,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._hash_path = hash_path
        self._load = load_failures
        self._save = save_failures
        self._clock = clock
        self._lock = asyncio.Lock()

    async def attempt(self, password: str) -> AuthOutcome:
        async with self._lock:
            return await self._attempt(password)

    async def _attempt(self, password: str) -> AuthOutcome:
        failures, locked_until = await self._load()
        now = self._clock()
        if locked_until is not None:
            if locked_until.tzinfo is None:
                locked_until = locked_until.replace(tzinfo=UTC)
            if locked_until > now:
                return AuthOutcome(
                    AuthResult.LOCKED,
                    failures=failures,
                    locked_until=locked_until,
                    retry_after_s=retry_after_s(locked_until, now),
                )
        path = self._hash_path()
        try:
            encoded = await asyncio.to_thread(read_admin_hash, path)
            ok = await asyncio.to_thread(verify_password, encoded, password)
        except HashFileProblem as problem:
            detail = problem.message
            if problem.result is AuthResult.CORRUPT and str(path) not in detail:
                detail = (
                    f"Admin password file is corrupt: {path}. An administrator can reset it with "
                    '"risk-manager admin password reset".'
                )
            return AuthOutcome(problem.result, failures=failures, detail=detail)
        if ok:
            if failures or locked_until is not None:
                await self._save(0, None)
            return AuthOutcome(AuthResult.OK)
        failures += 1
        duration = lock_duration(failures)
        if duration is None:
            await self._save(failures, None)
            return AuthOutcome(AuthResult.WRONG_PASSWORD, failures=failures)
        until = now + duration
        await self._save(failures, until)
        return AuthOutcome(
            AuthResult.NEWLY_LOCKED,
            failures=failures,
            locked_until=until,
            retry_after_s=retry_after_s(until, now),
            lock_duration=duration,
        )
