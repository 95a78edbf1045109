"""What the live gateway's public REST API refuses or answers differently from the control API.

The control API (``/sim/...``) stays convenient on purpose: enum names, bracket ticks of either
sign, error messages. The public ``/api/...`` behaves like the live gateway, so that a regression in
a client (ours or a published one) cannot hide behind a lenient simulator. Sources for every rule
are listed in docs/simulator.md ("Real-gateway behaviours modelled").
"""

from __future__ import annotations

import time
from typing import Any

from risk_manager.sim.auth import TokenService
from risk_manager.sim.records import OrderRequest
from risk_manager.sim.wire import BUY

# Auth/validate error codes (topstep-sdk's VALIDATE_ERRORS; Auth/logout: 1 InvalidSession)
INVALID_SESSION, SESSION_NOT_FOUND, EXPIRED_TOKEN = 1, 2, 3
# endpoints whose successful answer may be a bare JSON array (setting ``bare_list_responses``)
BARE_LIST_PATHS = {"/api/Position/searchOpen": "positions", "/api/Trade/search": "trades"}


def bracket_problem(req: OrderRequest) -> str | None:
    """Bracket ticks are a signed offset from the entry: a long's stop-loss below (negative) and its
    take-profit above (positive), a short's the other way round; the live gateway rejects the wrong
    sign (topstep-sdk AGENTS.md, verified live)."""
    up = 1 if req.side == BUY else -1
    for name, bracket, sign in (
        ("stopLossBracket", req.sl_bracket, -up),
        ("takeProfitBracket", req.tp_bracket, up),
    ):
        if bracket is None:
            continue
        ticks = int(bracket.get("ticks", 0))
        if ticks * sign <= 0:
            side = "buy" if req.side == BUY else "sell"
            want = "positive" if sign > 0 else "negative"
            return f"{name}.ticks {ticks}: a {side} entry needs {want} ticks"
    return None


def token_failure(path: str, token: str | None) -> dict[str, Any]:
    """``Auth/validate`` or ``Auth/logout`` with a token that is not valid: HTTP 200 with an error
    code (not 401), ``newToken`` null, ``errorMessage`` null. Validate tells an expired token (3)
    from one the server no longer knows (2: logged out, expired by a fault, unknown user) and from
    one that is not a token at all (1)."""
    code = INVALID_SESSION
    info = TokenService.decode(token) if token else None
    if path.endswith("/validate") and info is not None:
        code = EXPIRED_TOKEN if info.exp <= time.time() else SESSION_NOT_FOUND
    body: dict[str, Any] = {"newToken": None} if path.endswith("/validate") else {}
    return {**body, "success": False, "errorCode": code, "errorMessage": None}


def null_payload(body: dict[str, Any]) -> dict[str, Any]:
    """A failed answer carries its payload arrays as null, not [] (topstep-sdk's Envelope)."""
    return {k: (None if isinstance(v, list) else v) for k, v in body.items()}
