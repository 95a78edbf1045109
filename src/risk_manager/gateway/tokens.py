"""Session token bookkeeping: read ``exp`` from the JWT (no signature check) and decide when to refresh.

The client never verifies the token (it has no key); it only needs to know when it runs out so it
can call ``Auth/validate`` well before (spec/gateway.md §1.2). The token text itself lives only inside
:class:`SessionToken` and is never part of its repr.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field

DEFAULT_LIFETIME_S = 24 * 3600


def jwt_exp(token: str) -> float | None:
    """The ``exp`` claim (Unix seconds) of a JWT, or None if it cannot be read."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    segment = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


@dataclass(slots=True)
class SessionToken:
    """A bearer token and the wall-clock time it expires (``exp``, or issue time + 24 h)."""

    value: str = field(repr=False)
    expires_at: float
    obtained_at: float

    @classmethod
    def from_value(cls, value: str, now: float | None = None) -> SessionToken:
        now = time.time() if now is None else now
        exp = jwt_exp(value)
        return cls(value, exp if exp is not None else now + DEFAULT_LIFETIME_S, now)

    def remaining(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)

    def needs_refresh(self, margin_s: float, now: float | None = None) -> bool:
        """True when less than ``margin_s`` remains. The margin is capped at half the token's life
        so that a short-lived token (simulator ``token_ttl_s``) is not refreshed on every call."""
        life = max(0.0, self.expires_at - self.obtained_at)
        return self.remaining(now) < min(margin_s, life / 2)

    def __str__(self) -> str:
        return f"SessionToken(expires_at={self.expires_at:.0f})"
