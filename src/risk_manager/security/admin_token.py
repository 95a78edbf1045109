"""The admin token: proof, on the local API, that the caller can read a file only OS administrators read.

Any local process can open the local API, so a password alone let any of them spend the admin's
failure budget: ten wrong guesses locked the real administrator out for up to 24 h. The daemon
therefore writes a fresh random token at every start to ``<data_dir>/admin.token`` (POSIX mode 0600,
owned by the daemon's account; on Windows an ACL that admits SYSTEM, Administrators and the daemon's
account only) and an ``auth`` request must carry it: without it the daemon refuses before looking at
the password (``docs/local-api.md``, "Admin channel"). The file is removed at a clean shutdown; a
crash leaves it behind, and the next start replaces it.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from risk_manager.platform.permissions import restrict_to_owner

log = logging.getLogger("risk_manager.daemon.api.server")  # the daemon writes it; its log says so

TOKEN_FILE = "admin.token"
TOKEN_BYTES = 32


class AdminTokenError(RuntimeError):
    """The token file cannot be read (clients) or written (the daemon); the message says which."""


def token_path(data_dir: Path) -> Path:
    return data_dir / TOKEN_FILE


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def write_token(path: Path, token: str) -> None:
    """Write ``token`` atomically: a private temporary file beside ``path``, restricted before the
    secret is written into it, then renamed over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        restrict_to_owner(tmp)
        os.write(fd, (token + "\n").encode("ascii"))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def issue_token(path: Path) -> str | None:
    """A fresh token written to ``path`` (the daemon, at every start); None when it cannot be
    written: enforcement goes on without it, only admin login is impossible until a restart."""
    token = new_token()
    try:
        write_token(path, token)
    except OSError as exc:
        log.error("cannot write the admin token %s: %s; admin login is disabled", path, exc)
        return None
    return token


def read_token(path: Path) -> str:
    """The token for an ``auth`` request (the admin console reads it); a clear error when it cannot."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise AdminTokenError(
            f"The daemon's admin token {path} does not exist: is the daemon running with this data "
            "directory?"
        ) from None
    except PermissionError:
        raise AdminTokenError(
            f"Cannot read the daemon's admin token {path}: only OS administrators can. "
            'Windows: start the terminal with "Run as administrator". Linux: use sudo.'
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AdminTokenError(f"Cannot read the daemon's admin token {path}: {exc}") from None
    if not text:
        raise AdminTokenError(f"The daemon's admin token {path} is empty")
    return text


class AdminTokenUnreadable(AdminTokenError):
    """A client cannot read the token (missing, or not an administrator): ``path`` and ``why``."""

    def __init__(self, path: Path, why: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.why = why


def read_admin_token(data_dir: Path) -> str:
    """The token of the daemon using ``data_dir`` (the admin console); ``AdminTokenUnreadable``
    with what to do when it cannot be read."""
    path = token_path(data_dir)
    try:
        return read_token(path)
    except AdminTokenError as exc:
        cause = exc.__context__
        why = (
            "file not found"
            if isinstance(cause, FileNotFoundError)
            else "permission denied"
            if isinstance(cause, PermissionError)
            else "file is empty"
            if cause is None
            else type(cause).__name__
        )
        raise AdminTokenUnreadable(
            path,
            why,
            "the daemon's admin token is not readable: run the console as an administrator "
            f"(or the daemon is not running) [{path}: {why}]",
        ) from None


def create_admin_token(data_dir: Path) -> str:
    """Write a fresh token for ``data_dir`` and return it (raises ``OSError`` when it cannot)."""
    token = new_token()
    write_token(token_path(data_dir), token)
    return token


def token_matches(expected: str, given: object) -> bool:
    """Constant-time comparison; anything but a non-empty string is a mismatch."""
    return isinstance(given, str) and bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def remove_token(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove the admin token %s: %s", path, exc)
