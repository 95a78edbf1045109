"""Asking the running daemon over its local API (daemon.md §9): is it up, which version, how many
accounts are protected. Used by ``service start/status``, the installer and ``doctor``.

Read-only: the ``snapshot`` sent on connect and the ``status`` and ``health`` requests need no admin
session. ``ask_health`` is what ``risk-manager status`` (monitoring) uses: it says *why* nothing
answered, since a monitor must tell "stopped" from "not answering".
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def api_url(config_dir: Path) -> str:
    """The local API address from ``daemon.yaml`` (defaults when it is absent or unreadable)."""
    host, port = DEFAULT_HOST, DEFAULT_PORT
    with contextlib.suppress(Exception):
        from ruamel.yaml import YAML

        data = YAML(typ="safe").load((config_dir / "daemon.yaml").read_text(encoding="utf-8"))
        api = data.get("api") if isinstance(data, dict) else None
        if isinstance(api, dict):
            host = str(api.get("host") or host)
            value = api.get("port")
            if isinstance(value, int) and 0 < value < 65536:
                port = value
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"ws://{host}:{port}"


@dataclass
class DaemonAnswer:
    url: str
    snapshot: dict[str, Any]
    status: dict[str, Any]

    @property
    def accounts(self) -> list[dict[str, Any]]:
        return list(self.snapshot.get("accounts") or [])

    @property
    def protected(self) -> int:
        return sum(1 for a in self.accounts if a.get("protection") == "protected")

    @property
    def version(self) -> str | None:
        value = self.snapshot.get("version") or self.status.get("version")
        return str(value) if value else None

    @property
    def pid(self) -> int | None:
        value = self.snapshot.get("pid")
        return value if isinstance(value, int) else None


def ask_daemon(url: str, timeout: float = 3.0) -> DaemonAnswer | None:
    """The daemon's snapshot and status, or None when nothing answers at ``url``."""
    from websockets.sync.client import connect

    deadline = time.monotonic() + timeout
    try:
        with connect(url, open_timeout=timeout, close_timeout=1, max_size=None) as ws:
            snapshot: dict[str, Any] | None = None
            ws.send(json.dumps({"id": "svc-status", "op": "status", "data": {}}))
            status: dict[str, Any] | None = None
            while snapshot is None or status is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                msg = json.loads(ws.recv(timeout=left))
                if msg.get("type") == "snapshot":
                    snapshot = msg.get("data") or {}
                elif msg.get("type") == "response" and msg.get("id") == "svc-status":
                    status = msg.get("data") or {} if msg.get("ok") else {}
            return DaemonAnswer(url, snapshot, status)
    except (OSError, TimeoutError, ValueError):
        return None
    except Exception as exc:  # websockets' own errors (handshake refused, closed)
        if type(exc).__module__.startswith("websockets"):
            return None
        raise


class DaemonUnreachable(Exception):
    """Nothing usable answered at the URL; ``reason`` says what happened (refused, timed out, ...)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class HealthRefused(Exception):
    """The daemon answered the ``health`` request with an error (``code``, ``message``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _unreachable_reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text[:200]


def ask_health(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """The daemon's ``health`` answer; ``DaemonUnreachable`` when nothing (usable) answers at ``url``,
    ``HealthRefused`` when the daemon answered with an error."""
    from websockets.sync.client import connect

    deadline = time.monotonic() + timeout
    try:
        with connect(url, open_timeout=timeout, close_timeout=1, max_size=None) as ws:
            ws.send(json.dumps({"id": "health", "op": "health", "data": {}}))
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DaemonUnreachable(url, f"no answer to the health request within {timeout:g} s")
                msg = json.loads(ws.recv(timeout=left))
                if msg.get("type") == "error":  # e.g. unsupported_protocol, sent before closing
                    error = msg.get("data") or {}
                    raise HealthRefused(str(error.get("code")), str(error.get("message")))
                if msg.get("type") == "response" and msg.get("id") == "health":
                    if not msg.get("ok"):
                        error = msg.get("error") or {}
                        raise HealthRefused(str(error.get("code")), str(error.get("message")))
                    data = msg.get("data")
                    if not isinstance(data, dict):
                        raise HealthRefused("bad_answer", "the health answer is not an object")
                    return data
    except (DaemonUnreachable, HealthRefused):
        raise
    except (OSError, TimeoutError, ValueError) as exc:
        raise DaemonUnreachable(url, _unreachable_reason(exc)) from None
    except Exception as exc:  # websockets' own errors (handshake refused, closed)
        if type(exc).__module__.startswith("websockets"):
            raise DaemonUnreachable(url, _unreachable_reason(exc)) from None
        raise
