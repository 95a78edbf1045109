"""Scenarios and users files (spec/gateway.md §6.8): scripted trader actions, market walks, the demo.

A scenario is validated completely before anything runs (errors name file, key path and line). The
runner turns steps into timed actions on the simulator; each step is journaled and is the cause of
the events it produces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from risk_manager.sim.core import UserSpec
from risk_manager.sim.journal import CAUSE
from risk_manager.sim.matching import OrderRequest
from risk_manager.sim.rest import BadRequest, Call, order_request
from risk_manager.sim.settings import Settings, SettingsError
from risk_manager.sim.wire import BUY, LIMIT, SELL, STOP, STOP_LIMIT, to_decimal

if TYPE_CHECKING:
    from risk_manager.sim.core import Simulator


class Controls(Protocol):
    """What scenario steps need of the control API (``control.ControlApi``): its account lookup and
    its fault arming, so a step is checked exactly as the same ``/sim`` request would be."""

    def _account(self, ref: Any) -> Any: ...
    async def sim_arm(self, fault: Any) -> Any: ...

log = logging.getLogger("risk_manager.sim.scenario")

TOP_KEYS = {
    "version",
    "name",
    "seed",
    "as_of",
    "start",
    "loop",
    "settings",
    "contracts",
    "users",
    "market",
    "steps",
}
ACTIONS = {
    "quote",
    "move",
    "walk",
    "order",
    "cancel",
    "modify",
    "flatten",
    "can_trade",
    "fault",
    "settings",
    "say",
    "end",
}
WALK_MIN_STEP_S = 0.001  # a walk steps at most 1,000 times a second (bench/latency.py drives 5,000 quotes/s)
STEP_KEYS = {"at", "repeat", "every"} | ACTIONS
ACCOUNT_KEYS = {"id", "name", "balance", "canTrade", "simulated", "isVisible", "active"}
_ORDER_KEYS = {
    "account",
    "contract",
    "type",
    "side",
    "size",
    "limitPrice",
    "stopPrice",
    "trailPrice",
    "customTag",
    "stopLossBracket",
    "takeProfitBracket",
    "fills",
    "label",
    "stopOffsetTicks",
    "limitOffsetTicks",
}
# keys each action accepts (spec/gateway.md §6.8); ``fault`` and ``settings`` are validated by their own parsers
ACTION_KEYS: dict[str, set[str] | None] = {
    "quote": {"contract", "bid", "ask", "last"},
    "move": {"contract", "ticks", "over"},
    "walk": {"contract", "enabled", "every", "sigma_ticks", "drift_ticks"},
    "order": _ORDER_KEYS,
    "cancel": {"account", "label", "all"},
    "modify": {"account", "label", "size", "limitPrice", "stopPrice"},
    "flatten": {"account", "contract"},
    "can_trade": {"account", "value"},
    "fault": None,
    "settings": None,
    "say": {"text"},
    "end": set(),
}
WALK_KEYS = {"every", "sigma_ticks", "drift_ticks", "enabled"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


class ScenarioError(ValueError):
    pass


def _where(source: str, node: Any, key: Any, path: str) -> str:
    line = None
    try:
        line = node.lc.key(key)[0] + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        try:
            line = node.lc.item(key)[0] + 1
        except (AttributeError, KeyError, TypeError, IndexError):
            line = None
    return f"{source}:{line}: {path}" if line else f"{source}: {path}"


def duration(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ScenarioError(f"{where}: expected a duration (number of seconds, or '250ms', '2s', '1m')")
    if isinstance(value, int | float | Decimal):
        if value < 0:
            raise ScenarioError(f"{where}: expected a duration >= 0")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ScenarioError(
            f"{where}: expected a duration (number of seconds, or '250ms', '2s', '1m'), got {value!r}"
        )
    number = float(match.group(1))
    unit = match.group(2) or "s"
    return number / 1000 if unit == "ms" else number * 60 if unit == "m" else number


@dataclass
class Step:
    at: float
    index: int
    action: str
    args: dict[str, Any]
    where: str


@dataclass
class Scenario:
    name: str
    source: str
    seed: int | None = None
    as_of: date | None = None
    start: str = "first_subscription"
    loop: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    users: list[UserSpec] = field(default_factory=list)
    market: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    contracts: list[dict[str, Any]] = field(default_factory=list)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, float):
        return Decimal(repr(node))
    return node


def _at(source: str, node: Any, key: Any, path: str) -> str:
    """``file:line: path`` for a key (or list index) of a YAML node; line omitted for plain data."""
    return _where(source, node, key, path)


def parse_users(raw: Any, source: str, node: Any = None, base: str = "users") -> list[UserSpec]:
    if not isinstance(raw, list):
        raise ScenarioError(f"{source}: {base}: expected a list of users")
    out = []
    for i, item in enumerate(raw):
        path = f"{base}[{i}]"
        where = _at(source, raw, i, path)
        if not isinstance(item, dict):
            raise ScenarioError(f"{where}: expected a mapping with userName, apiKey, accounts")
        for key in item:
            if key not in ("userName", "apiKey", "accounts"):
                raise ScenarioError(f"{_at(source, item, key, f'{path}.{key}')}: unknown key")
        name, key = item.get("userName"), item.get("apiKey")
        if not isinstance(name, str) or not name:
            raise ScenarioError(
                f"{_at(source, item, 'userName', f'{path}.userName')}: expected a non-empty string"
            )
        if not isinstance(key, str) or not key:
            raise ScenarioError(
                f"{_at(source, item, 'apiKey', f'{path}.apiKey')}: expected a non-empty string"
            )
        accounts = item.get("accounts") or []
        if not isinstance(accounts, list):
            raise ScenarioError(f"{_at(source, item, 'accounts', f'{path}.accounts')}: expected a list")
        parsed = []
        for j, acct in enumerate(accounts):
            apath = f"{path}.accounts[{j}]"
            if not isinstance(acct, dict):
                raise ScenarioError(f"{_at(source, accounts, j, apath)}: expected a mapping")
            for akey in acct:
                if akey not in ACCOUNT_KEYS:
                    raise ScenarioError(f"{_at(source, acct, akey, f'{apath}.{akey}')}: unknown key")
            if acct.get("id") is not None and (
                isinstance(acct["id"], bool) or not isinstance(acct["id"], int)
            ):
                raise ScenarioError(f"{_at(source, acct, 'id', f'{apath}.id')}: expected an integer")
            if "balance" in acct and to_decimal(acct["balance"]) is None:
                raise ScenarioError(f"{_at(source, acct, 'balance', f'{apath}.balance')}: expected a number")
            parsed.append(_plain(dict(acct)))
        out.append(UserSpec(name, key, parsed))
    return out


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ScenarioError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def load_users_file(path: Path) -> list[UserSpec]:
    data = _read_yaml(path)
    if isinstance(data, dict) and set(data) <= {"users"}:
        return parse_users(data.get("users") or [], str(path), data.get("users"))
    raise ScenarioError(f"{path}: expected a mapping with the single key 'users'")


def load_scenario(*, name: str | None = None, path: str | None = None, inline: Any = None) -> Scenario:
    if name:
        if name == "demo":
            from risk_manager.sim.demo_scenario import DEMO

            return parse_scenario(DEMO, "<builtin demo>")
        candidate = Path(name)
        if candidate.exists():
            return parse_scenario(_read_yaml(candidate), str(candidate))
        raise ScenarioError(f"scenario {name!r}: not a built-in scenario (demo) nor an existing file")
    if path:
        return parse_scenario(_read_yaml(Path(path)), path)
    if inline is not None:
        return parse_scenario(inline, "<inline>")
    raise ScenarioError("scenario: give name, path or inline")


def parse_scenario(data: Any, source: str) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping at the top level")
    for key in data:
        if key not in TOP_KEYS:
            raise ScenarioError(
                f"{_where(source, data, key, str(key))}: unknown key (expected one of {', '.join(sorted(TOP_KEYS))})"
            )
    if data.get("version", 1) != 1:
        raise ScenarioError(f"{_where(source, data, 'version', 'version')}: expected 1")
    sc = Scenario(name=str(data.get("name") or Path(source).stem), source=source)
    if data.get("seed") is not None:
        if isinstance(data["seed"], bool) or not isinstance(data["seed"], int):
            raise ScenarioError(f"{_where(source, data, 'seed', 'seed')}: expected an integer")
        sc.seed = data["seed"]
    if data.get("as_of") is not None:
        value = data["as_of"]
        try:
            sc.as_of = value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError:
            raise ScenarioError(
                f"{_where(source, data, 'as_of', 'as_of')}: expected a date YYYY-MM-DD"
            ) from None
    start = data.get("start", "first_subscription")
    if start not in ("immediate", "first_subscription", "manual"):
        raise ScenarioError(
            f"{_where(source, data, 'start', 'start')}: expected immediate, first_subscription or manual"
        )
    sc.start = start
    sc.loop = bool(data.get("loop", False))
    if data.get("settings"):
        try:
            Settings(_plain(data["settings"]))
        except SettingsError as exc:
            raise ScenarioError(
                f"{_where(source, data['settings'], exc.key, 'settings.' + exc.key)}: {exc}"
            ) from None
        sc.settings = _plain(data["settings"])
    if data.get("contracts"):
        raise ScenarioError(
            f"{_where(source, data, 'contracts', 'contracts')}: contract overrides are not supported by this simulator version"
        )
    if data.get("users"):
        sc.users = parse_users(data["users"], source, data["users"])
    market = data.get("market") or {}
    if not isinstance(market, dict):
        raise ScenarioError(
            f"{_where(source, data, 'market', 'market')}: expected a mapping of contract to quote"
        )
    for contract, spec in market.items():
        where = _where(source, market, contract, f"market.{contract}")
        if not isinstance(spec, dict):
            raise ScenarioError(f"{where}: expected {{bid, ask, walk?}}")
        for key in spec:
            if key not in ("bid", "ask", "walk"):
                raise ScenarioError(f"{_where(source, spec, key, f'market.{contract}.{key}')}: unknown key")
        walk = spec.get("walk")
        if walk is not None and not isinstance(walk, dict):
            raise ScenarioError(
                f"{_where(source, spec, 'walk', f'market.{contract}.walk')}: expected a mapping"
            )
        for key in walk or {}:
            if key not in WALK_KEYS:
                raise ScenarioError(
                    f"{_where(source, walk, key, f'market.{contract}.walk.{key}')}: unknown key"
                )
        sc.market[str(contract)] = _plain(dict(spec))
    steps = data.get("steps") or []
    if not isinstance(steps, list):
        raise ScenarioError(f"{_where(source, data, 'steps', 'steps')}: expected a list")
    for i, step in enumerate(steps):
        where = _where(source, steps, i, f"steps[{i}]")
        if not isinstance(step, dict):
            raise ScenarioError(f"{where}: expected a mapping")
        for key in step:
            if key not in STEP_KEYS:
                raise ScenarioError(
                    f"{_where(source, step, key, f'steps[{i}].{key}')}: unknown key (actions: {', '.join(sorted(ACTIONS))})"
                )
        actions = [k for k in step if k in ACTIONS]
        if len(actions) != 1:
            raise ScenarioError(f"{where}: expected exactly one action, got {len(actions)}")
        at = duration(step.get("at", 0), f"{where}.at")
        repeat = step.get("repeat", 1)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise ScenarioError(f"{where}.repeat: expected an integer >= 1")
        every = duration(step.get("every", 0), f"{where}.every") if repeat > 1 else 0.0
        action = actions[0]
        args = step[action]
        allowed = ACTION_KEYS[action]
        if isinstance(args, dict) and allowed is not None:
            for key in args:
                if key not in allowed:
                    raise ScenarioError(
                        f"{_where(source, args, key, f'steps[{i}].{action}.{key}')}: unknown key (expected one of {', '.join(sorted(allowed)) or 'none'})"
                    )
        if action == "fault" and isinstance(args, dict):
            from risk_manager.sim.faults import FaultError, validate

            try:
                validate(_plain(args))
            except FaultError as exc:
                raise ScenarioError(f"{_where(source, step, action, f'steps[{i}].fault')}: {exc}") from None
        if action == "settings" and isinstance(args, dict):
            try:
                Settings(_plain(args))
            except SettingsError as exc:
                raise ScenarioError(
                    f"{_where(source, args, exc.key, f'steps[{i}].settings.{exc.key}')}: {exc}"
                ) from None
        args = _plain(args) if isinstance(args, dict) else ({"text": str(args)} if action == "say" else args)
        if not isinstance(args, dict):
            raise ScenarioError(f"{where}.{action}: expected a mapping")
        for n in range(repeat):
            sc.steps.append(Step(at + n * every, i, action, args, where))
    sc.steps.sort(key=lambda s: (s.at, s.index))
    return sc


class ScenarioRunner:
    def __init__(self, sim: Simulator, scenario: Scenario, control: Controls) -> None:
        self.sim = sim
        self.scenario = scenario
        self.control = control
        self.state = "idle"
        self.started_at: float | None = None
        self.next_index = 0
        self.labels: dict[tuple[int, str], int] = {}
        self._task: asyncio.Task[None] | None = None
        self._walks: dict[str, asyncio.Task[None]] = {}
        self._walk_paused: set[str] = set()
        self._rng_seed = scenario.seed if scenario.seed is not None else sim.seed
        self._hooked = False

    # -- setup ---------------------------------------------------------------------------------------------
    def apply_setup(self, add_users: bool) -> None:
        sc, sim = self.scenario, self.sim
        if sc.settings:
            sim.settings.update(sc.settings)
        if add_users:
            for user in sc.users:
                if user.name not in sim.broker.users:
                    sim.add_users([user])
        for ref, spec in sc.market.items():
            contract = sim.table.resolve(ref)
            if contract is None:
                raise ScenarioError(f"{sc.source}: market.{ref}: unknown contract")
            if "bid" in spec and "ask" in spec:
                sim.market.set_quote(contract, Decimal(spec["bid"]), Decimal(spec["ask"]))

    def arm(self) -> None:
        if self.scenario.start == "immediate":
            self.start()
        elif self.scenario.start == "first_subscription":
            self.state = "waiting"
            if not self._hooked and self.sim.hubs is not None:
                self._hooked = True
                self.sim.hubs.on_subscribe.append(self._on_subscribe)
        self._start_walks()

    def _scenario_accounts(self) -> set[int]:
        ids = {int(a["id"]) for u in self.scenario.users for a in u.accounts if a.get("id") is not None}
        for step in self.scenario.steps:
            acct = step.args.get("account")
            if isinstance(acct, int):
                ids.add(acct)
        return ids

    def _on_subscribe(self, hub: str, target: str, arg: Any, user: str) -> None:
        if self.state != "waiting" or target not in ("SubscribeOrders", "SubscribePositions"):
            return
        accounts = self._scenario_accounts()
        try:
            if not accounts or int(arg) in accounts:
                self.start()
        except (TypeError, ValueError):
            return

    def _start_walks(self) -> None:
        for ref, spec in self.scenario.market.items():
            walk = spec.get("walk")
            if walk:
                self._set_walk(ref, {"enabled": True, **walk})

    def _set_walk(self, ref: str, spec: dict[str, Any]) -> None:
        contract = self.sim.table.resolve(ref)
        if contract is None:
            raise ScenarioError(f"walk: unknown contract {ref}")
        old = self._walks.pop(contract.id, None)
        if old:
            old.cancel()
        if spec.get("enabled", True) is False:
            return
        every = duration(spec.get("every", "250ms"), "walk.every")
        sigma = float(spec.get("sigma_ticks", 1.0))
        drift = float(spec.get("drift_ticks", 0))
        rng = random.Random(f"{self._rng_seed}:walk:{contract.id}")
        self._walks[contract.id] = asyncio.create_task(self._walk(contract, every, sigma, drift, rng))

    async def _walk(
        self, contract: Any, every: float, sigma: float, drift: float, rng: random.Random
    ) -> None:
        while True:
            await asyncio.sleep(max(every, WALK_MIN_STEP_S))
            if contract.id in self._walk_paused:
                continue
            q = self.sim.market.quotes[contract.id]
            ticks = round(rng.gauss(drift, sigma))
            if ticks == 0:
                continue
            bid = q.bid + ticks * contract.tick_size
            if bid <= contract.tick_size:
                continue
            try:
                self.sim.market.set_quote(contract, bid, bid + contract.tick_size, volume=rng.randint(1, 5))
            except Exception:
                log.exception("random walk of %s failed", contract.id)

    # -- running -------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.state in ("running",):
            return
        self.state = "running"
        self.started_at = time.monotonic()
        self.next_index = 0
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in self._walks.values():
            task.cancel()
        self._walks.clear()
        self.state = "finished" if self.state == "running" else "idle"

    def status(self) -> dict[str, Any]:
        elapsed = (
            time.monotonic() - self.started_at
            if self.started_at is not None and self.state == "running"
            else 0.0
        )
        nxt = self.scenario.steps[self.next_index] if self.next_index < len(self.scenario.steps) else None
        return {
            "name": self.scenario.name,
            "state": self.state,
            "elapsed_s": round(elapsed, 3),
            "next_step": {"at": nxt.at, "action": nxt.action}
            if nxt and self.state in ("running", "waiting")
            else None,
        }

    async def _run(self) -> None:
        while True:
            assert self.started_at is not None
            for i, step in enumerate(self.scenario.steps):
                self.next_index = i
                delay = self.started_at + step.at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._execute(step)
            self.next_index = len(self.scenario.steps)
            if not self.scenario.loop:
                self.state = "finished"
                return
            self.started_at = time.monotonic()
            self.labels.clear()

    async def _execute(self, step: Step) -> None:
        entry = self.sim.journal.append("scenario", step=step.index, action=step.action, detail=step.args)
        CAUSE.set(entry["seq"])
        try:
            detail = await self._do(step)
            if detail:
                entry["detail"] = {**step.args, "result": detail}
        except (ScenarioError, BadRequest, ValueError, KeyError) as exc:
            entry["detail"] = {**step.args, "skipped": str(exc)}
            log.warning("scenario step %s (%s) skipped: %s", step.where, step.action, exc)
        if self.sim.hubs is not None:
            await self.sim.hubs.flush()

    def _account(self, ref: Any) -> Any:
        return self.control._account(ref)

    async def _do(self, step: Step) -> Any:
        a, sim = step.args, self.sim
        action = step.action
        if action == "say":
            text = a.get("text", "")
            print(f"[scenario] {text}", file=sys.stderr, flush=True)
            return None
        if action == "end":
            return None
        if action == "quote":
            contract = self._contract(a.get("contract"))
            sim.market.set_quote(contract, Decimal(a["bid"]), Decimal(a["ask"]), to_decimal(a.get("last")))
            return None
        if action == "move":
            contract = self._contract(a.get("contract"))
            asyncio.create_task(
                self._move(contract, int(a["ticks"]), duration(a.get("over", "1s"), "move.over"))
            )
            return None
        if action == "walk":
            self._set_walk(str(a.get("contract")), a)
            return None
        if action == "order":
            return self._order(a)
        if action == "cancel":
            account = self._account(a.get("account"))
            if a.get("all"):
                ids = [o.id for o in sim.broker.working_orders(account.id)]
            else:
                oid = self.labels.get((account.id, str(a.get("label"))))
                if oid is None:
                    raise ScenarioError(f"cancel: unknown label {a.get('label')!r}")
                ids = [oid]
            for oid in ids:
                sim.broker.cancel(None, oid, None)
            return {"cancelled": ids}
        if action == "modify":
            account = self._account(a.get("account"))
            oid = self.labels.get((account.id, str(a.get("label"))))
            if oid is None:
                raise ScenarioError(f"modify: unknown label {a.get('label')!r}")
            result = sim.broker.modify(
                None,
                oid,
                None,
                size=a.get("size"),
                limit=to_decimal(a.get("limitPrice")),
                stop=to_decimal(a.get("stopPrice")),
            )
            return {"errorCode": result.code}
        if action == "flatten":
            account = self._account(a.get("account"))
            contract = self._contract(a["contract"]) if a.get("contract") else None
            return {"orders": sim.broker.flatten(account.id, contract)}
        if action == "can_trade":
            account = self._account(a.get("account"))
            sim.broker.set_can_trade(account, bool(a.get("value")))
            return None
        if action == "fault":
            from risk_manager.sim.faults import validate

            return await self.control.sim_arm(validate(a))
        if action == "settings":
            sim.settings.update(a)
            return None
        raise ScenarioError(f"unknown action {action}")

    def _contract(self, ref: Any) -> Any:
        contract = self.sim.table.resolve(str(ref))
        if contract is None:
            raise ScenarioError(f"unknown contract {ref!r}")
        return contract

    def _order(self, a: dict[str, Any]) -> dict[str, Any]:
        account = self._account(a.get("account"))
        contract = self._contract(a.get("contract"))
        body = {
            k: v
            for k, v in a.items()
            if k not in ("account", "contract", "label", "stopOffsetTicks", "limitOffsetTicks")
        }
        body["contractId"] = contract.id
        call = Call(body, None, None)
        req: OrderRequest = order_request(call, account.id)
        q = self.sim.market.quote_of(contract)
        tick = contract.tick_size
        if a.get("stopOffsetTicks") is not None and req.type in (STOP, STOP_LIMIT):
            n = int(a["stopOffsetTicks"])
            req.stop = q.bid - n * tick if req.side == SELL else q.ask + n * tick
        if a.get("limitOffsetTicks") is not None and req.type in (LIMIT, STOP_LIMIT):
            n = int(a["limitOffsetTicks"])
            req.limit = q.bid - n * tick if req.side == BUY else q.ask + n * tick
        result = self.sim.broker.place(req, None)
        if result.ok and a.get("label") and result.order_id is not None:
            self.labels[(account.id, str(a["label"]))] = result.order_id
        return {"orderId": result.order_id, "errorCode": result.code, "errorMessage": result.message}

    async def _move(self, contract: Any, ticks: int, over: float) -> None:
        self._walk_paused.add(contract.id)
        try:
            steps = max(1, int(over / 0.25))
            q = self.sim.market.quotes[contract.id]
            start_bid = q.bid
            spread = q.ask - q.bid
            done = 0
            for n in range(1, steps + 1):
                await asyncio.sleep(over / steps)
                target = round(ticks * n / steps)
                if target == done:
                    continue
                done = target
                bid = start_bid + target * contract.tick_size
                if bid <= 0:
                    break
                self.sim.market.set_quote(contract, bid, bid + spread, volume=1)
                if self.sim.hubs is not None:
                    await self.sim.hubs.flush()
        finally:
            self._walk_paused.discard(contract.id)
