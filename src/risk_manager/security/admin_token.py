"""The admin channel token: proof that a local-API client runs with OS administrator rights.

At each start the daemon writes a fresh random token to ``<data_dir>/admin.token``, readable only by
the daemon's OS user and OS administrators. An ``auth`` request must carry it (``adminToken``);
without a matching token the daemon refuses at once, without checking the password or counting a
failure, so an unprivileged local process can neither guess passwords nor lock the admin out.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from risk_manager.platform.fileperms import write_atomic

TOKEN_FILE = "admin.token"


class AdminTokenUnreadable(Exception):
    """The token file is missing or this process may not read it."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(
            "the daemon's admin token is not readable: run the console as an administrator "
            f"(or the daemon is not running) [{path}: {why}]"
        )
        self.path = path
        self.why = why


def token_path(data_dir: Path) -> Path:
    return data_dir / TOKEN_FILE


def create_admin_token(data_dir: Path) -> str:
    """Write a fresh token (owner-only) and return it; called once per daemon start."""
    token = secrets.token_urlsafe(32)
    data_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(token_path(data_dir), (token + "\n").encode("ascii"), private=True)
    return token


def read_admin_token(data_dir: Path) -> str:
    path = token_path(data_dir)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise AdminTokenUnreadable(path, "file not found") from None
    except PermissionError:
        raise AdminTokenUnreadable(path, "permission denied") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AdminTokenUnreadable(path, type(exc).__name__) from None
    if not text:
        raise AdminTokenUnreadable(path, "file is empty")
    return text


def token_matches(expected: str, given: object) -> bool:
    """Constant-time comparison; anything but a non-empty string is a mismatch."""
    return isinstance(given, str) and bool(given) and hmac.compare_digest(expected.encode(), given.encode())
