"""A small synchronous client of the daemon's local API (daemon.md §9) for the console.

The console is a sequential program: a blocking WebSocket (``websockets.sync``) with deadlines on
every wait is simpler than an event loop, and nothing waits forever. Pushes that arrive while a
response is awaited are skipped (the console re-reads state when it draws a screen).

Admin sessions send the admin token from the daemon's data directory with the password
(docs/local-api.md, admin channel): only OS administrators can read it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from risk_manager.daemon.api.protocol import PROTOCOL_VERSION

CONNECT_TIMEOUT_S = 3.0
REQUEST_TIMEOUT_S = 10.0


class DaemonUnavailable(Exception):
    """No usable connection; ``reason`` is the short text of admin-cli.md §9 (daemon test)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"The daemon is not answering on {url} ({reason}).")
        self.url = url
        self.reason = reason


class DaemonError(Exception):
    """The daemon answered ``ok: false`` (code of daemon.md §9.7, message, extra fields)."""

    def __init__(self, error: dict[str, Any]) -> None:
        self.code = str(error.get("code", "internal"))
        self.message = str(error.get("message", ""))
        self.error = error
        super().__init__(f"{self.code}: {self.message}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (daemon not running)"
    if isinstance(exc, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_S:.0f} s"
    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, InvalidURI):
        return "invalid URL"
    if isinstance(exc, ConnectionClosed):
        return "connection closed by the daemon"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return type(exc).__name__


class DaemonClient:
    """One connection. ``snapshot`` holds the first message's data (the connect snapshot)."""

    def __init__(self, url: str, *, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self.url = url
        self._connect_timeout_s = connect_timeout_s
        self._ws: ClientConnection | None = None
        self._stack = contextlib.ExitStack()
        self._ids = itertools.count(1)
        self.session: str | None = None
        self.snapshot: dict[str, Any] = {}
        self.connected_ms = 0.0

    # ----- lifecycle ------------------------------------------------------------------------------------
    def open(self) -> DaemonClient:
        started = time.perf_counter()
        try:
            self._ws = self._stack.enter_context(
                connect(
                    self.url,
                    open_timeout=self._connect_timeout_s,
                    max_size=None,
                    compression=None,
                    user_agent_header="risk-manager-admin",
                )
            )
            first = self._recv(self._connect_timeout_s)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as exc:
            self.close()
            raise DaemonUnavailable(self.url, _reason(exc)) from None
        if first.get("type") == "error":
            data = first.get("data") or {}
            self.close()
            raise DaemonUnavailable(self.url, str(data.get("message") or "protocol error"))
        if first.get("type") != "snapshot":
            self.close()
            raise DaemonUnavailable(self.url, f"unexpected first message {first.get('type')!r}")
        self.snapshot = first.get("data") or {}
        self.connected_ms = (time.perf_counter() - started) * 1000
        return self

    @property
    def is_open(self) -> bool:
        return self._ws is not None

    def close(self) -> None:
        self._ws = None
        self.session = None
        with contextlib.suppress(Exception):
            self._stack.close()

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def protocol(self) -> int | None:
        value = self.snapshot.get("protocol")
        return value if isinstance(value, int) else None

    def protocol_supported(self) -> bool:
        return self.protocol == PROTOCOL_VERSION

    # ----- requests -------------------------------------------------------------------------------------
    def _recv(self, timeout: float) -> dict[str, Any]:
        assert self._ws is not None
        raw = self._ws.recv(timeout=timeout)
        message = json.loads(raw)
        if not isinstance(message, dict):
            raise DaemonUnavailable(self.url, "malformed message")
        return message

    def request(
        self, op: str, data: dict[str, Any] | None = None, *, timeout: float = REQUEST_TIMEOUT_S
    ) -> dict[str, Any]:
        """The ``data`` of the response; DaemonError on ``ok: false``; DaemonUnavailable on transport loss."""
        if self._ws is None:
            raise DaemonUnavailable(self.url, "not connected")
        request_id = f"a{next(self._ids)}"
        frame: dict[str, Any] = {"id": request_id, "op": op, "data": data or {}}
        if self.session is not None:
            frame["session"] = self.session
        deadline = time.monotonic() + timeout
        try:
            self._ws.send(json.dumps(frame))
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError()
                message = self._recv(left)
                if message.get("type") == "response" and message.get("id") == request_id:
                    break
        except TimeoutError:
            raise DaemonUnavailable(self.url, f"no answer to {op} within {timeout:.0f} s") from None
        except (OSError, ConnectionClosed) as exc:
            self.close()
            raise DaemonUnavailable(self.url, _reason(exc)) from None
        if not message.get("ok"):
            raise DaemonError(message.get("error") or {})
        result = message.get("data")
        return result if isinstance(result, dict) else {}

    def fresh_snapshot(self) -> dict[str, Any]:
        self.snapshot = self.request("snapshot")
        return self.snapshot

    def auth(self, password: str, admin_token: str, os_user: str | None = None) -> None:
        """Open an admin session (DaemonError ``auth_failed`` / ``auth_locked`` / ``unauthorized``)."""
        data = {"password": password, "adminToken": admin_token}
        if os_user:
            data["osUser"] = os_user  # the daemon's audit row names who logged in
        answer = self.request("auth", data)
        session = answer.get("session")
        if not isinstance(session, str) or not session:
            raise DaemonError({"code": "internal", "message": "no session in the auth answer"})
        self.session = session

    def logout(self) -> None:
        if self.session is not None:
            with contextlib.suppress(DaemonError, DaemonUnavailable):
                self.request("logout", timeout=3)
        self.session = None
