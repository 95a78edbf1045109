"""What the dashboard knows, built from one snapshot and then the pushes in order (trader-cli.md §4.1).

Plain Python, no Textual: the app asks ``apply(msg)`` what changed (``Delta.topics``) and refreshes only
those parts of the screen. Every list is keyed by the record's id (trade, order, lockout, enforcement
record), so a message delivered twice can never make a second row, toast or bell. Memory is bounded:
500 enforcement rows and 500 trades per account; older ones are paged from the daemon on request.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from risk_manager.trader.fmt import dec, parse_time

MAX_ROWS = 500
MAX_FINISHED_ORDERS = 20
MAX_SERIES = 2000
FINAL_STATES = frozenset({"done", "failed", "observed", "interrupted"})
WORKING = frozenset({1, 6})
#: lockout families that leave exits open (everything else blocks trading): the local API's ``kind``
SOFT_KINDS = frozenset({"cooldown", "reduce_only"})


@dataclass
class Delta:
    """What one message changed: screen topics and the events alerts care about."""

    account_id: int | None = None
    topics: set[str] = field(default_factory=set)
    events: list[tuple[str, Any, Any]] = field(default_factory=list)


def _bounded_put(table: OrderedDict[Any, dict[str, Any]], key: Any, row: dict[str, Any], limit: int) -> None:
    table[key] = row
    while len(table) > limit:
        table.popitem(last=False)


@dataclass
class AccountView:
    """One account as the dashboard shows it."""

    account_id: int
    info: dict[str, Any]
    pnl: dict[str, Any]
    positions: dict[str, dict[str, Any]]
    orders: dict[int, dict[str, Any]]
    finished: OrderedDict[int, dict[str, Any]]
    trades: OrderedDict[int, dict[str, Any]]
    rules: dict[str, dict[str, Any]]
    lockouts: dict[str, dict[str, Any]]
    history: OrderedDict[str, dict[str, Any]]
    enforcement: OrderedDict[Any, dict[str, Any]]
    connection: dict[str, Any]
    confirmed_at: datetime
    series: list[tuple[datetime, Decimal | None, Decimal | None]] = field(default_factory=list)
    best: tuple[Decimal, datetime] | None = None
    worst: tuple[Decimal, datetime] | None = None
    previous_day: dict[str, Any] | None = None
    series_loaded: bool = False
    more_enforcement: bool = True

    # ----- derived --------------------------------------------------------------------------------
    @property
    def display_name(self) -> str:
        return str(self.info.get("nickname") or self.info.get("name") or self.account_id)

    @property
    def observe_only(self) -> bool:
        return self.info.get("mode") == "observe"

    @property
    def protection(self) -> str:
        return str(self.connection.get("protection") or self.info.get("protection") or "unknown")

    def _latest(self, kinds: frozenset[str], *, exclude: bool = False) -> dict[str, Any] | None:
        found = [
            lk
            for lk in self.lockouts.values()
            if lk.get("scope") == "account" and ((lk.get("kind") in kinds) != exclude)
        ]
        if not found:
            return None
        return max(found, key=lambda lk: parse_time(lk.get("until")) or datetime.max.replace(tzinfo=UTC))

    def hard_lockout(self) -> dict[str, Any] | None:
        """The account-wide lockout that blocks trading (the latest ending), None when there is none."""
        return self._latest(SOFT_KINDS, exclude=True)

    def cooldown(self) -> dict[str, Any] | None:
        return self._latest(frozenset({"cooldown"}))

    def reduce_only(self) -> dict[str, Any] | None:
        """The action ladder's rung (docs/rules-extra.md §4): exits only, not a lock."""
        return self._latest(frozenset({"reduce_only"}))

    @property
    def drawdown(self) -> dict[str, Any] | None:
        """RULE-013's floor and distance (snapshot and ``account`` pushes; offline: the rule's status)."""
        found = self.info.get("drawdown")
        if isinstance(found, dict):
            return found
        rule = self.rules.get("RULE-013") or {}
        found = rule.get("drawdown") if rule.get("enabled") else None
        return found if isinstance(found, dict) else None

    def add_point(self, at: datetime) -> None:
        realized, net = dec(self.pnl.get("realized")), dec(self.pnl.get("net"))
        if self.series and self.series[-1][0] >= at:
            self.series[-1] = (self.series[-1][0], realized, net)
        else:
            self.series.append((at, realized, net))
        del self.series[:-MAX_SERIES]

    def note_net(self, at: datetime) -> None:
        net = dec(self.pnl.get("net"))
        if net is None:
            return
        if self.best is None or net > self.best[0]:
            self.best = (net, at)
        if self.worst is None or net < self.worst[0]:
            self.worst = (net, at)


def _lockout_key(data: dict[str, Any]) -> str:
    return str(data.get("lockoutId") if data.get("lockoutId") is not None else data.get("id"))


def _enforcement_key(data: dict[str, Any]) -> Any:
    if data.get("id") is not None:
        return data["id"]
    return (data.get("ruleId"), data.get("action"), data.get("target"), data.get("reason"))


def account_from_snapshot(raw: dict[str, Any], now: datetime) -> AccountView:
    """A fresh account view from one snapshot account object (online or the offline reader's)."""
    lists = (
        "positions",
        "orders",
        "trades",
        "rules",
        "lockouts",
        "lockoutHistory",
        "enforcement",
        "pnl",
        "connection",
    )
    info = {k: v for k, v in raw.items() if k not in lists}
    view = AccountView(
        account_id=int(raw["accountId"]),
        info=info,
        pnl=dict(raw.get("pnl") or {}),
        positions={},
        orders={},
        finished=OrderedDict(),
        trades=OrderedDict(),
        rules={},
        lockouts={},
        history=OrderedDict(),
        enforcement=OrderedDict(),
        connection=dict(raw.get("connection") or {}),
        confirmed_at=now,
    )
    for pos in raw.get("positions") or []:
        if isinstance(pos, dict) and pos.get("contractId"):
            view.positions[pos["contractId"]] = dict(pos)
    for order in raw.get("orders") or []:
        if isinstance(order, dict) and order.get("orderId") is not None:
            if order.get("status") in WORKING or order.get("status") is None:
                view.orders[order["orderId"]] = dict(order)
            else:
                _bounded_put(view.finished, order["orderId"], dict(order), MAX_FINISHED_ORDERS)
    for trade in sorted(
        (t for t in raw.get("trades") or [] if isinstance(t, dict)), key=lambda t: t.get("tradeId") or 0
    ):
        if trade.get("tradeId") is not None:
            _bounded_put(view.trades, trade["tradeId"], dict(trade), MAX_ROWS)
    for rule in raw.get("rules") or []:
        if isinstance(rule, dict) and rule.get("ruleId"):
            view.rules[rule["ruleId"]] = dict(rule)
    for lock in raw.get("lockouts") or []:
        if isinstance(lock, dict):
            view.lockouts[_lockout_key(lock)] = dict(lock)
            view.history[_lockout_key(lock)] = dict(lock)
    for item in raw.get("lockoutHistory") or []:
        if isinstance(item, dict):
            view.history[_lockout_key(item)] = dict(item)
    for entry in reversed([e for e in raw.get("enforcement") or [] if isinstance(e, dict)]):
        _bounded_put(view.enforcement, _enforcement_key(entry), dict(entry), MAX_ROWS)
    view.note_net(now)
    if view.pnl:
        view.add_point(now)
    return view


class DashboardModel:
    """All accounts of one daemon (or of the database, offline) plus the link's own figures."""

    def __init__(self) -> None:
        self.daemon: dict[str, Any] = {}
        self.accounts: dict[int, AccountView] = {}
        self.heartbeat: dict[str, Any] = {}
        self.source = "none"  # "live" | "offline" | "none"
        self.as_of: datetime | None = None  # offline: the daemon's last heartbeat
        self.messages = 0
        self.ignored = 0
        self.last_message_at: datetime | None = None

    # ----- whole-model loads --------------------------------------------------------------------------
    def load_snapshot(self, data: dict[str, Any], now: datetime, *, source: str = "live") -> None:
        """Replace everything with a snapshot; never merged with older data (§4.1 step 2)."""
        self.daemon = {k: v for k, v in data.items() if k != "accounts"}
        self.accounts = {}
        for raw in data.get("accounts") or []:
            if isinstance(raw, dict) and isinstance(raw.get("accountId"), int) and raw.get("enabled", True):
                view = account_from_snapshot(raw, now)
                self.accounts[view.account_id] = view
        self.source = source
        self.as_of = parse_time(data.get("heartbeatAt")) if source == "offline" else None

    # ----- pushes ----------------------------------------------------------------------------------------
    def apply(self, msg: dict[str, Any], now: datetime) -> Delta:
        self.messages += 1
        self.last_message_at = now
        kind = msg.get("type")
        raw = msg.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        account_id = msg.get("accountId")
        delta = Delta(account_id=account_id if isinstance(account_id, int) else None)
        if kind == "heartbeat":
            self.heartbeat = dict(data)
            for view in self.accounts.values():
                if view.protection == "protected":
                    view.confirmed_at = now
            delta.topics.add("connection")
            return delta
        if kind == "status":
            self.daemon.update({k: v for k, v in data.items() if k in ("state", "version", "configLoadedAt")})
            delta.topics.add("connection")
            return delta
        found = self.accounts.get(account_id) if isinstance(account_id, int) else None
        handler = _HANDLERS.get(str(kind))
        if found is None or handler is None:
            self.ignored += 1
            return delta
        found.confirmed_at = now
        handler(found, data, msg, now, delta)
        return delta

    def apply_history(self, account_id: int, op: str, items: list[dict[str, Any]]) -> Delta:
        """Merge a history page (lockout history, older enforcement, intraday P&L samples)."""
        delta = Delta(account_id=account_id)
        view = self.accounts.get(account_id)
        if view is None:
            return delta
        if op == "history.lockouts":
            for item in items:
                key = _lockout_key(item)
                merged = dict(item)
                merged.update({k: v for k, v in view.history.get(key, {}).items() if v is not None})
                view.history[key] = merged
            view.history = OrderedDict(
                sorted(view.history.items(), key=lambda kv: kv[1].get("createdAt") or "")
            )
            delta.topics.add("lockouts")
        elif op == "history.enforcement":
            older = OrderedDict()
            for item in sorted(items, key=lambda i: i.get("id") or 0):
                key = _enforcement_key(item)
                if key not in view.enforcement:
                    older[key] = dict(item)
            older.update(view.enforcement)
            view.enforcement = older
            while len(view.enforcement) > MAX_ROWS:
                view.enforcement.popitem(last=True)  # paging back: keep the older page, drop the newest
            delta.topics.add("enforcement")
        elif op == "history.pnl":
            points = []
            for item in items:
                at = parse_time(item.get("at"))
                realized, unrealized = dec(item.get("realized")), dec(item.get("unrealized"))
                if at is not None:
                    net = None if realized is None else realized + (unrealized or Decimal(0))
                    points.append((at, realized, net))
            merged = {p[0]: p for p in points}
            for p in view.series:
                merged.setdefault(p[0], p)
            view.series = sorted(merged.values(), key=lambda p: p[0])[-MAX_SERIES:]
            view.series_loaded = True
            delta.topics.add("chart")
        return delta


# ----- handlers: (view, data, msg, now, delta) ----------------------------------------------------------
def _on_account(
    view: AccountView, data: dict[str, Any], msg: dict[str, Any], now: datetime, delta: Delta
) -> None:
    before = dict(view.pnl)
    for key in ("realized", "unrealized", "net", "fees", "tradeCount"):
        if key in data:
            view.pnl[key] = data[key]
    for key in ("balance", "canTrade", "drawdown"):
        if key in data:
            view.info[key] = data[key]
    if view.pnl != before:
        view.note_net(now)
        last = view.series[-1][0] if view.series else None
        if (
            before.get("realized") != view.pnl.get("realized")
            or last is None
            or now - last >= timedelta(minutes=1)
        ):
            view.add_point(now)
            delta.topics.add("chart")
    delta.topics.update({"pnl", "header"})


def _on_position(
    view: AccountView, data: dict[str, Any], msg: dict[str, Any], now: datetime, delta: Delta
) -> None:
    cid = data.get("contractId")
    if not isinstance(cid, str):
        return
    if not data.get("size"):
        if view.positions.pop(cid, None) is None:
            return
    else:
        row = view.positions.setdefault(cid, {})
        keep = {k: row[k] for k in ("last", "lastAt", "openedAt") if k in row}
        row.clear()
        row.update(data)
        for k, v in keep.items():
            if row.get(k) is None:
                row[k] = v
        row.setdefault("openedAt", msg.get("ts"))
    delta.topics.update({"positions", "pnl"})


def _on_order(
    view: AccountView, data: dict[str, Any], msg: dict[str, Any], now: datetime, delta: Delta
) -> None:
    oid = data.get("orderId")
    if oid is None:
        return
    row = dict(data)
    if data.get("status") in WORKING:
        previous = view.orders.get(oid)
        row["placedAt"] = (previous or {}).get("placedAt") or msg.get("ts")
        if previous == row:
            return
        view.orders[oid] = row
    else:
        previous = view.orders.pop(oid, None)
        row["placedAt"] = (previous or {}).get("placedAt") or msg.get("ts")
        row["finishedAt"] = msg.get("ts")
        if oid in view.finished and view.finished[oid].get("status") == row.get("status"):
            return
        view.finished.pop(oid, None)
        _bounded_put(view.finished, oid, row, MAX_FINISHED_ORDERS)
    delta.topics.update({"orders", "positions"})


def _on_trade(
    view: AccountView, data: dict[str, Any], msg: dict[str, Any], now: datetime, delta: Delta
) -> None:
    tid = data.get("tradeId")
    if tid is None or view.trades.get(tid) == data:
        return
    new = tid not in view.trades
    _bounded_put(view.trades, tid, dict(data), MAX_ROWS)
    delta.topics.update({"trades", "pnl"})
    if new:
        delta.events.append(("trade", None, data))


def _on_quote(
    view: AccountView, data: dict[str, Any], msg: dict[str, Any], now: datetime, delta: Delta
) -> None:
    cid = data.get("contractId")
    row = view.positions.get(cid) if isinstance(cid, str) else None
    if row is None:
        return
    row["last"] = data.get("last") if data.get("last") is not None else row.get("last")
    row["lastAt"] = data.get("at") or msg.get("ts")
    if "unrealized" in data and data["unrealized"] is not None:
        row["unrealized"] = data["unrealized"]
    delta.topics.add(f"quote:{cid}")


def _on_rule(
    view: AccountView, data: dict[str, Any], msg: dict[str, Any], now: datetime, delta: Delta
) -> None:
    rid = data.get("ruleId")
    if not isinstance(rid, str):
        return
    before = view.rules.get(rid)
    if before == data:
        return
    view.rules[rid] = dict(data)
    delta.topics.update({"rules", "overview"})
    if rid == "RULE-008":
        delta.topics.add("positions")
    delta.events.append(("rule", before, view.rules[rid]))


def _on_lockout_set(
    view: AccountView, data: dict[str, Any], msg: dict[str, Any], now: datetime, delta: Delta
) -> None:
    key = _lockout_key(data)
    before = view.lockouts.get(key)
    if before == data:
        return  # the same lockout pushed again: nothing changed, nothing to show
    view.lockouts[key] = dict(data)
    hist = view.history.pop(key, {})
    hist.update(data)
    view.history[key] = hist
    delta.topics.update({"lockouts", "header", "banner", "overview"})
    delta.events.append(("lockout_set", before, view.lockouts[key]))


def _on_lockout_cleared(
    view: AccountView, data: dict[str, Any], msg: dict[str, Any], now: datetime, delta: Delta
) -> None:
    key = _lockout_key(data)
    before = view.lockouts.pop(key, None)
    hist = view.history.get(key)
    if hist is None:
        hist = view.history[key] = {"lockoutId": data.get("lockoutId"), "ruleId": data.get("ruleId")}
    if hist.get("clearedAt") == data.get("clearedAt") and before is None:
        return
    hist.update(
        {
            "clearedAt": data.get("clearedAt"),
            "clearedBy": data.get("clearedBy"),
            "clearReason": data.get("reason"),
            "active": False,
        }
    )
    delta.topics.update({"lockouts", "header", "banner", "overview"})
    delta.events.append(("lockout_cleared", before, hist))


def _on_enforcement(
    view: AccountView, data: dict[str, Any], msg: dict[str, Any], now: datetime, delta: Delta
) -> None:
    key = _enforcement_key(data)
    before = view.enforcement.get(key)
    row = dict(before or {})
    row.update(data)
    row.setdefault("createdAt", msg.get("ts"))
    if before == row:
        return
    if before is None:
        _bounded_put(view.enforcement, key, row, MAX_ROWS)
    else:
        view.enforcement[key] = row
    delta.topics.update({"enforcement", "overview"})
    delta.events.append(("enforcement", before, row))


def _on_daily_reset(
    view: AccountView, data: dict[str, Any], msg: dict[str, Any], now: datetime, delta: Delta
) -> None:
    previous = data.get("previousPnl") or {}
    view.previous_day = {
        "tradingDay": data.get("previousDay") or view.info.get("tradingDay"),
        "realized": previous.get("realized", view.pnl.get("realized")),
        "tradeCount": previous.get("tradeCount", view.pnl.get("tradeCount")),
        "history": list(view.history.values()),
        "enforcement": list(view.enforcement.values()),
        "trades": list(view.trades.values()),
    }
    view.info["tradingDay"] = data.get("tradingDay") or view.info.get("tradingDay")
    view.info["nextResetAt"] = data.get("nextResetAt") or view.info.get("nextResetAt")
    for key in ("realized", "net", "fees"):
        view.pnl[key] = "0.00"
    view.pnl["tradeCount"] = 0
    unrealized = dec(view.pnl.get("unrealized"))
    if unrealized is not None:
        view.pnl["net"] = str(unrealized)
    view.trades.clear()
    view.enforcement.clear()
    view.history = OrderedDict((k, v) for k, v in view.history.items() if k in view.lockouts)
    view.finished.clear()
    view.series = []
    view.best = view.worst = None
    view.note_net(now)
    view.add_point(now)
    delta.topics.update({"pnl", "trades", "enforcement", "lockouts", "header", "chart", "overview", "orders"})
    delta.events.append(("daily_reset", None, data))


def _on_connection(
    view: AccountView, data: dict[str, Any], msg: dict[str, Any], now: datetime, delta: Delta
) -> None:
    before = view.protection
    view.connection.update(data)
    if "protection" in data:
        view.info["protection"] = data["protection"]
    delta.topics.update({"connection", "header", "banner", "overview"})
    delta.events.append(("protection", before, view.protection))


_HANDLERS: dict[str, Any] = {
    "account": _on_account,
    "position": _on_position,
    "order": _on_order,
    "trade": _on_trade,
    "quote": _on_quote,
    "rule_status": _on_rule,
    "lockout_set": _on_lockout_set,
    "lockout_cleared": _on_lockout_cleared,
    "enforcement": _on_enforcement,
    "daily_reset": _on_daily_reset,
    "connection": _on_connection,
}
