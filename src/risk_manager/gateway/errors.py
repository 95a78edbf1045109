"""One exception hierarchy for everything the gateway client can raise.

The classes double as the executor's two outcome kinds (``daemon/broker_ops.py``): a broker answer of
``success:false`` is a :class:`BrokerRejected` ("verify, do not retry blindly"), and a call whose fate
is unknown (timeout, 5xx, dropped connection) is an :class:`OutcomeUncertain`. Messages carry the REST
path, HTTP status and ``errorCode`` but never a token or API key.
"""

from __future__ import annotations

from risk_manager.broker_ops import BrokerRejected, OutcomeUncertain


class GatewayError(Exception):
    """Base class: every failure the gateway client reports."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ApiError(GatewayError, BrokerRejected):
    """HTTP 200 with ``success:false`` (or a non-zero ``errorCode``): the broker said no.

    ``error_code`` is logged and kept for tests; the client never branches on a specific value
    (spec/gateway.md §1.4), because live codes are unverified.
    """

    def __init__(self, path: str, error_code: int, error_message: str | None) -> None:
        text = f"{path}: success=false errorCode={error_code}"
        if error_message:
            text += f" ({error_message})"
        super().__init__(text, path=path)
        self.error_code = error_code
        self.error_message = error_message


class AuthRejected(ApiError):
    """``Auth/loginKey`` refused the credentials (success:false or HTTP 401). Retried every 60 s."""


class HttpStatusError(GatewayError):
    """An HTTP status the client cannot turn into a result (400 bug, 404 configuration error, ...)."""

    def __init__(self, path: str, status: int, detail: str = "") -> None:
        text = f"{path}: HTTP {status}"
        if detail:
            text += f" ({detail})"
        super().__init__(text, path=path)
        self.status = status


class Unauthorized(HttpStatusError):
    """HTTP 401 that survived one refresh-and-repeat."""


class RateLimited(HttpStatusError, OutcomeUncertain):
    """HTTP 429 still returned after the allowed waits.

    The call was not executed, but the executor's "uncertain" path (verify, then re-issue what is
    still needed) is the right reaction, so this is also an :class:`OutcomeUncertain`.
    """

    def __init__(self, path: str, retry_after: float | None) -> None:
        super().__init__(path, 429, f"rate limited, Retry-After={retry_after}")
        self.retry_after = retry_after


class TransportFailure(GatewayError, OutcomeUncertain):
    """No trustworthy answer: the broker may or may not have executed the call."""


class ServerError(TransportFailure):
    """HTTP 5xx."""

    def __init__(self, path: str, status: int) -> None:
        super().__init__(f"{path}: HTTP {status} (server error)", path=path)
        self.status = status


class RequestTimeout(TransportFailure):
    """No answer within the request timeout."""


class ConnectionFailed(TransportFailure):
    """The connection could not be made or broke mid-request."""


class ProtocolError(GatewayError):
    """The answer was not the JSON the protocol promises."""


class HubError(GatewayError):
    """A hub invocation failed (error completion, timeout, or the connection went away)."""
