"""Admin sessions on the local API (spec/daemon.md §9.5): admin token and password check, sessions
bound to one connection, the admin commands, and an ``audit_log`` row for every attempt and command,
refusals included. The transport (``server.py``) hands admin requests here and sends what comes back.

An ``auth`` without the daemon's admin token (``admin_token.py``) is refused before the password is
looked at: no argon2 work, and it never counts toward the cross-launch lockout, so a local process
that cannot read the token cannot lock the administrator out. Token holders are throttled per
connection (3 attempts, a back-off between them) and by the cross-launch lockout.
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from risk_manager.daemon.api.interface import ApiProvider
from risk_manager.daemon.api.password import (
    MAX_PASSWORD_CHARS,
    AdminPasswordChecker,
    AuthOutcome,
    AuthResult,
    describe_duration,
)
from risk_manager.daemon.api.protocol import ConfigInvalidError, LocalApiError, Request, is_int

log = logging.getLogger("risk_manager.daemon.api.server")

AUTH_FAILURES_PER_CONNECTION = 3
#: after the n-th counted failure on a connection the next attempt waits AUTH_BACKOFF_S * 2**(n-1)
AUTH_BACKOFF_S = 1.0
MIN_UNLOCK_REASON = 10
MAX_LOCKOUT_ID = 64
SESSION_IDLE_S = 15 * 60


class AdminClient(Protocol):
    """The parts of a connection the admin desk reads and writes."""

    peer: str
    session: str | None
    session_used_at: float
    auth_failures: int
    auth_retry_at: float


class CloseAfterAnswer(LocalApiError):
    """The request is answered with ``error``, then the connection is closed (1008, ``reason``)."""

    def __init__(self, error: LocalApiError, reason: str) -> None:
        super().__init__(error.code, error.message, **error.extra)
        self.error = error
        self.reason = reason


class AdminDesk:
    def __init__(
        self,
        provider: ApiProvider,
        checker: AdminPasswordChecker,
        *,
        session_idle_s: float,
        monotonic: Callable[[], float],
    ) -> None:
        self._provider = provider
        self._checker = checker
        self._session_idle_s = session_idle_s
        self._monotonic = monotonic
        #: set by the server once the token file is written; None: admin login is impossible
        self.token: str | None = None
        self.token_path: Path | None = None

    def actor(self, client: AdminClient, request: Request | None, *, session: bool) -> dict[str, Any]:
        os_user = request.data.get("osUser") if request is not None else None
        return {
            "peer": client.peer,
            "osUser": os_user if isinstance(os_user, str) else None,
            "session": session,
        }

    async def audit(
        self,
        action: str,
        outcome: str,
        client: AdminClient,
        request: Request | None,
        *,
        session: bool = False,
        target: str | None = None,
        reason: str | None = None,
    ) -> None:
        actor = self.actor(client, request, session=session)
        try:
            await self._provider.audit(action, outcome, actor, target, reason)
        except Exception:
            log.exception("audit of %s (%s) could not be written", action, outcome)

    async def auth(self, client: AdminClient, request: Request) -> dict[str, Any]:
        wait = client.auth_retry_at - self._monotonic()
        if wait > 0:
            # Not an attempt: nothing is checked, counted or audited (the back-off is per connection).
            raise LocalApiError(
                "rate_limited",
                f"Wait {math.ceil(wait)} s before the next password attempt on this connection.",
                retryAfterMs=max(1, math.ceil(wait * 1000)),
            )
        refusal = self._token_refusal(request.data.get("adminToken"))
        if refusal is not None:
            why, error = refusal
            client.auth_failures += 1
            await self.audit("admin_login_failed", why, client, request)
            if client.auth_failures >= AUTH_FAILURES_PER_CONNECTION:
                raise CloseAfterAnswer(error, "too many failed password attempts")
            raise error
        password = request.data.get("password")
        if not isinstance(password, str) or not password:
            await self.audit("admin_login_failed", "bad_request", client, request)
            raise LocalApiError("bad_request", "field 'data.password' must be a non-empty string")
        if len(password) > MAX_PASSWORD_CHARS:
            await self.audit("admin_login_failed", "bad_request", client, request)
            raise LocalApiError(
                "bad_request", f"field 'data.password' is longer than {MAX_PASSWORD_CHARS} characters"
            )
        outcome = await self._checker.attempt(password)
        return await self._auth_result(client, request, outcome)

    def _token_refusal(self, given: Any) -> tuple[str, LocalApiError] | None:
        """None when ``given`` is the daemon's admin token (constant-time), else (audit outcome, error)."""
        where = f" ({self.token_path})" if self.token_path is not None else ""
        if self.token is None:
            return "no_daemon_token", LocalApiError(
                "unauthorized",
                f"Admin login is unavailable: the daemon could not write its admin token file{where}; "
                "see its log.",
            )
        if isinstance(given, str) and _same(given, self.token):
            return None
        return ("no_admin_token" if given is None else "wrong_admin_token"), LocalApiError(
            "unauthorized",
            "Admin commands need the daemon's admin token (data.adminToken), read from the daemon's "
            f"admin.token file{where}, which only OS administrators can read. Run the admin console as "
            "an administrator (Windows: \"Run as administrator\"; Linux: sudo).",
        )

    async def _auth_result(self, client: AdminClient, request: Request, outcome: AuthOutcome) -> dict[str, Any]:
        result = outcome.result
        if result is AuthResult.OK:
            client.session = secrets.token_urlsafe(32)
            client.session_used_at = self._monotonic()
            client.auth_failures = 0
            client.auth_retry_at = 0.0
            await self.audit("admin_login", "ok", client, request, session=True)
            return {"session": client.session, "expiresIdleS": int(self._session_idle_s)}
        if result is AuthResult.NO_PASSWORD:
            await self.audit("admin_login_failed", result.value, client, request)
            raise LocalApiError("auth_failed", outcome.detail)
        if result in (AuthResult.CORRUPT, AuthResult.UNREADABLE):
            log.error("admin login impossible: %s", outcome.detail)
            await self.audit("admin_login_failed", result.value, client, request)
            raise LocalApiError("internal", outcome.detail)
        client.auth_failures += 1
        last_try = client.auth_failures >= AUTH_FAILURES_PER_CONNECTION
        client.auth_retry_at = self._monotonic() + AUTH_BACKOFF_S * 2 ** (client.auth_failures - 1)
        if result is AuthResult.LOCKED:
            await self.audit("admin_locked", "refused", client, request)
            error = LocalApiError(
                "auth_locked",
                f"Admin login is locked after repeated wrong passwords. Try again in "
                f"{_describe_seconds(outcome.retry_after_s or 0)}, or ask an OS administrator to run "
                '"risk-manager admin password reset".',
                retryAfterS=outcome.retry_after_s,
            )
        elif result is AuthResult.NEWLY_LOCKED:
            assert outcome.lock_duration is not None
            await self.audit("admin_login_failed", "wrong_password", client, request)
            await self.audit(
                "admin_locked",
                "locked",
                client,
                request,
                reason=f"{outcome.failures} consecutive failures; locked for "
                f"{describe_duration(outcome.lock_duration)}",
            )
            error = LocalApiError(
                "auth_locked",
                f"Wrong password. Admin login is locked for {describe_duration(outcome.lock_duration)} "
                f"after {outcome.failures} consecutive wrong passwords.",
                retryAfterS=outcome.retry_after_s,
            )
        else:
            await self.audit("admin_login_failed", "wrong_password", client, request)
            left = AUTH_FAILURES_PER_CONNECTION - client.auth_failures
            if left > 0:
                backoff = client.auth_retry_at - self._monotonic()
                error = LocalApiError(
                    "auth_failed",
                    f"Wrong password. {left} attempt{'s' if left != 1 else ''} left.",
                    retryAfterMs=max(1, math.ceil(backoff * 1000)),
                )
            else:
                error = LocalApiError("auth_failed", "Wrong password.")
        if last_try:
            # Answered, then the connection closes (the server queues the close behind the answer).
            raise CloseAfterAnswer(error, "too many failed password attempts")
        raise error

    async def command(self, client: AdminClient, request: Request) -> dict[str, Any]:
        op = request.op
        now = self._monotonic()
        token = request.session
        if client.session is None or token is None or not _same(token, client.session):
            await self.audit(audit_action(op, ok=False), "unauthorized", client, request)
            raise LocalApiError("unauthorized", f"op {op!r} needs an admin session: send 'auth' first")
        if now - client.session_used_at > self._session_idle_s:
            client.session = None
            await self.audit(
                audit_action(op, ok=False), "unauthorized", client, request, reason="session expired"
            )
            raise LocalApiError(
                "unauthorized",
                f"the admin session expired after {int(self._session_idle_s // 60)} min without an admin "
                "request; send 'auth' again",
            )
        client.session_used_at = now
        if op == "logout":
            client.session = None
            await self.audit("admin_logout", "ok", client, request, session=True)
            return {"loggedOut": True}
        if op == "reload_config":
            return await self._reload(client, request)
        return await self._unlock(client, request)

    async def _reload(self, client: AdminClient, request: Request) -> dict[str, Any]:
        actor = self.actor(client, request, session=True)
        try:
            result = await self._provider.reload_config(actor)
        except ConfigInvalidError as exc:
            await self.audit(
                "reload_rejected",
                "config_invalid",
                client,
                request,
                session=True,
                target="config",
                reason=f"{len(exc.errors)} error(s)",
            )
            raise
        except LocalApiError as exc:
            await self.audit("reload_rejected", exc.code, client, request, session=True, target="config")
            raise
        except Exception:
            await self.audit("reload_rejected", "error", client, request, session=True, target="config")
            raise
        await self.audit("config_reloaded", "ok", client, request, session=True, target="config")
        return result

    async def _unlock(self, client: AdminClient, request: Request) -> dict[str, Any]:
        data = request.data
        try:
            target, reason = _validate_unlock(data)
        except LocalApiError as exc:
            await self.audit(
                "lockout_unlocked", exc.code, client, request, session=True, reason=_short(data.get("reason"))
            )
            raise
        actor = self.actor(client, request, session=True)
        try:
            result = await self._provider.unlock(dict(data), actor)
        except LocalApiError as exc:
            await self.audit(
                "lockout_unlocked", exc.code, client, request, session=True, target=target, reason=reason
            )
            raise
        except Exception:
            await self.audit(
                "lockout_unlocked", "error", client, request, session=True, target=target, reason=reason
            )
            raise
        await self.audit(
            "lockout_unlocked", "ok", client, request, session=True, target=target, reason=reason
        )
        return result


def _same(given: str, secret: str) -> bool:
    """Constant-time comparison; bytes, because ``compare_digest`` raises on non-ASCII ``str``."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), secret.encode("utf-8"))


def audit_action(op: str, *, ok: bool) -> str:
    if op == "reload_config":
        return "config_reloaded" if ok else "reload_rejected"
    if op == "unlock":
        return "lockout_unlocked"
    if op == "auth":
        return "admin_login" if ok else "admin_login_failed"
    return "admin_logout"


def _short(value: Any) -> str | None:
    return value[:500] if isinstance(value, str) else None


def _describe_seconds(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"



def _validate_unlock(data: dict[str, Any]) -> tuple[str, str]:
    """Shape of an unlock request (§9.4); returns (audit target, reason)."""
    if "accountId" not in data:
        raise LocalApiError("bad_request", "missing field 'data.accountId'")
    account = data["accountId"]
    if not is_int(account):
        raise LocalApiError("bad_request", "field 'data.accountId' must be an integer")
    selectors = [key for key in ("lockoutId", "ruleId", "all") if data.get(key) is not None]
    if len(selectors) != 1:
        raise LocalApiError(
            "bad_request",
            "exactly one of 'data.lockoutId', 'data.ruleId' or 'data.all' is required"
            + (f" (got {', '.join(selectors)})" if selectors else ""),
        )
    selector = selectors[0]
    value = data[selector]
    if selector == "lockoutId" and not (
        is_int(value) or (isinstance(value, str) and 0 < len(value) <= MAX_LOCKOUT_ID)
    ):
        raise LocalApiError(
            "bad_request", "field 'data.lockoutId' must be a lockout id such as \"L7\" (as in the snapshot)"
        )
    if selector == "ruleId" and (not isinstance(value, str) or not value.strip()):
        raise LocalApiError("bad_request", "field 'data.ruleId' must be a non-empty string such as \"RULE-003\"")
    if selector == "all" and value is not True:
        raise LocalApiError("bad_request", "field 'data.all' must be true")
    reason = data.get("reason")
    if not isinstance(reason, str):
        raise LocalApiError(
            "bad_request", f"field 'data.reason' is required: at least {MIN_UNLOCK_REASON} characters"
        )
    if len(reason.strip()) < MIN_UNLOCK_REASON:
        raise LocalApiError(
            "bad_request",
            f"field 'data.reason' must be at least {MIN_UNLOCK_REASON} characters "
            f"(got {len(reason.strip())})",
        )
    os_user = data.get("osUser")
    if os_user is not None and not isinstance(os_user, str):
        raise LocalApiError("bad_request", "field 'data.osUser' must be a string")
    target = f"account {account} " + ("all lockouts" if selector == "all" else f"{selector} {value}")
    return target, reason.strip()
