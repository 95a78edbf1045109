"""Wire format of the local WebSocket API (spec/daemon.md §9): envelopes, requests, error codes.

Kept apart from the server so the dashboards and the admin console can share the exact same
encoding and error vocabulary, and so the daemon's provider can raise ``LocalApiError`` without
importing the server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)

#: The complete list of ``error.code`` values of spec/daemon.md §9.7; nothing else is ever sent.
ERROR_CODES = frozenset(
    {
        "bad_request",
        "unauthorized",
        "auth_failed",
        "auth_locked",
        "not_found",
        "config_invalid",
        "unsupported_protocol",
        "busy",
        "rate_limited",
        "internal",
    }
)

PUBLIC_OPS = frozenset(
    {"snapshot", "status", "health", "history.enforcement", "history.lockouts", "history.pnl", "history.trades"}
)
HISTORY_OPS = frozenset(op for op in PUBLIC_OPS if op.startswith("history."))
ADMIN_OPS = frozenset({"reload_config", "unlock", "logout"})
ALL_OPS = PUBLIC_OPS | ADMIN_OPS | {"auth"}


class LocalApiError(Exception):
    """A request failed in a way the client should see: one §9.7 code, a message, optional fields.

    ``extra`` is merged into the ``error`` object (e.g. ``retryAfterS``, ``errors``)."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown API error code {code!r}; expected one of {sorted(ERROR_CODES)}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    def to_error(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


class ConfigInvalidError(LocalApiError):
    """Raised by the provider's reload when validation fails; the old configuration stays."""

    def __init__(self, errors: Sequence[Mapping[str, Any]], message: str | None = None) -> None:
        items = [dict(e) for e in errors]
        n = len(items)
        plural = "s" if n != 1 else ""
        text = message or f"configuration is invalid ({n} error{plural}); the previous one stays active"
        super().__init__("config_invalid", text, errors=items)
        self.errors = items


def format_ts(dt: datetime) -> str:
    """UTC with milliseconds and a ``Z`` suffix, the one timestamp format of the API."""
    if dt.tzinfo is None:
        raise ValueError("API timestamps must be timezone-aware")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _json_default(obj: Any) -> Any:
    # Money travels as strings so no client ever sees a float (README: money is exact).
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime):
        return format_ts(obj)
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} in an API message")


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=_json_default, allow_nan=False)


def envelope(
    type_: str,
    seq: int,
    ts: str,
    *,
    data_json: str | None = None,
    account_id: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Render one server message with the fixed key order ``v,type,seq,ts,accountId,…,data``.

    ``data_json`` is pre-encoded so a push fanned out to many clients is serialised once; only the
    per-connection ``seq`` differs between copies."""
    parts = [f'{{"v":{PROTOCOL_VERSION},"type":{dumps(type_)},"seq":{seq},"ts":"{ts}"']
    if account_id is not None:
        parts.append(f',"accountId":{dumps(account_id)}')
    if extra:
        for key, value in extra.items():
            parts.append(f",{dumps(key)}:{dumps(value)}")
    if data_json is not None:
        parts.append(f',"data":{data_json}')
    parts.append("}")
    return "".join(parts)


def response_fields_ok(request_id: Any) -> dict[str, Any]:
    return {"id": request_id, "ok": True}


def response_fields_error(request_id: Any, error: LocalApiError) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": error.to_error()}


@dataclass(frozen=True)
class Request:
    id: str | int
    op: str
    data: dict[str, Any]
    session: str | None


class RequestError(LocalApiError):
    """A frame that is not a usable request; carries the request id when one could be read."""

    def __init__(self, message: str, request_id: Any = None) -> None:
        super().__init__("bad_request", message)
        self.request_id = request_id


MAX_ID_LENGTH = 64
#: Integers in requests are ids, limits and counts: SQLite and the broker keep them in 64 bits.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class _Refused(ValueError):
    """Raised from the JSON decoder's constant hook; becomes a ``bad_request``."""


def _parse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not valid JSON")


def decode_frame(frame: str | bytes) -> Any:
    """JSON text -> Python; anything a client can send that the decoder refuses is a ``RequestError``
    (``bad_request``), never another exception: the C decoder stays on its fast path (no per-value
    Python hooks a flood could multiply), and its own limits are translated: a nesting deeper than the
    recursion limit (RecursionError), an integer of more than 4,300 digits (ValueError), NaN/Infinity."""
    if isinstance(frame, bytes):
        raise RequestError("binary frames are not supported; send JSON text frames")
    try:
        return json.loads(frame, parse_constant=_parse_constant)
    except json.JSONDecodeError as exc:
        raise RequestError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise RequestError("malformed request: arrays or objects nested too deep") from None
    except ValueError as exc:  # _Refused, or Python's int-size guard ("Exceeds the limit (4300 digits)")
        raise RequestError(f"malformed request: {str(exc).split(';')[0][:120]}") from None


def _out_of_range(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX


def parse_request(frame: str | bytes) -> Request:
    """Decode and shape-check one client frame; the message names the offending field."""
    obj = decode_frame(frame)
    if not isinstance(obj, dict):
        raise RequestError(f"a request must be a JSON object, got {type(obj).__name__}")
    raw_id = obj.get("id")
    request_id: str | int | None = None
    if isinstance(raw_id, str) and 0 < len(raw_id) <= MAX_ID_LENGTH:
        request_id = raw_id
    elif isinstance(raw_id, int) and not isinstance(raw_id, bool) and not _out_of_range(raw_id):
        request_id = raw_id
    if request_id is None:
        if "id" not in obj:
            raise RequestError("missing field 'id' (a string naming the request)")
        raise RequestError(
            f"field 'id' must be a non-empty string of at most {MAX_ID_LENGTH} characters or a 64-bit integer"
        )
    op = obj.get("op")
    if "op" not in obj:
        raise RequestError("missing field 'op'", request_id)
    if not isinstance(op, str):
        raise RequestError("field 'op' must be a string", request_id)
    if op not in ALL_OPS:
        shown = op if len(op) <= 64 else op[:64] + "…"
        raise RequestError(f"unknown op {shown!r}; known ops: {', '.join(sorted(ALL_OPS))}", request_id)
    data = obj.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RequestError("field 'data' must be a JSON object", request_id)
    # Every integer an op reads sits at the top of ``data``; one beyond 64 bits would overflow SQLite.
    for key, value in data.items():
        if _out_of_range(value):
            raise RequestError(f"field 'data.{str(key)[:64]}' is an integer beyond 64 bits", request_id)
    session = obj.get("session")
    if session is not None and not isinstance(session, str):
        raise RequestError("field 'session' must be a string", request_id)
    return Request(id=request_id, op=op, data=data, session=session)


def is_int(value: Any) -> bool:
    """A JSON integer (``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)
