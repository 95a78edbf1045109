"""The gateway's REST API (spec/gateway.md §1-§3) over the simulator's state.

Each endpoint is a small function from a validated body to a payload; ``RestApi`` wraps them with the
transport behaviour every endpoint shares: token check, journal entry, injected faults, rate limits,
the envelope, and events flushed before (or after) the answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from risk_manager.sim.auth import TokenInfo
from risk_manager.sim.hubs import token_from
from risk_manager.sim.journal import CAUSE
from risk_manager.sim.ratelimit import SlidingWindow
from risk_manager.sim.records import OrderRequest, Result
from risk_manager.sim.strict import BARE_LIST_PATHS, bracket_problem, null_payload, token_failure
from risk_manager.sim.wire import ORDER_TYPE_NAMES, SIDE_NAMES, dumps, enum_value, loads, parse_ts, plain

if TYPE_CHECKING:
    from risk_manager.sim.core import Simulator

# the endpoint's UnknownError code (spec/gateway.md §3.8), used by fail_rest success_false
UNKNOWN_ERROR = {
    "/api/Auth/loginKey": 8,
    "/api/Contract/searchById": 2,
    "/api/History/retrieveBars": 3,
    "/api/Order/place": 7,
    "/api/Order/cancel": 5,
    "/api/Order/modify": 5,
    "/api/Order/search": 2,
    "/api/Order/searchOpen": 2,
    "/api/Position/searchOpen": 2,
    "/api/Trade/search": 2,
    "/api/Position/closeContract": 7,
    "/api/Position/partialCloseContract": 8,
}
MUTATING = frozenset(
    {
        "/api/Order/place",
        "/api/Order/cancel",
        "/api/Order/modify",
        "/api/Position/closeContract",
        "/api/Position/partialCloseContract",
    }
)


class BadRequest(Exception):
    def __init__(self, field: str, expected: str) -> None:
        super().__init__(f"{field}: {expected}")
        self.field = field
        self.expected = expected


@dataclass(slots=True)
class Call:
    body: dict[str, Any]
    user: str | None
    token: TokenInfo | None

    def _get(self, key: str, required: bool) -> Any:
        value = self.body.get(key)
        if value is None and required:
            raise BadRequest(key, "required")
        return value

    def int_(self, key: str, required: bool = True) -> int | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | Decimal) or value != int(value):
            raise BadRequest(key, f"expected an integer, got {value!r}")
        return int(value)

    def str_(self, key: str, required: bool = True) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise BadRequest(key, f"expected a string, got {value!r}")
        return value

    def bool_(self, key: str, required: bool = True) -> bool | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise BadRequest(key, f"expected true or false, got {value!r}")
        return value

    def num(self, key: str) -> Decimal | None:
        value = self.body.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise BadRequest(key, f"expected a number, got {value!r}")
        return Decimal(value)

    def ts(self, key: str, required: bool = True) -> datetime | None:
        value = self._get(key, required)
        if value is None:
            return None
        parsed = parse_ts(value)
        if parsed is None:
            raise BadRequest(key, f"expected an ISO-8601 timestamp, got {value!r}")
        return parsed

    def bracket(self, key: str, type_required: bool = False) -> dict[str, int] | None:
        value = self.body.get(key)
        if value is None:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("ticks"), int | Decimal):
            raise BadRequest(key, "expected {ticks: int, type: int}")
        out = {"ticks": int(value["ticks"])}
        kind = value.get("type")
        if kind is None and type_required:  # the gateway's docs: required, not nullable
            raise BadRequest(f"{key}.type", "required (an OrderType integer)")
        if kind is not None:  # absent: Stop for the stop loss, Limit for the take profit (brackets.py)
            if isinstance(kind, bool) or not isinstance(kind, int | Decimal):
                raise BadRequest(f"{key}.type", "expected an OrderType integer")
            out["type"] = int(kind)
        return out


def envelope(result: Result | None = None, **payload: Any) -> dict[str, Any]:
    code = 0 if result is None else result.code
    return {
        **payload,
        "success": code == 0,
        "errorCode": code,
        "errorMessage": None if result is None else result.message,
    }


Handler = Callable[["Simulator", Call], Awaitable[dict[str, Any]] | dict[str, Any]]


def order_request(call: Call, account_id: int, names: bool = True) -> OrderRequest:
    """An order from a request body. ``names``: the control API's conveniences (``"market"``,
    ``"buy"``, bracket type defaults); the public REST API takes integers only, as the gateway does."""
    if names:
        otype = enum_value(call.body.get("type"), ORDER_TYPE_NAMES)
        side = enum_value(call.body.get("side"), SIDE_NAMES)
    else:
        otype, side = call.int_("type"), call.int_("side")
    if otype is None:
        raise BadRequest("type", "expected an order type")
    if side is None:
        raise BadRequest("side", "expected 0 (buy) or 1 (sell)")
    size = call.int_("size")
    assert size is not None
    fills = call.body.get("fills")
    if fills is not None and (
        not isinstance(fills, list)
        or not all(isinstance(f, int) and f > 0 for f in fills)
        or sum(fills) != size
    ):
        raise BadRequest("fills", f"expected positive integers summing to size {size}")
    contract_ref = call.str_("contractId")
    assert contract_ref is not None
    return OrderRequest(
        account_id=account_id,
        contract_id=contract_ref,
        type=otype,
        side=side,
        size=size,
        limit=call.num("limitPrice"),
        stop=call.num("stopPrice"),
        trail=call.num("trailPrice"),
        custom_tag=call.str_("customTag", False),
        sl_bracket=call.bracket("stopLossBracket", type_required=not names),
        tp_bracket=call.bracket("takeProfitBracket", type_required=not names),
        fills=fills,
    )


# -- endpoints ---------------------------------------------------------------------------------------------
def account_search(sim: Simulator, call: Call) -> dict[str, Any]:
    only_active = call.bool_("onlyActiveAccounts")
    accounts = [a for a in sim.broker.accounts_of(call.user or "") if a.active or not only_active]
    return envelope(accounts=[a.to_wire() for a in sorted(accounts, key=lambda a: a.id)])


def contract_search(sim: Simulator, call: Call) -> dict[str, Any]:
    text = call.str_("searchText")
    call.bool_("live")
    return envelope(contracts=[c.to_wire() for c in sim.table.search(text or "")])


def contract_by_id(sim: Simulator, call: Call) -> dict[str, Any]:
    cid = call.str_("contractId")
    contract = sim.table.by_id(cid or "")
    if contract is None:
        return envelope(Result(1, f"contract {cid} not found"), contract=None)
    return envelope(contract=contract.to_wire())


def contract_available(sim: Simulator, call: Call) -> dict[str, Any]:
    call.bool_("live")
    return envelope(contracts=[c.to_wire() for c in sim.table.fronts()])


def _own_account(sim: Simulator, call: Call) -> tuple[int, Result | None]:
    acct = call.int_("accountId")
    assert acct is not None
    account = sim.broker.accounts.get(acct)
    if account is None or account.user != call.user:
        return acct, Result(1, f"account {acct} not found")
    return acct, None


def _listing(sim: Simulator, call: Call, key: str, items: Callable[[int], Iterable[Any]]) -> dict[str, Any]:
    """The caller's account's objects under ``key``, oldest id first (AccountNotFound: an empty list)."""
    acct, problem = _own_account(sim, call)
    if problem:
        return envelope(problem, **{key: None})
    return envelope(**{key: [x.to_wire() for x in sorted(items(acct), key=lambda x: x.id)]})


def position_search_open(sim: Simulator, call: Call) -> dict[str, Any]:
    return _listing(sim, call, "positions", sim.broker.open_positions)


def close_contract(sim: Simulator, call: Call) -> dict[str, Any]:
    acct = call.int_("accountId")
    cid = call.str_("contractId")
    assert acct is not None and cid is not None
    return envelope(sim.broker.close_position(acct, cid, None, call.user))


def partial_close(sim: Simulator, call: Call) -> dict[str, Any]:
    acct = call.int_("accountId")
    cid = call.str_("contractId")
    size = call.int_("size")
    assert acct is not None and cid is not None
    return envelope(sim.broker.close_position(acct, cid, size, call.user))


def order_place(sim: Simulator, call: Call) -> dict[str, Any]:
    acct = call.int_("accountId")
    assert acct is not None
    req = order_request(call, acct, names=False)
    req.fills = None  # only the trader's platform splits fills
    signs = bracket_problem(req)
    if signs is not None:
        return envelope(Result(2, signs), orderId=None)
    result = sim.broker.place(req, call.user)
    return envelope(result, orderId=result.order_id)


def order_cancel(sim: Simulator, call: Call) -> dict[str, Any]:
    acct = call.int_("accountId")
    oid = call.int_("orderId")
    assert oid is not None
    return envelope(sim.broker.cancel(acct, oid, call.user))


def order_modify(sim: Simulator, call: Call) -> dict[str, Any]:
    acct = call.int_("accountId")
    oid = call.int_("orderId")
    assert oid is not None
    result = sim.broker.modify(
        acct,
        oid,
        call.user,
        size=call.int_("size", False),
        limit=call.num("limitPrice"),
        stop=call.num("stopPrice"),
        trail=call.num("trailPrice"),
    )
    return envelope(result)


def order_search_open(sim: Simulator, call: Call) -> dict[str, Any]:
    return _listing(sim, call, "orders", sim.broker.working_orders)


def order_search(sim: Simulator, call: Call) -> dict[str, Any]:
    start, end = call.ts("startTimestamp"), call.ts("endTimestamp", False)
    assert start is not None
    return _listing(sim, call, "orders", lambda acct: sim.broker.orders_between(acct, start, end))


def trade_search(sim: Simulator, call: Call) -> dict[str, Any]:
    start, end = call.ts("startTimestamp"), call.ts("endTimestamp", False)
    assert start is not None
    return _listing(sim, call, "trades", lambda acct: sim.broker.trades_between(acct, start, end))


def retrieve_bars(sim: Simulator, call: Call) -> dict[str, Any]:
    cid = call.str_("contractId")
    call.bool_("live")
    start, end = call.ts("startTime"), call.ts("endTime")
    unit, unit_number, limit = call.int_("unit"), call.int_("unitNumber"), call.int_("limit")
    partial = call.bool_("includePartialBar")
    contract = sim.table.by_id(cid or "")
    if contract is None:
        return envelope(Result(1, f"contract {cid} not found"), bars=None)
    if unit not in (1, 2, 3, 4, 5, 6):
        raise BadRequest("unit", "expected 1..6")
    assert start and end and unit_number is not None and limit is not None
    bars = sim.market.bars(contract, start, end, unit, unit_number, limit, bool(partial))
    return envelope(bars=bars)


ENDPOINTS: dict[str, Handler] = {
    "/api/Account/search": account_search,
    "/api/Contract/search": contract_search,
    "/api/Contract/searchById": contract_by_id,
    "/api/Contract/available": contract_available,
    "/api/Position/searchOpen": position_search_open,
    "/api/Position/closeContract": close_contract,
    "/api/Position/partialCloseContract": partial_close,
    "/api/Order/place": order_place,
    "/api/Order/cancel": order_cancel,
    "/api/Order/modify": order_modify,
    "/api/Order/searchOpen": order_search_open,
    "/api/Order/search": order_search,
    "/api/Trade/search": trade_search,
    "/api/History/retrieveBars": retrieve_bars,
}
AUTH_PATHS = ("/api/Auth/loginKey", "/api/Auth/validate", "/api/Auth/logout")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=dumps(body), status=status, content_type="application/json", headers=headers)


class RestApi:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.limits = SlidingWindow()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/api/Status/ping", self._ping)
        for path in (*ENDPOINTS, *AUTH_PATHS):
            app.router.add_route("POST", path, self._handle)
        app.router.add_route("*", "/api/{tail:.*}", self._not_found)

    async def _ping(self, request: web.Request) -> web.Response:
        return _json("pong")

    async def _not_found(self, request: web.Request) -> web.Response:
        return _json({"error": f"no such endpoint: {request.method} {request.path}"}, status=404)

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        raw = await request.text()
        try:
            body: Any = loads(raw) if raw.strip() else {}
        except ValueError:
            body = raw
        token, _ = token_from(request) if path != "/api/Auth/loginKey" else (None, None)
        info = self.sim.tokens.verify(token, self.sim.user_exists) if token else None
        entry = self.sim.journal.append(
            "rest",
            method=request.method,
            path=path,
            query=dict(request.query),
            user=info.user if info else None,
            body=body,
            status=None,
            response=None,
            done_ns=None,
            fault=None,
            agent=request.headers.get("User-Agent"),  # which client sent it (risk-manager's two HTTP paths)
        )
        CAUSE.set(entry["seq"])
        hubs = self.sim.hubs
        before = bool(self.sim.settings["events_before_response"])
        if hubs is not None and not before:
            hubs.hold()
        try:
            response_body, status, headers = await self._process(path, body, info, token, entry)
            response_body = self._as_live(path, response_body, status, entry)
            if hubs is not None and before:
                await hubs.flush()
            entry["status"] = status
            entry["response"] = plain(response_body)
            entry["done_ns"] = time.monotonic_ns()
            response = _json(response_body, status, headers)
            if hubs is not None and not before:
                await response.prepare(request)  # the answer goes out first ...
                await response.write_eof()
        finally:
            if hubs is not None and not before:
                await hubs.release()  # ... then the execution's events
        return response

    def _as_live(self, path: str, body: Any, status: int, entry: dict[str, Any]) -> Any:
        """The live envelope: ``errorMessage`` null on failures (setting ``error_messages``; the
        simulator's reason stays in the journal entry as ``reason``), payload arrays null, and a
        bare array for the list endpoints that may answer one (setting ``bare_list_responses``)."""
        if status != 200 or not isinstance(body, dict) or entry.get("fault") is not None:
            return body  # an injected failure answers exactly as its fault says
        if body.get("success") is False:
            entry["reason"] = body.get("errorMessage")
            body = null_payload(body)
            if self.sim.settings["error_messages"] == "null":
                body["errorMessage"] = None
        elif path in BARE_LIST_PATHS and self.sim.settings["bare_list_responses"]:
            return body.get(BARE_LIST_PATHS[path])
        return body

    async def _process(
        self, path: str, body: Any, info: TokenInfo | None, token: str | None, entry: dict[str, Any]
    ) -> tuple[Any, int, dict[str, str] | None]:
        sim = self.sim
        user = info.user if info else None
        delay = sim.faults.latency_ms("rest", path, user)
        if delay:
            await asyncio.sleep(delay / 1000)
        if path in ("/api/Auth/validate", "/api/Auth/logout") and info is None:
            return token_failure(path, token), 200, None
        if path != "/api/Auth/loginKey" and info is None:
            return {"error": "unauthorized"}, 401, None
        # rate limits: not for login; the bars endpoint has its own window
        limited = sim.faults.take_rest("rate_limit", path, user)
        if limited is not None:
            entry["fault"] = limited.id
            retry = int(limited.spec.get("retry_after_s") or 1)
            return {"error": "rate limit exceeded"}, 429, {"Retry-After": str(retry)}
        if info is not None and sim.settings["rate_limit_enabled"]:
            scope = info.user if sim.settings["rate_limit_scope"] == "user" else info.jti
            bars = path == "/api/History/retrieveBars"
            limit, window = sim.settings["rate_limit_bars" if bars else "rate_limit_default"]
            wait = self.limits.check(f"{scope}|{'bars' if bars else 'default'}", limit, window)
            if wait is not None:
                return {"error": "rate limit exceeded"}, 429, {"Retry-After": str(max(1, round(wait)))}
        fault = sim.faults.take_rest("fail_rest", path, user)
        if fault is not None:
            entry["fault"] = fault.id
            if fault.spec.get("execute"):
                await self._execute(path, body, info, token)
                if sim.hubs is not None:
                    await sim.hubs.flush()
            return await self._fail(path, fault.spec)
        result, status = await self._execute(path, body, info, token)
        return result, status, None

    async def _fail(self, path: str, spec: dict[str, Any]) -> tuple[Any, int, dict[str, str] | None]:
        mode = spec.get("mode", "http_500")
        if mode == "success_false":
            code = spec.get("errorCode")
            code = UNKNOWN_ERROR.get(path, 1) if code is None else int(code)
            return {"success": False, "errorCode": code, "errorMessage": spec.get("errorMessage")}, 200, None
        if mode == "http_401":
            return {"error": "unauthorized"}, 401, None
        if mode == "body":  # an answer the client must survive: HTTP 200 with exactly this JSON
            return spec.get("body"), 200, None
        if mode == "timeout":
            await asyncio.sleep(float(spec.get("hold_ms") or 0) / 1000)
            return {"error": "gateway timeout"}, 504, None
        return {"error": "internal server error (injected)"}, 500, None

    async def _execute(
        self, path: str, body: Any, info: TokenInfo | None, token: str | None
    ) -> tuple[Any, int]:
        if not isinstance(body, dict):
            return {
                "title": "One or more validation errors occurred.",
                "status": 400,
                "errors": {"$": ["expected a JSON object"]},
            }, 400
        sim = self.sim
        if path == "/api/Auth/loginKey":
            name, key = body.get("userName"), body.get("apiKey")
            if not isinstance(name, str) or not isinstance(key, str) or sim.broker.users.get(name) != key:
                return {
                    "token": None,
                    "success": False,
                    "errorCode": 3,
                    "errorMessage": "invalid credentials",
                }, 200
            return envelope(token=sim.tokens.issue(name, sim.settings["token_ttl_s"])), 200
        assert info is not None
        if path == "/api/Auth/validate":
            return envelope(newToken=sim.tokens.issue(info.user, sim.settings["token_ttl_s"])), 200
        if path == "/api/Auth/logout":
            sim.tokens.revoke(info)
            return envelope(), 200
        handler = ENDPOINTS[path]
        try:
            out = handler(sim, Call(body, info.user, info))
            if asyncio.iscoroutine(out):
                out = await out
        except BadRequest as exc:
            return {
                "title": "One or more validation errors occurred.",
                "status": 400,
                "errors": {exc.field: [exc.expected]},
            }, 400
        return out, 200
