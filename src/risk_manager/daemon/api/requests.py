"""Answering local-API requests (spec/daemon.md §9.4): parse, budget, dispatch, respond.

The transport (``server.py``) hands every frame here and owns the sending side (``Outbox``). What a
connection may cost is decided here before any work is done: a malformed frame is a ``bad_request``
(``protocol.decode_frame``), a ``snapshot`` or ``history.*`` past the connection's budget is answered
``rate_limited`` without building or querying anything (and the connection is not read again until
its budget has refilled), a ``snapshot`` is the shared encoded text of ``snapshots.py``,
answered synchronously, and so is ``health`` (built from memory, budgeted like ``snapshot``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from typing import Any, Protocol

from risk_manager.daemon.api.admin import AdminDesk, CloseAfterAnswer, audit_action
from risk_manager.daemon.api.connection import CLOSE_POLICY, Client
from risk_manager.daemon.api.interface import ApiProvider
from risk_manager.daemon.api.limits import ApiLimits, TokenBucket, retry_after_ms
from risk_manager.daemon.api.protocol import (
    ADMIN_OPS,
    HISTORY_OPS,
    LocalApiError,
    Request,
    RequestError,
    is_int,
    parse_request,
)
from risk_manager.daemon.api.snapshots import SnapshotCache

log = logging.getLogger("risk_manager.daemon.api.server")


class Outbox(Protocol):
    """The server's sending side, as the request desk uses it."""

    def respond(
        self,
        client: Client,
        request_id: Any,
        data: Any = None,
        error: LocalApiError | None = None,
        *,
        data_json: str | None = None,
    ) -> None: ...

    def close_after_flush(self, client: Client, code: int, reason: str) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...


class RequestDesk:
    def __init__(
        self,
        provider: ApiProvider,
        admin: AdminDesk,
        snapshots: SnapshotCache,
        outbox: Outbox,
        *,
        limits: ApiLimits,
        max_in_flight: int,
    ) -> None:
        self._provider = provider
        self._admin = admin
        self._snapshots = snapshots
        self._out = outbox
        self._limits = limits
        self._max_in_flight = max_in_flight
        self._history_total = TokenBucket(limits.history_total)

    def on_frame(self, client: Client, frame: str | bytes) -> None:
        try:
            request = parse_request(frame)
        except RequestError as exc:
            self._out.respond(client, exc.request_id, error=exc)
            return
        if len(client.in_flight) >= self._max_in_flight:
            self._out.respond(
                client,
                request.id,
                error=LocalApiError(
                    "busy", f"more than {self._max_in_flight} requests in flight; wait for responses first"
                ),
            )
            if request.op in ADMIN_OPS or request.op == "auth":
                self._out.spawn(
                    self._admin.audit(audit_action(request.op, ok=False), "busy", client, request)
                )
            return
        if request.op == "snapshot":
            self._answer_snapshot(client, request)
            return
        if request.op == "health":
            self._answer_health(client, request)
            return
        if request.op in HISTORY_OPS and not (
            self._within(client, request, client.budget.history, "history")
            and self._within(client, request, self._history_total, "history_total")
        ):
            return
        task = asyncio.create_task(self._serve_request(client, request), name=f"api-op {request.op}")
        client.in_flight.add(task)
        task.add_done_callback(client.in_flight.discard)

    def _within(self, client: Client, request: Request, bucket: TokenBucket, what: str) -> bool:
        """Take one request from ``bucket``, or answer ``rate_limited`` (logged once per connection)."""
        wait = bucket.try_take()
        if wait <= 0:
            return True
        rate = getattr(self._limits, what)
        if not client.rate_limited_logged:
            client.rate_limited_logged = True
            log.info("local API client %s rate limited (%s requests)", client.peer, what)
        if what == "history_total":
            scope = f"from all clients together (at most {rate.per_s:g} per second, bursts of {rate.burst:g})"
            what = "history"
        else:
            scope = f"on this connection (at most {rate.per_s:g} per second, bursts of {rate.burst:g})"
        # Nothing it sends before then could be served either: its next frame is read after the wait,
        # so a client that loops on the refusal costs one answer per refill, not one per frame.
        client.hold_reading_s = max(client.hold_reading_s, wait)
        error = LocalApiError(
            "rate_limited",
            f"too many {what} requests {scope}; retry in {retry_after_ms(wait)} ms",
            retryAfterMs=retry_after_ms(wait),
        )
        self._out.respond(client, request.id, error=error)
        return False

    def _answer_snapshot(self, client: Client, request: Request) -> None:
        """Synchronous: the shared encoded snapshot (``snapshots.py``) goes on the queue as it is."""
        try:
            account_id = _optional_int(request.data, "accountId")
        except LocalApiError as exc:
            self._out.respond(client, request.id, error=exc)
            return
        if not self._within(client, request, client.budget.snapshot, "snapshot"):
            return
        try:
            text = self._snapshots.get(account_id)
        except LocalApiError as exc:
            self._out.respond(client, request.id, error=exc)
        except Exception:
            self._respond_internal(client, request, "failed")
        else:
            self._out.respond(client, request.id, data_json=text)

    def _answer_health(self, client: Client, request: Request) -> None:
        """Synchronous and cheap (no database): what a monitoring poll needs (``provider.health``)."""
        if not self._within(client, request, client.budget.health, "health"):
            return
        try:
            data = self._provider.health()
        except Exception:
            self._respond_internal(client, request, "failed")
        else:
            self._out.respond(client, request.id, data)

    async def _serve_request(self, client: Client, request: Request) -> None:
        try:
            data = await self._dispatch(client, request)
        except CloseAfterAnswer as exc:
            # The answer must reach the client before the close frame: both go through its queue.
            self._out.respond(client, request.id, error=exc.error)
            self._out.close_after_flush(client, CLOSE_POLICY, exc.reason)
            return
        except LocalApiError as exc:
            try:
                self._out.respond(client, request.id, error=exc)
            except (TypeError, ValueError):
                self._respond_internal(client, request, "raised an error that is not JSON-encodable")
        except asyncio.CancelledError:
            raise
        except Exception:
            self._respond_internal(client, request, "failed")
        else:
            try:
                self._out.respond(client, request.id, data)
            except (TypeError, ValueError):
                self._respond_internal(client, request, "returned data that is not JSON-encodable")

    def _respond_internal(self, client: Client, request: Request, what: str) -> None:
        ref = uuid.uuid4().hex[:8]
        # The request data is not logged: an auth request carries the password.
        log.exception("local API op %s %s (ref %s)", request.op, what, ref)
        self._out.respond(client, request.id, error=LocalApiError("internal", f"internal error (ref {ref})"))

    async def _dispatch(self, client: Client, request: Request) -> Any:
        op = request.op
        if op == "status":
            return self._provider.status()
        if op in HISTORY_OPS:
            return await self._provider.history(op, request.data)
        if op == "auth":
            return await self._admin.auth(client, request)
        return await self._admin.command(client, request)


def _optional_int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not is_int(value):
        raise LocalApiError("bad_request", f"field 'data.{key}' must be an integer")
    return int(value)
