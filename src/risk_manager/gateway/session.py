"""One REST session per login: HTTP transport, token lifecycle, rate limiting, retries, error mapping.

Everything below the endpoint methods of :mod:`risk_manager.gateway.rest` lives here, so that every
call gets the same treatment (spec/gateway.md §1.2-§1.5):

* **Token.** Logged in lazily with ``Auth/loginKey``; before each call, if less than
  ``refresh_margin_s`` (1 h) remains before the JWT's ``exp``, ``Auth/validate`` swaps in ``newToken``;
  a failing validate falls back to ``loginKey``. A rejected key is not retried for ``login_retry_s``
  (60 s): callers in between get the same :class:`AuthRejected` at once, never a tight loop.
* **401** anywhere: refresh once, repeat the call once (the call was not executed).
* **429**: wait ``Retry-After`` (default 5 s, cap 60 s; growing on repeats) and retry; priority calls
  never wait longer than 2 s per attempt.
* **5xx / timeout / connection error**: reads are retried after 0.5, 1, 2, 4 s; mutating calls are
  never repeated and raise :class:`TransportFailure` (an ``OutcomeUncertain``).
* **success:false** becomes :class:`ApiError` (a ``BrokerRejected``) with ``errorCode``/``errorMessage``.
* **A bare JSON array** instead of the envelope is accepted where the caller allows it (``bare_list``):
  a published client reads ``Position/searchOpen`` and ``Trade/search`` answers that way as a newer
  response shape (docs/gateway-client.md), and a reconcile must not fail on it.

The API key and the token are kept in attributes that no repr, log line or exception message shows;
``errorMessage`` texts from the server are scrubbed of both before they go into an exception.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn

import aiohttp
from aiohttp.client_reqrep import ClientRequest

from risk_manager import __version__, latency_trace
from risk_manager.eager_tasks import start_nested_eagerly
from risk_manager.gateway.backoff import READ_RETRY_DELAYS_S
from risk_manager.gateway.errors import (
    ApiError,
    AuthRejected,
    ConnectionFailed,
    GatewayError,
    HttpStatusError,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    ServerError,
    TransportFailure,
    Unauthorized,
)
from risk_manager.gateway.express import ExpressLane, LaneFailed
from risk_manager.gateway.ratelimit import SlidingWindowLimiter
from risk_manager.gateway.tokens import SessionToken
from risk_manager.gateway.urls import TOPSTEPX_API_URL

log = logging.getLogger("risk_manager.gateway.rest")

LOGIN_PATH = "/api/Auth/loginKey"
VALIDATE_PATH = "/api/Auth/validate"
LOGOUT_PATH = "/api/Auth/logout"
BARS_PATH = "/api/History/retrieveBars"
AUTH_PATHS = frozenset({LOGIN_PATH, VALIDATE_PATH, LOGOUT_PATH})


@dataclass(frozen=True, slots=True)
class RestSettings:
    """Client settings of the REST session (defaults from spec/gateway.md §1.3-§1.5)."""

    api_url: str = TOPSTEPX_API_URL
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 10.0
    rate_limit: tuple[int, float] = (200, 60.0)
    bars_rate_limit: tuple[int, float] = (50, 30.0)
    routine_share: float = 0.9
    refresh_margin_s: float = 3600.0
    read_retry_delays_s: tuple[float, ...] = READ_RETRY_DELAYS_S
    retry_after_default_s: float = 5.0
    retry_after_cap_s: float = 60.0
    priority_retry_after_cap_s: float = 2.0
    rate_limit_retries: int = 5
    priority_rate_limit_retries: int = 5
    login_retry_s: float = 60.0
    #: keep a connection open for enforcement calls (``express.py``): the daemon's sessions only
    express_lane: bool = False
    #: whom to trust over HTTPS (both paths); None: the system's default trust store
    tls: ssl.SSLContext | None = None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # JSON numbers, not strings: prices on a tick grid have few digits, so float text is exact.
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def encode_body(body: dict[str, Any]) -> bytes:
    return json.dumps(body, default=_json_default, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What the session needs of an HTTP response (read completely, connection released)."""

    status_code: int
    content: bytes
    headers: Mapping[str, str]


def _retry_after(response: HttpAnswer) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None  # HTTP-date form: treat as absent
    return value if value >= 0 else None


REQUEST_SENT: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "risk_manager_request_sent", default=None
)
"""A callback run once the request body has been written to the socket (or the attempt failed),
from the event loop right after the write.

The daemon sets it around enforcement calls so that its pipeline can step aside exactly until the
money-moving request is on the wire (see ``daemon/urgency.py``)."""


class _Request(ClientRequest):
    """aiohttp's request, telling the caller when its body has been handed to the socket.

    ``REQUEST_SENT`` (a context variable: aiohttp's body writer runs in a task copied from the
    caller's context) is called right after the write, or when it failed. This replaces a
    ``TraceConfig``, whose every request signal is an awaited call even with nothing listening (about
    a dozen per request, ~18 us per loopback round trip warm), on the enforcement path; and the report
    now runs after the bytes left, not just before (aiohttp signals a chunk before writing it)."""

    async def write_bytes(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().write_bytes(*args, **kwargs)
        finally:
            _report_sent()


def _report_sent() -> None:
    """The request's bytes are on the socket (or the attempt to put them there failed)."""
    sent = REQUEST_SENT.get()
    if sent is not None:
        trace = latency_trace.TRACE
        if trace is not None:
            trace.mark(latency_trace.KEY.get(), "written")
        sent()


# aiohttp writes a request's body in a task of its own; inside an eager start (an enforcement call) it
# is written at once, as aiohttp itself asks on Python 3.12+ (risk_manager/eager_tasks.py).
start_nested_eagerly(_Request.write_bytes)


def http_client(settings: RestSettings) -> aiohttp.ClientSession:
    """The HTTP client of a REST session: its timeouts, and requests that report ``REQUEST_SENT``."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.request_timeout_s, connect=settings.connect_timeout_s),
        headers={"Accept": "application/json", "User-Agent": f"risk-manager/{__version__}"},
        request_class=_Request,
        connector=None if settings.tls is None else aiohttp.TCPConnector(ssl=settings.tls),
    )


class GatewaySession:
    """HTTP session of one login. Use ``async with`` or call :meth:`aclose`."""

    def __init__(self, user_name: str, api_key: str, settings: RestSettings | None = None) -> None:
        self.settings = s = settings or RestSettings()
        self.user_name = user_name
        self.__api_key = api_key
        self._token: SessionToken | None = None
        self._token_lock = asyncio.Lock()
        self._login_rejected: tuple[float, AuthRejected] | None = None
        self.limiter = SlidingWindowLimiter(*s.rate_limit, routine_share=s.routine_share)
        self.bars_limiter = SlidingWindowLimiter(*s.bars_rate_limit, routine_share=s.routine_share)
        self._http: aiohttp.ClientSession | None = None  # created on first use, inside the loop
        # Enforcement calls' own connection (express.py), for the daemon's sessions.
        self.express = ExpressLane(s.api_url, s.connect_timeout_s, s.tls) if s.express_lane else None
        self._base = s.api_url.rstrip("/")
        self.logins = 0  # counters for tests and the status view
        self.refreshes = 0

    def __repr__(self) -> str:
        state = "none" if self._token is None else f"expires_at={self._token.expires_at:.0f}"
        return f"GatewaySession(api_url={self.settings.api_url!r}, user={self.user_name!r}, token={state})"

    __str__ = __repr__

    async def __aenter__(self) -> GatewaySession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self.express is not None:
            await self.express.aclose()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _client(self) -> aiohttp.ClientSession:
        """aiohttp rather than httpx for REST: about half the per-request overhead (measured 0.87 vs
        1.79 ms per loopback round trip), and that overhead is enforcement latency."""
        if self._http is None or self._http.closed:
            self._http = http_client(self.settings)
        return self._http

    async def _request(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> HttpAnswer:
        urgent = REQUEST_SENT.get() is not None
        trace = latency_trace.TRACE
        if trace is not None and urgent:
            trace.mark(latency_trace.KEY.get(), "http")
        lane = self.express
        if lane is not None:
            if urgent and data is not None:
                conn = lane.ready()
                if conn is not None:
                    pending = lane.send(conn, method, path, data, headers)
                    if pending is not None:
                        if trace is not None:
                            trace.mark(latency_trace.KEY.get(), "express")
                        _report_sent()
                        return await self._express_answer(lane, conn, pending, path)
            lane.warm()
        try:
            async with self._client().request(method, self._base + path, data=data, headers=headers) as response:
                content = await response.read()
                return HttpAnswer(response.status, content, response.headers)
        except TimeoutError as exc:
            raise RequestTimeout(f"{path}: timed out ({type(exc).__name__})", path=path) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ConnectionFailed(f"{path}: connection failed ({type(exc).__name__})", path=path) from None

    async def _express_answer(
        self, lane: ExpressLane, conn: Any, pending: asyncio.Future[tuple[int, Any, bytes]], path: str
    ) -> HttpAnswer:
        """The answer to a request sent on the express lane, failures reported as aiohttp's are."""
        try:
            status, headers, content = await asyncio.wait_for(pending, self.settings.request_timeout_s)
        except TimeoutError:
            lane.drop(conn)
            raise RequestTimeout(f"{path}: timed out (express lane)", path=path) from None
        except LaneFailed as exc:
            raise ConnectionFailed(f"{path}: connection failed ({exc})", path=path) from None
        except asyncio.CancelledError:
            lane.drop(conn)  # its answer would come to nobody: the lane starts afresh
            raise
        return HttpAnswer(status, content, headers)

    # ----- secrets hygiene ------------------------------------------------------------------------------
    def scrub(self, text: str | None) -> str | None:
        """``text`` with the API key and the current token replaced by ``***``."""
        if not text:
            return text
        for secret in (self.__api_key, self._token.value if self._token else None):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    # ----- token lifecycle ------------------------------------------------------------------------------
    @property
    def token_expires_at(self) -> float | None:
        return None if self._token is None else self._token.expires_at

    @property
    def has_token(self) -> bool:
        return self._token is not None

    async def token(self) -> str:
        """A valid bearer token (logging in or refreshing first if needed): the hubs' token provider."""
        current = self._token
        if current is not None and not current.needs_refresh(self.settings.refresh_margin_s):
            return current.value
        return await self._renew(stale=current.value if current else None)

    async def token_rejected(self, token: str) -> str:
        """The server refused ``token`` (401 on REST, negotiate or upgrade): renew unless already done."""
        return await self._renew(stale=token, force=True)

    async def _renew(self, stale: str | None, force: bool = False) -> str:
        async with self._token_lock:
            current = self._token
            if current is not None and current.value != stale:
                return current.value  # someone renewed while we waited for the lock
            if (
                current is not None
                and not force
                and not current.needs_refresh(self.settings.refresh_margin_s)
            ):
                return current.value
            if current is not None and current.remaining() > 0:
                try:
                    return await self._validate(current.value)
                except GatewayError as exc:
                    log.warning("token refresh failed for %s (%s); logging in again", self.user_name, exc)
            return await self._login()

    async def _validate(self, token: str) -> str:
        await self.limiter.acquire(priority=True)
        response = await self._post(VALIDATE_PATH, {}, token)
        if response.status_code == 401:
            raise Unauthorized(VALIDATE_PATH, 401)
        data = self._envelope(VALIDATE_PATH, response)
        new = data.get("newToken") or data.get("token")
        if not isinstance(new, str) or not new:
            raise ProtocolError(f"{VALIDATE_PATH}: no newToken in the answer", path=VALIDATE_PATH)
        self._token = SessionToken.from_value(new)
        self.refreshes += 1
        log.info("token refreshed for %s (valid %.0f s)", self.user_name, self._token.remaining())
        return new

    async def _login(self) -> str:
        rejected = self._login_rejected
        if rejected is not None and time.monotonic() - rejected[0] < self.settings.login_retry_s:
            prior = rejected[1]
            raise AuthRejected(LOGIN_PATH, prior.error_code, prior.error_message)
        body = {"userName": self.user_name, "apiKey": self.__api_key}
        await self.limiter.acquire(priority=True)
        response = await self._post(LOGIN_PATH, body, None)
        if response.status_code == 401:
            self._reject(AuthRejected(LOGIN_PATH, 401, "HTTP 401: credentials rejected"))
        try:
            data = self._envelope(LOGIN_PATH, response)
        except ApiError as exc:
            self._reject(AuthRejected(LOGIN_PATH, exc.error_code, exc.error_message))
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise ProtocolError(f"{LOGIN_PATH}: success without a token", path=LOGIN_PATH)
        self._token = SessionToken.from_value(token)
        self._login_rejected = None
        self.logins += 1
        log.info("logged in as %s (token valid %.0f s)", self.user_name, self._token.remaining())
        return token

    def _reject(self, exc: AuthRejected) -> NoReturn:
        self._login_rejected = (time.monotonic(), exc)
        log.error(
            "login rejected for %s: %s; next attempt in %.0f s",
            self.user_name,
            exc,
            self.settings.login_retry_s,
        )
        raise exc

    async def logout(self) -> None:
        """Best effort (spec/gateway.md §1.2): failures are ignored."""
        token = self._token
        if token is None:
            return
        try:
            await self._post(LOGOUT_PATH, {}, token.value)
        except GatewayError as exc:
            log.info("logout for %s failed (ignored): %s", self.user_name, exc)
        self._token = None

    # ----- transport ------------------------------------------------------------------------------------
    async def _post(self, path: str, body: dict[str, Any], token: str | None) -> HttpAnswer:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self._request("POST", path, encode_body(body), headers)

    def _parse(self, path: str, response: HttpAnswer) -> Any:
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise ProtocolError(
                f"{path}: HTTP {response.status_code} with a non-JSON body", path=path
            ) from None

    def _envelope(self, path: str, response: HttpAnswer, bare_list: bool = False) -> Any:
        status = response.status_code
        if status >= 500:
            raise ServerError(path, status)
        if status == 429:
            raise RateLimited(path, _retry_after(response))
        if status != 200:
            raise HttpStatusError(path, status)
        data = self._parse(path, response)
        if bare_list and isinstance(data, list):
            return data  # the list shape carries no envelope: HTTP 200 is its success
        if not isinstance(data, dict):
            raise ProtocolError(f"{path}: answer is not a JSON object", path=path)
        code = data.get("errorCode")
        code = code if isinstance(code, int) and not isinstance(code, bool) else 0
        if data.get("success") is not True or code != 0:
            message = data.get("errorMessage")
            raise ApiError(path, code, self.scrub(message if isinstance(message, str) else None))
        return data

    async def call(
        self,
        path: str,
        body: dict[str, Any],
        *,
        mutating: bool = False,
        priority: bool | None = None,
        bare_list: bool = False,
    ) -> Any:
        """POST ``body`` to ``path`` and return the successful envelope (a dict), or with
        ``bare_list`` also a bare JSON array as it came.

        ``priority`` defaults to ``mutating``: enforcement calls and the reads that verify them pass
        ``priority=True``; reconciliation and metadata reads are routine.
        """
        prio = mutating if priority is None else priority
        limiter = self.bars_limiter if path == BARS_PATH else self.limiter
        s = self.settings
        failures = 0
        limited = 0
        repeated_401 = False
        while True:
            token = await self.token()
            await limiter.acquire(priority=prio)
            started = time.monotonic()
            try:
                response = await self._post(path, body, token)
                if response.status_code == 401:
                    if repeated_401:
                        raise Unauthorized(path, 401)
                    repeated_401 = True
                    log.info("%s: HTTP 401, refreshing the token and repeating once", path)
                    await self.token_rejected(token)
                    continue
                if response.status_code == 400:
                    shown = "" if path in AUTH_PATHS else f" body={self.scrub(encode_body(body).decode())}"
                    log.error("%s: HTTP 400 (request rejected as malformed; a bug)%s", path, shown)
                elif response.status_code == 404:
                    log.error("%s: HTTP 404 - check api_url %s", path, s.api_url)
                data = self._envelope(path, response, bare_list)
            except RateLimited as exc:
                if limited >= (s.priority_rate_limit_retries if prio else s.rate_limit_retries):
                    raise
                base = exc.retry_after if exc.retry_after is not None else s.retry_after_default_s
                wait = min(s.retry_after_cap_s, base * (1.5**limited))
                if prio:
                    wait = min(wait, s.priority_retry_after_cap_s)
                limited += 1
                log.warning("%s: HTTP 429, waiting %.1f s (retry %d)", path, wait, limited)
                await asyncio.sleep(wait)
                continue
            except TransportFailure as exc:
                if mutating or failures >= len(s.read_retry_delays_s):
                    log.warning("%s: %s after %.2f s", path, exc, time.monotonic() - started)
                    raise
                delay = s.read_retry_delays_s[failures]
                failures += 1
                log.warning("%s: %s; retry %d in %.1f s", path, exc, failures, delay)
                await asyncio.sleep(delay)
                continue
            except ApiError as exc:
                log.info("%s: %s", path, exc)
                raise
            return data

    async def get_json(self, path: str) -> Any:
        """Unauthenticated GET (``Status/ping``)."""
        response = await self._request("GET", path, None, {})
        if response.status_code >= 500:
            raise ServerError(path, response.status_code)
        if response.status_code != 200:
            raise HttpStatusError(path, response.status_code)
        return self._parse(path, response)
