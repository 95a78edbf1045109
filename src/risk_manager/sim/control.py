"""The ``/sim/`` control API (spec/gateway.md §6.3): how tests, the demo and users drive the simulator.

Loopback peers only. Every mutating call is journaled as a ``control`` entry and is the cause of the
events it produces; its events are flushed before the answer, like a REST call's.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from risk_manager.sim.faults import FaultError, validate
from risk_manager.sim.journal import CAUSE
from risk_manager.sim.market import QuoteError
from risk_manager.sim.rest import BadRequest, Call, envelope, order_request
from risk_manager.sim.settings import SettingsError
from risk_manager.sim.wire import dumps, loads, to_decimal

if TYPE_CHECKING:
    from risk_manager.sim.core import Simulator


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(body), status=status, content_type="application/json")


def _loopback(request: web.Request) -> bool:
    peer = request.remote or ""
    try:
        return ipaddress.ip_address(peer.split("%")[0]).is_loopback
    except ValueError:
        return peer in ("", "localhost")


Route = Callable[[web.Request, Any], Awaitable[Any]]


class ControlApi:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def add_routes(self, app: web.Application) -> None:
        routes: list[tuple[str, str, Route]] = [
            ("POST", "/sim/users", self.users),
            ("POST", "/sim/accounts", self.accounts),
            ("POST", "/sim/accounts/{id}/can-trade", self.can_trade),
            ("POST", "/sim/quote", self.quote),
            ("POST", "/sim/orders", self.orders),
            ("POST", "/sim/orders/{id}/cancel", self.cancel),
            ("POST", "/sim/orders/{id}/modify", self.modify),
            ("POST", "/sim/trades/{id}/void", self.void),
            ("POST", "/sim/faults", self.arm_fault),
            ("GET", "/sim/faults", self.list_faults),
            ("DELETE", "/sim/faults", self.clear_faults),
            ("DELETE", "/sim/faults/{id}", self.clear_fault),
            ("GET", "/sim/settings", self.get_settings),
            ("POST", "/sim/settings", self.set_settings),
            ("GET", "/sim/state", self.state),
            ("GET", "/sim/journal", self.journal),
            ("POST", "/sim/scenario", self.scenario_load),
            ("POST", "/sim/scenario/start", self.scenario_start),
            ("POST", "/sim/scenario/stop", self.scenario_stop),
            ("GET", "/sim/scenario", self.scenario_status),
            ("POST", "/sim/reset", self.reset),
            ("POST", "/sim/hub/send", self.hub_send),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._wrap(handler))
        app.router.add_route("*", "/sim/{tail:.*}", self._unknown)

    async def _unknown(self, request: web.Request) -> web.Response:
        if not _loopback(request):
            return _json({"error": "the control API answers loopback peers only"}, 403)
        return _json({"error": f"no such control endpoint: {request.method} {request.path}"}, 404)

    def _wrap(self, handler: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def run(request: web.Request) -> web.Response:
            if not _loopback(request):
                return _json({"error": "the control API answers loopback peers only"}, 403)
            body: Any = {}
            entry = None
            if request.method != "GET":
                raw = await request.text()
                try:
                    body = loads(raw) if raw.strip() else {}
                except ValueError:
                    return _json({"error": "body: expected JSON"}, 400)
                entry = self.sim.journal.append(
                    "control", method=request.method, path=request.path, body=body, status=None, response=None
                )
                CAUSE.set(entry["seq"])
            try:
                result = await handler(request, body)
                status = 200
            except ControlError as exc:
                result, status = {"error": exc.message}, exc.status
            except (BadRequest, FaultError, SettingsError, QuoteError, ValueError) as exc:
                result, status = {"error": str(exc)}, 400
            if self.sim.hubs is not None:
                await self.sim.hubs.flush()
            if entry is not None:
                entry["status"] = status
                entry["response"] = result
                entry["done_ns"] = time.monotonic_ns()
            return _json(result, status)

        return run

    # -- helpers -------------------------------------------------------------------------------------------
    @staticmethod
    def _obj(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ControlError(400, "body: expected a JSON object")
        return body

    def _account(self, ref: Any) -> Any:
        b = self.sim.broker
        try:
            account = b.accounts.get(int(ref))
        except (TypeError, ValueError):
            account = next((a for a in b.accounts.values() if a.name == ref), None)
        if account is None:
            raise ControlError(404, f"account {ref} not found")
        return account

    def _order(self, request: web.Request) -> int:
        try:
            oid = int(request.match_info["id"])
        except ValueError:
            raise ControlError(404, f"order {request.match_info['id']} not found") from None
        if oid not in self.sim.broker.orders:
            raise ControlError(404, f"order {oid} not found")
        return oid

    # -- users and accounts ------------------------------------------------------------------------------
    async def users(self, request: web.Request, body: Any) -> Any:
        body = self._obj(body)
        name, key = body.get("userName"), body.get("apiKey")
        if not isinstance(name, str) or not name:
            raise ControlError(400, "userName: expected a non-empty string")
        if not isinstance(key, str) or not key:
            raise ControlError(400, "apiKey: expected a non-empty string")
        self.sim.broker.add_user(name, key)
        return {"userName": name}

    async def accounts(self, request: web.Request, body: Any) -> Any:
        body = self._obj(body)
        users = list(self.sim.broker.users)
        user = body.get("userName")
        if user is None:
            if len(users) != 1:
                raise ControlError(400, "userName: required when the simulator has more than one user")
            user = users[0]
        if user not in self.sim.broker.users:
            raise ControlError(400, f"userName: unknown user {user!r}")
        if "name" in body and not isinstance(body["name"], str):
            raise ControlError(400, "name: expected a string")
        if "balance" in body and to_decimal(body["balance"]) is None:
            raise ControlError(400, "balance: expected a number")
        for key in ("canTrade", "simulated", "isVisible", "active"):
            if key in body and not isinstance(body[key], bool):
                raise ControlError(400, f"{key}: expected true or false")
        if body.get("id") is not None and (isinstance(body["id"], bool) or not isinstance(body["id"], int)):
            raise ControlError(400, "id: expected an integer")
        try:
            account = self.sim.add_account(body, user)
        except ValueError as exc:
            raise ControlError(400, f"id: {exc}") from None
        self.sim.broker._emit_account(account)
        return {**account.to_wire(), "userName": user}

    async def can_trade(self, request: web.Request, body: Any) -> Any:
        body = self._obj(body)
        account = self._account(request.match_info["id"])
        value = body.get("canTrade")
        if not isinstance(value, bool):
            raise ControlError(400, "canTrade: expected true or false")
        self.sim.broker.set_can_trade(account, value)
        return account.to_wire()

    # -- market and orders -------------------------------------------------------------------------------
    async def quote(self, request: web.Request, body: Any) -> Any:
        body = self._obj(body)
        contract = self.sim.table.resolve(body.get("contractId"))
        if contract is None:
            raise ControlError(404, f"contract {body.get('contractId')!r} not found")
        prices = {}
        for key in ("bid", "ask", "last"):
            value = body.get(key)
            if value is None:
                if key != "last":
                    raise ControlError(400, f"{key}: required")
                prices[key] = None
                continue
            number = to_decimal(value)
            if number is None:
                raise ControlError(400, f"{key}: expected a number")
            prices[key] = number
        volume = body.get("volume")
        if volume is not None and (isinstance(volume, bool) or not isinstance(volume, int) or volume < 0):
            raise ControlError(400, "volume: expected an integer >= 0")
        filled = self.sim.market.set_quote(contract, prices["bid"], prices["ask"], prices["last"], volume)
        q = self.sim.market.quotes[contract.id]
        return {
            "contractId": contract.id,
            "bid": q.bid,
            "ask": q.ask,
            "last": q.last,
            "filledOrderIds": filled,
        }

    async def orders(self, request: web.Request, body: Any) -> Any:
        body = self._obj(body)
        account = self._account(body.get("accountId"))
        contract = self.sim.table.resolve(body.get("contractId"))
        call = Call(
            {**body, "contractId": contract.id if contract else str(body.get("contractId"))}, None, None
        )
        req = order_request(call, account.id)
        result = self.sim.broker.place(req, None)
        return envelope(result, orderId=result.order_id)

    async def cancel(self, request: web.Request, body: Any) -> Any:
        oid = self._order(request)
        return envelope(self.sim.broker.cancel(None, oid, None))

    async def modify(self, request: web.Request, body: Any) -> Any:
        body = self._obj(body)
        oid = self._order(request)
        call = Call(body, None, None)
        result = self.sim.broker.modify(
            None,
            oid,
            None,
            size=call.int_("size", False),
            limit=call.num("limitPrice"),
            stop=call.num("stopPrice"),
            trail=call.num("trailPrice"),
        )
        return envelope(result)

    async def void(self, request: web.Request, body: Any) -> Any:
        try:
            tid = int(request.match_info["id"])
        except ValueError:
            tid = -1
        trade = self.sim.broker.trades.get(tid)
        if trade is None:
            raise ControlError(404, f"trade {request.match_info['id']} not found")
        self.sim.broker.void_trade(trade)
        return trade.to_wire()

    # -- faults and settings -----------------------------------------------------------------------------
    async def arm_fault(self, request: web.Request, body: Any) -> Any:
        spec = validate(body)
        return await self.sim_arm(spec)

    async def sim_arm(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Arm a fault (control API and scenario steps); instant faults act now."""
        sim = self.sim
        fault = sim.faults.arm(spec)
        sim.journal.append("fault", fault_id=fault.id, action="armed", spec=spec)
        kind, hubs = fault.kind, sim.hubs
        user = spec.get("userName")
        if kind == "drop_hubs" and hubs is not None:
            await hubs.drop(spec.get("hub", "all"), user, spec.get("mode", "close_frame"))
        elif kind == "hub_outage" and hubs is not None:
            await hubs.drop(spec.get("hub", "all"), user, "close_frame")
        elif kind == "expire_tokens":
            sim.tokens.expire_user(user)
        elif kind == "logout_event" and hubs is not None:
            await hubs.logout(user)
        if kind in ("drop_hubs", "expire_tokens", "logout_event"):
            sim.journal.append("fault", fault_id=fault.id, action="fired", spec=spec)
        return {"id": fault.id, "kind": fault.kind, "remaining": fault.remaining}

    async def list_faults(self, request: web.Request, body: Any) -> Any:
        return {"faults": [f.to_dict() for f in self.sim.faults.active()]}

    async def clear_faults(self, request: web.Request, body: Any) -> Any:
        self.sim.faults.clear()
        self.sim.journal.append("fault", fault_id=None, action="cleared", spec=None)
        return {"faults": []}

    async def clear_fault(self, request: web.Request, body: Any) -> Any:
        try:
            fid = int(request.match_info["id"])
        except ValueError:
            fid = -1
        if not self.sim.faults.clear(fid):
            raise ControlError(404, f"fault {request.match_info['id']} not found")
        self.sim.journal.append("fault", fault_id=fid, action="cleared", spec=None)
        return {"faults": [f.to_dict() for f in self.sim.faults.active()]}

    async def get_settings(self, request: web.Request, body: Any) -> Any:
        return self.sim.settings.values

    async def set_settings(self, request: web.Request, body: Any) -> Any:
        values = self.sim.settings.update(self._obj(body))
        self.sim.journal.resize(values["journal_max_entries"])
        return values

    # -- reading -------------------------------------------------------------------------------------------
    async def state(self, request: web.Request, body: Any) -> Any:
        acct = request.query.get("accountId")
        try:
            account_id = int(acct) if acct else None
        except ValueError:
            raise ControlError(400, "accountId: expected an integer") from None
        return self.sim.state(account_id)

    async def journal(self, request: web.Request, body: Any) -> Any:
        q = request.query
        try:
            since = int(q.get("since", "0"))
            limit = int(q.get("limit", "10000"))
        except ValueError:
            raise ControlError(400, "since/limit: expected integers") from None
        kinds = {k.strip() for k in q["kinds"].split(",") if k.strip()} if q.get("kinds") else None
        return self.sim.journal.page(since, kinds, limit)

    # -- scenario ------------------------------------------------------------------------------------------
    def _runner(self) -> Any:
        if self.sim.scenario is None:
            raise ControlError(404, "no scenario loaded")
        return self.sim.scenario

    async def scenario_load(self, request: web.Request, body: Any) -> Any:
        from risk_manager.sim.scenario import ScenarioError, load_scenario

        body = self._obj(body)
        try:
            scenario = load_scenario(name=body.get("name"), path=body.get("path"), inline=body.get("inline"))
        except ScenarioError as exc:
            raise ControlError(400, str(exc)) from None
        runner = await self.server_load(scenario)
        return runner.status()

    async def server_load(self, scenario: Any) -> Any:
        from risk_manager.sim.scenario import ScenarioRunner

        for user in scenario.users:  # refuse before touching anything (no half-added users)
            if user.name in self.sim.broker.users:
                continue
            for acct in user.accounts:
                if acct.get("id") is not None and int(acct["id"]) in self.sim.broker.accounts:
                    raise ControlError(
                        400, f"{scenario.source}: users.{user.name}: account id {acct['id']} already exists"
                    )
        if self.sim.scenario is not None:
            await self.sim.scenario.stop()
        runner = ScenarioRunner(self.sim, scenario, self)
        runner.apply_setup(add_users=True)
        self.sim.scenario = runner
        runner.arm()
        return runner

    async def scenario_start(self, request: web.Request, body: Any) -> Any:
        runner = self._runner()
        runner.start()
        return runner.status()

    async def scenario_stop(self, request: web.Request, body: Any) -> Any:
        runner = self._runner()
        await runner.stop()
        return runner.status()

    async def scenario_status(self, request: web.Request, body: Any) -> Any:
        if self.sim.scenario is None:
            return {"name": None, "state": "idle", "elapsed_s": 0, "next_step": None}
        return self.sim.scenario.status()

    async def hub_send(self, request: web.Request, body: Any) -> Any:
        """Extension for robustness tests: write a raw text frame (malformed on purpose, usually)
        to every matching hub connection. ``frame`` is sent as given; nothing is appended."""
        body = self._obj(body)
        hub = body.get("hub", "user")
        if hub not in ("user", "market", "all"):
            raise ControlError(400, "hub: expected user, market or all")
        frame = body.get("frame")
        if not isinstance(frame, str) or not frame:
            raise ControlError(400, "frame: expected a non-empty string")
        user = body.get("userName")
        sent = 0
        if self.sim.hubs is not None:
            for conn in self.sim.hubs.matching(hub, user):
                if await conn.send(frame):
                    sent += 1
        return {"sent": sent}

    async def reset(self, request: web.Request, body: Any) -> Any:
        sim = self.sim
        if sim.scenario is not None:
            await sim.scenario.stop()
            sim.scenario = None
        sim.faults.clear()
        sim.broker.reset()
        sim.settings.reset()
        sim.market.reset_quotes(sim.reference_quotes)
        sim.journal.clear()
        if sim.hubs is not None:
            await sim.hubs.close_all()
        return {"ok": True}
