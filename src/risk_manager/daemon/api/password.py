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
from pathlib import Path

from risk_manager.security.password import (  # shared with the admin console (re-exported here)
    FIRST_LOCK,
    LOCK_AFTER_FAILURES,
    MAX_LOCK,
    MAX_PASSWORD_CHARS,
    AuthResult,
    HashFileProblem,
    corrupt_message,
    describe_duration,
    lock_duration,
    read_admin_hash,
    verify_password,
)

__all__ = [
    "FIRST_LOCK",
    "LOCK_AFTER_FAILURES",
    "MAX_LOCK",
    "MAX_PASSWORD_CHARS",
    "AdminPasswordChecker",
    "AuthOutcome",
    "AuthResult",
    "HashFileProblem",
    "describe_duration",
    "lock_duration",
    "read_admin_hash",
    "retry_after_s",
    "verify_password",
]


@dataclass(frozen=True)
class AuthOutcome:
    result: AuthResult
    failures: int = 0
    locked_until: datetime | None = None
    retry_after_s: int | None = None
    lock_duration: timedelta | None = None
    detail: str = ""


def retry_after_s(locked_until: datetime, now: datetime) -> int:
    return max(1, math.ceil((locked_until - now).total_seconds()))


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
                detail = corrupt_message(path)
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
