"""A canned ApiProvider and helpers for the local API tests (real server, real sockets, real argon2)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from websockets.asyncio.client import ClientConnection, connect

from risk_manager.daemon.api.protocol import ConfigInvalidError, LocalApiError
from risk_manager.daemon.api.server import LocalApi
from risk_manager.security.admin_token import read_token

PASSWORD = "correct horse battery"
TIMEOUT = 10.0

ACCOUNT = {
    "accountId": 12345,
    "name": "50KTC-V2-12345",
    "mode": "enforce",
    "protection": "protected",
    "canTrade": True,
    "balance": "49487.60",
    "lockouts": [],
}


class CannedProvider:
    """Fixed state plus a record of every call the server makes into the daemon."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.failures = 0
        self.locked_until: datetime | None = None
        self.saved: list[tuple[int, datetime | None]] = []
        self.audits: list[dict[str, Any]] = []
        self.unlocks: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.reloads: list[dict[str, Any]] = []
        self.reload_errors: list[dict[str, Any]] | None = None
        self.history_calls: list[tuple[str, dict[str, Any]]] = []
        self.history_gate: asyncio.Event | None = None
        self.history_entered = 0
        self.history_raises: Exception | None = None
        self.snapshot_calls: list[int | None] = []
        self.health_calls = 0
        self.auth_loads = 0  # how often the password checker looked at the failure counter
        self.account = dict(ACCOUNT)

    def snapshot(self, account_id: int | None) -> dict[str, Any]:
        self.snapshot_calls.append(account_id)
        if account_id not in (None, 12345):
            raise LocalApiError("not_found", f"account {account_id} is not configured")
        return {"startedAt": "2025-11-20T12:00:01Z", "accounts": [dict(self.account)]}

    def status(self) -> dict[str, Any]:
        return {"state": "running", "version": "9.9.9", "accounts": 1, "protected": 1, "logins": []}

    def health(self) -> dict[str, Any]:
        self.health_calls += 1
        return {"status": "ok", "healthy": True, "protected": 1, "total": 1, "accounts": []}

    def heartbeat(self) -> dict[str, Any]:
        return {"uptimeS": 42, "eventsPerS": 1.5, "protected": 1, "notProtected": 0}

    async def history(self, op: str, data: dict[str, Any]) -> dict[str, Any]:
        self.history_calls.append((op, data))
        self.history_entered += 1
        if self.history_raises is not None:
            raise self.history_raises
        if self.history_gate is not None:
            await self.history_gate.wait()
        return {"items": [{"op": op}], "more": False}

    async def reload_config(self, actor: dict[str, Any]) -> dict[str, Any]:
        self.reloads.append(actor)
        if self.reload_errors is not None:
            raise ConfigInvalidError(self.reload_errors)
        return {"applied": True, "changes": ["rules.RULE-003.limit"], "restartRequired": []}

    async def unlock(self, data: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
        self.unlocks.append((data, actor))
        if data.get("lockoutId") == 999:
            raise LocalApiError("not_found", "lockout 999 is not active on account 12345")
        return {"cleared": [88], "conditionStillTrue": False}

    async def audit(
        self,
        action: str,
        outcome: str,
        actor: dict[str, Any],
        target: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.audits.append(
            {"action": action, "outcome": outcome, "actor": actor, "target": target, "reason": reason}
        )

    def admin_hash_path(self) -> Path:
        return self.config_dir / "admin_password.hash"

    async def load_auth_failures(self) -> tuple[int, datetime | None]:
        self.auth_loads += 1
        return self.failures, self.locked_until

    async def save_auth_failures(self, failures: int, locked_until: datetime | None) -> None:
        self.failures, self.locked_until = failures, locked_until
        self.saved.append((failures, locked_until))


class Client:
    """A thin JSON layer over a real websockets client connection."""

    def __init__(self, ws: ClientConnection, token_file: Path | None = None) -> None:
        self.ws = ws
        self.token_file = token_file
        self._ids = 0
        self.pushes: list[dict[str, Any]] = []

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        return json.loads(raw)

    async def send_request(
        self, op: str, data: dict[str, Any] | None = None, session: str | None = None
    ) -> str:
        self._ids += 1
        request_id = f"r{self._ids}"
        message: dict[str, Any] = {"id": request_id, "op": op, "data": data or {}}
        if session is not None:
            message["session"] = session
        await self.ws.send(json.dumps(message))
        return request_id

    async def response(self, request_id: str | None, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Next response with this id; other messages are kept in ``pushes``."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.recv(timeout)
                if msg["type"] == "response" and msg.get("id") == request_id:
                    return msg
                self.pushes.append(msg)

    async def request(
        self, op: str, data: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        return await self.response(await self.send_request(op, data, session))

    def token(self) -> str:
        """The admin token, read from the file the server wrote (as the admin console does)."""
        assert self.token_file is not None
        return read_token(self.token_file)

    async def auth(self, password: str, *, token: bool = True, **data: Any) -> dict[str, Any]:
        """``auth`` with the admin token from the daemon's file (``token=False``: without it)."""
        body: dict[str, Any] = {"password": password, **data}
        if token:
            body["adminToken"] = self.token()
        return await self.request("auth", body)

    async def login(self) -> str:
        reply = await self.auth(PASSWORD, osUser="pc\\jane")
        assert reply["ok"], reply
        return reply["data"]["session"]


class Monotonic:
    """The server's session clock, moved by the test (sessions, the password back-off)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def hash_file(tmp_path: Path) -> Path:
    # Real argon2id, cheap parameters so a test with a dozen attempts stays fast.
    path = tmp_path / "admin_password.hash"
    path.write_text(
        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD) + "\n", "utf-8"
    )
    return path


@pytest.fixture
def provider(tmp_path: Path, hash_file: Path) -> CannedProvider:
    return CannedProvider(tmp_path)


StartApi = Callable[..., Awaitable[LocalApi]]


@pytest.fixture
def mono() -> Monotonic:
    return Monotonic()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "admin.token"


@pytest.fixture
async def start_api(provider: CannedProvider, mono: Monotonic, token_file: Path) -> AsyncIterator[StartApi]:
    started: list[LocalApi] = []

    async def _start(**kwargs: Any) -> LocalApi:
        kwargs.setdefault("heartbeat_interval_s", 0)
        kwargs.setdefault("monotonic", mono)
        kwargs.setdefault("admin_token_path", token_file)
        api = LocalApi(
            "127.0.0.1", 0, kwargs.pop("provider", provider), version="1.2.3", mode="test", **kwargs
        )
        await api.start()
        started.append(api)
        return api

    yield _start
    for api in started:
        await api.stop()


@pytest.fixture
async def api(start_api: StartApi) -> LocalApi:
    return await start_api()


OpenClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def open_client(api: LocalApi, token_file: Path) -> AsyncIterator[OpenClient]:
    """Connects and consumes the initial snapshot (kept in ``client.snapshot``)."""
    opened: list[ClientConnection] = []

    async def _open(target: LocalApi | None = None, query: str = "", **kwargs: Any) -> Client:
        server = target or api
        ws = await connect(f"ws://127.0.0.1:{server.port}/{query}", open_timeout=TIMEOUT, **kwargs)
        opened.append(ws)
        client = Client(ws, token_file)
        first = await client.recv()
        assert first["type"] == "snapshot", first
        client.snapshot = first  # type: ignore[attr-defined]
        return client

    yield _open
    for ws in opened:
        await ws.close()


async def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll a condition on the loop (the server updates it from its own tasks) until true or timeout."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)
