"""Short broker sessions of the console's own (sign-in checks, account lists, connection tests).

They use the product's gateway client with the same URLs as the daemon but never share its session:
a test or a key check must not disturb enforcement. Failures become the short reasons of
admin-cli.md §7 and §9; no message ever contains a key or a token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

from risk_manager.gateway.errors import (
    ApiError,
    AuthRejected,
    ConnectionFailed,
    GatewayError,
    HttpStatusError,
    RateLimited,
    RequestTimeout,
    ServerError,
)
from risk_manager.gateway.rest import RestClient
from risk_manager.gateway.session import RestSettings

T = TypeVar("T")
REST_TIMEOUT_S = 10.0


class BrokerFailure(Exception):
    """Why a broker call failed, in the words shown to the admin (``reason``).

    ``kind``: auth | unreachable | rate_limited | timeout | error.
    """

    def __init__(self, reason: str, kind: str = "error") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def settings(api_url: str, timeout_s: float = REST_TIMEOUT_S) -> RestSettings:
    # No retries and no 60 s back-off: a check reports the first answer it gets.
    return RestSettings(
        api_url=api_url,
        connect_timeout_s=min(5.0, timeout_s),
        request_timeout_s=timeout_s,
        read_retry_delays_s=(),
        rate_limit_retries=0,
        priority_rate_limit_retries=0,
        login_retry_s=0.0,
    )


def reason_of(exc: BaseException, api_url: str, timeout_s: float = REST_TIMEOUT_S) -> BrokerFailure:
    host = urlsplit(api_url).hostname or api_url
    if isinstance(exc, AuthRejected):
        code = f" (broker error code {exc.error_code})" if exc.error_code not in (0, 401) else ""
        if exc.error_code == 401:
            code = " (HTTP 401)"
        return BrokerFailure(f"the broker rejected the user name or API key{code}", "auth")
    if isinstance(exc, RateLimited):
        return BrokerFailure("rate limited (HTTP 429), try again in 60 s", "rate_limited")
    if isinstance(exc, RequestTimeout) or isinstance(exc, TimeoutError):
        return BrokerFailure(f"timed out after {timeout_s:.0f} s ({host})", "timeout")
    if isinstance(exc, ConnectionFailed):
        text = str(exc)
        if "DNS" in text or "Name" in text:
            return BrokerFailure(f"DNS lookup failed for {host}", "unreachable")
        if "SSL" in text or "Certificate" in text:
            return BrokerFailure(f"TLS error talking to {host}", "unreachable")
        detail = text.split("connection failed", 1)[-1].strip(" ()") or "connection failed"
        return BrokerFailure(f"cannot reach {host} ({detail})", "unreachable")
    if isinstance(exc, ServerError):
        return BrokerFailure(f"HTTP {exc.status} from {host} (broker server error)")
    if isinstance(exc, HttpStatusError):
        return BrokerFailure(f"HTTP {exc.status} from {host}")
    if isinstance(exc, ApiError):
        return BrokerFailure(f"broker error code {exc.error_code}: {exc.error_message or 'no message'}")
    if isinstance(exc, GatewayError):
        return BrokerFailure(str(exc))
    return BrokerFailure(f"{type(exc).__name__}")


class BrokerCheck:
    """A key login and account list on one short-lived session (its own event loop)."""

    def __init__(self, api_url: str, user_name: str, api_key: str) -> None:
        self.api_url = api_url
        self._runner = asyncio.Runner()
        self._client = RestClient(user_name, api_key, settings(api_url))

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return self._runner.run(asyncio.wait_for(coro, REST_TIMEOUT_S))
        except (GatewayError, TimeoutError) as exc:
            raise reason_of(exc, self.api_url) from None

    def sign_in(self) -> None:
        self._run(self._client.login())

    def accounts(self) -> list[dict[str, Any]]:
        return self._run(self._client.search_accounts(only_active=True))

    def close(self) -> None:
        try:
            self._runner.run(self._client.aclose())
        finally:
            self._runner.close()

    def __enter__(self) -> BrokerCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sign_in_message(failure: BrokerFailure) -> str:
    """The §7 wording: ``Sign-in failed: …``."""
    if failure.kind == "auth":
        return f"Sign-in failed: {failure.reason}."
    if failure.kind == "rate_limited":
        return "Sign-in failed: rate limited by the broker, try again in 60 s."
    return f"Sign-in failed: {failure.reason}."
