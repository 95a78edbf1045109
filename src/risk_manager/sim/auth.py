"""Session tokens: HS256 JWTs signed with a key that is constant across runs (spec/gateway.md §6.2).

A constant key lets a restarted simulator accept tokens issued before the restart, as clients
reconnect with their old token. This key protects nothing real: the simulator serves loopback only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

_KEY = b"risk-manager-simulator/constant-signing-key/v1"
_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(signing_input: str) -> str:
    return _b64(hmac.new(_KEY, signing_input.encode("ascii"), hashlib.sha256).digest())


@dataclass(frozen=True, slots=True)
class TokenInfo:
    user: str
    jti: str
    iat: int
    exp: int


class TokenService:
    def __init__(self) -> None:
        self._issued: dict[str, set[str]] = {}  # user -> jtis issued by this process
        self._revoked: set[str] = set()
        self._cutoff: dict[str, int] = {}  # user -> tokens with iat below this are expired by a fault

    def issue(self, user: str, ttl_s: float) -> str:
        now = int(time.time())
        jti = secrets.token_hex(8)
        claims = {"sub": user, "iat": now, "exp": now + max(1, int(ttl_s)), "jti": jti}
        head = _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        self._issued.setdefault(user, set()).add(jti)
        return f"{head}.{body}.{_sign(head + '.' + body)}"

    @staticmethod
    def decode(token: str) -> TokenInfo | None:
        """Signature and shape only; None if the token is not one of ours."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            if not hmac.compare_digest(_sign(parts[0] + "." + parts[1]), parts[2]):
                return None
            claims: Any = json.loads(_unb64(parts[1]))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(claims, dict):
            return None
        sub, jti, iat, exp = claims.get("sub"), claims.get("jti"), claims.get("iat"), claims.get("exp")
        if not isinstance(sub, str) or not isinstance(jti, str) or not isinstance(exp, int):
            return None
        return TokenInfo(sub, jti, iat if isinstance(iat, int) else 0, exp)

    def verify(self, token: str | None, user_exists: Any) -> TokenInfo | None:
        """The token's identity if valid now: signed, unexpired, known user, not revoked."""
        if not token:
            return None
        info = self.decode(token)
        if info is None or info.exp <= time.time() or not user_exists(info.user):
            return None
        if not self.still_valid(info):
            return None
        return info

    def still_valid(self, info: TokenInfo) -> bool:
        if info.exp <= time.time() or info.jti in self._revoked:
            return False
        return info.iat >= self.cutoff_for(info.user)

    def revoke(self, info: TokenInfo) -> None:
        self._revoked.add(info.jti)

    def expire_user(self, user: str | None) -> None:
        """Fault ``expire_tokens``: every token issued so far (to ``user``, or to everyone) dies."""
        now = int(time.time())
        users = [user] if user else list(self._issued)
        for name in users:
            self._revoked.update(self._issued.get(name, ()))
            self._cutoff[name] = now  # also tokens from before a restart (iat < now)
        if not user:
            self._cutoff["*"] = now

    def cutoff_for(self, user: str) -> int:
        return max(self._cutoff.get(user, -1), self._cutoff.get("*", -1))
