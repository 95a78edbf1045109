"""Armed faults (spec/gateway.md §6.7): what the next matching REST calls, hub events or connections suffer.

Faults are data; the REST layer, the hub router and the connection registry ask this book whether one
applies and consume it. Faults never change broker state themselves (``fail_rest`` with ``execute:true``
is carried out by the REST layer before the answer fails).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

KINDS: dict[str, dict[str, Any]] = {
    "drop_hubs": {"hub": "all", "userName": None, "mode": "close_frame"},
    "hub_outage": {"hub": "all", "duration_s": 10, "userName": None},
    "fail_rest": {
        "path": "*",
        "count": 1,
        "mode": "http_500",
        "errorCode": None,
        "errorMessage": None,
        "execute": False,
        "hold_ms": 15000,
        "body": None,
        "userName": None,
    },
    "rate_limit": {"path": "*", "count": 1, "retry_after_s": 1, "userName": None},
    "latency": {
        "target": "rest",
        "path": "*",
        "ms": 100,
        "count": None,
        "duration_s": None,
        "userName": None,
    },
    "duplicate_events": {"hub": "user", "target": "*", "count": 1, "userName": None},
    "reorder_events": {"hub": "user", "target": "*", "count": 2, "userName": None},
    "drop_events": {"hub": "user", "target": "*", "count": 1, "userName": None},
    "pause_market_data": {"duration_s": 30},
    "expire_tokens": {"userName": None},
    "logout_event": {"userName": None},
}
_CHOICES = {
    "hub": ("user", "market", "all"),
    "mode": None,  # per kind below
}
_MODES = {
    "drop_hubs": ("close_frame", "abort", "close_message", "error"),
    "fail_rest": ("http_500", "success_false", "http_401", "timeout", "body"),
}
_LATENCY_TARGETS = ("rest", "user_hub", "market_hub")
# instant faults act once when armed and are never listed as pending
INSTANT = frozenset({"drop_hubs", "expire_tokens", "logout_event"})


class FaultError(ValueError):
    pass


@dataclass(slots=True)
class Fault:
    id: int
    kind: str
    spec: dict[str, Any]
    remaining: int | None  # None: time-bound (or unlimited latency)
    expires_at: float | None = None  # monotonic seconds
    held: list[Any] = field(default_factory=list)  # reorder_events

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "kind": self.kind, "remaining": self.remaining, **self.spec}
        if self.expires_at is not None:
            out["expires_in_s"] = round(max(0.0, self.expires_at - time.monotonic()), 3)
        return out

    def alive(self) -> bool:
        if self.expires_at is not None and time.monotonic() >= self.expires_at:
            return False
        return self.remaining is None or self.remaining > 0


def validate(body: Any) -> dict[str, Any]:
    """A complete fault spec (defaults filled in) or FaultError naming the field."""
    if not isinstance(body, dict):
        raise FaultError("fault: expected an object")
    kind = body.get("kind")
    if kind not in KINDS:
        raise FaultError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    spec: dict[str, Any] = {**KINDS[kind]}
    for key, value in body.items():
        if key == "kind":
            continue
        if key not in spec:
            raise FaultError(f"{key}: unknown field for fault {kind}")
        spec[key] = value
    if "hub" in spec and spec["hub"] not in _CHOICES["hub"]:
        raise FaultError(f"hub: expected user, market or all, got {spec['hub']!r}")
    if kind in _MODES and spec["mode"] not in _MODES[kind]:
        raise FaultError(f"mode: expected one of {', '.join(_MODES[kind])}, got {spec['mode']!r}")
    if kind == "latency" and spec["target"] not in _LATENCY_TARGETS:
        raise FaultError(f"target: expected one of {', '.join(_LATENCY_TARGETS)}, got {spec['target']!r}")
    for key in ("count", "duration_s", "ms", "retry_after_s", "hold_ms"):
        value = spec.get(key)
        if value is None:
            continue
        # request JSON is parsed with exact decimals, so 0.5 arrives as Decimal("0.5")
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal) or value < 0:
            raise FaultError(f"{key}: expected a number >= 0, got {value}")
        if key == "count" and value != int(value):
            raise FaultError(f"count: expected an integer >= 0, got {value}")
        spec[key] = int(value) if value == int(value) else float(value)
    if kind == "fail_rest" and spec["mode"] == "body" and spec["body"] is None:
        raise FaultError("body: mode body needs the answer to send (any JSON value)")
    if "path" in spec and not isinstance(spec["path"], str):
        raise FaultError("path: expected a REST path such as /api/Order/place or *")
    return {"kind": kind, **spec}


class FaultBook:
    def __init__(self) -> None:
        self._faults: dict[int, Fault] = {}
        self._next_id = 1

    def arm(self, spec: dict[str, Any]) -> Fault:
        kind = spec["kind"]
        params = {k: v for k, v in spec.items() if k != "kind"}
        remaining: int | None = None
        expires: float | None = None
        if params.get("count") is not None:
            remaining = int(params["count"])
        if params.get("duration_s") is not None and kind != "drop_hubs":
            expires = time.monotonic() + float(params["duration_s"])
        if kind in INSTANT:
            remaining = 0
        fault = Fault(self._next_id, kind, params, remaining, expires)
        self._next_id += 1
        if kind not in INSTANT:
            self._faults[fault.id] = fault
        return fault

    def active(self) -> list[Fault]:
        self._expire()
        return list(self._faults.values())

    def clear(self, fault_id: int | None = None) -> bool:
        if fault_id is None:
            self._faults.clear()
            return True
        return self._faults.pop(fault_id, None) is not None

    def _expire(self) -> None:
        for fid in [f.id for f in self._faults.values() if not f.alive()]:
            del self._faults[fid]

    @staticmethod
    def _user_ok(fault: Fault, user: str | None) -> bool:
        wanted = fault.spec.get("userName")
        return wanted is None or wanted == user

    def take_rest(self, kind: str, path: str, user: str | None) -> Fault | None:
        """Consume one occurrence of the first matching ``fail_rest``/``rate_limit`` fault."""
        self._expire()
        for fault in self._faults.values():
            if fault.kind != kind or not self._user_ok(fault, user):
                continue
            if fault.spec.get("path", "*") not in ("*", path):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
            return fault
        return None

    def latency_ms(self, target: str, path: str | None, user: str | None) -> float:
        self._expire()
        total = 0.0
        for fault in self._faults.values():
            if fault.kind != "latency" or fault.spec["target"] != target or not self._user_ok(fault, user):
                continue
            if target == "rest" and fault.spec.get("path", "*") not in ("*", path):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
            total += float(fault.spec.get("ms") or 0)
        return total

    def event_fault(self, kind: str, hub: str, target: str, user: str | None) -> Fault | None:
        """The first live duplicate/reorder/drop fault matching this event (not consumed here)."""
        self._expire()
        for fault in self._faults.values():
            if fault.kind != kind or not self._user_ok(fault, user):
                continue
            if fault.spec.get("hub", "user") not in ("all", hub):
                continue
            if fault.spec.get("target", "*") not in ("*", target):
                continue
            return fault
        return None

    def outage(self, hub: str, user: str | None) -> bool:
        self._expire()
        return any(
            f.kind == "hub_outage" and f.spec.get("hub", "all") in ("all", hub) and self._user_ok(f, user)
            for f in self._faults.values()
        )

    def market_paused(self) -> bool:
        self._expire()
        return any(f.kind == "pause_market_data" for f in self._faults.values())
