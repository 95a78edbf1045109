"""Notification URLs (``daemon.yaml`` › ``notifications``): checking them, and never showing their secrets.

An Apprise URL carries its credentials inside it (``discord://{id}/{token}``, ``tgram://{bot token}/…``,
``mailto://user:password@host``) and so may the webhook URL (``…/hook?token=…``). Everything that shows
a URL - validation errors, ``config check``, the reload change list, logs - goes through ``mask_url``,
which keeps only what identifies the service (scheme, a real host name, a port); the log redaction
learns the secret pieces from ``url_secrets``.

Apprise itself logs raw URLs in some of its errors ("Unparseable URL …"). Its logger is therefore cut
off from the application's handlers: what it says while it checks or sends for us is captured per
thread (``apprise_log``), redacted, and reported in our own words.
"""

from __future__ import annotations

import difflib
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote

from risk_manager.config.fields import check_url, fail

AlertSubject = Literal[
    "not_protected",
    "sign_in_rejected",
    "enforcement_failed",
    "lockout_set",
    "repeated_failures",
    "database_replaced",
    "storage_degraded",
    "limit_warning",
]
#: every alert subject (spec/daemon.md §7.4 plus the 80 % warnings), the ``subjects`` filter's choices
ALERT_SUBJECTS: tuple[str, ...] = AlertSubject.__args__  # type: ignore[attr-defined]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)
_HOST_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
MIN_PIECE = 6  # path segments and query values shorter than this are not treated as secrets


def _split(url: str) -> tuple[str, str, str, str] | None:
    """``(scheme, userinfo-or-empty, host[:port], rest)`` without any parsing that could fail."""
    match = _SCHEME.match(url.strip())
    if match is None:
        return None
    scheme, rest = match.group(1).lower(), match.group(2)
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    userinfo, _, hostport = netloc.rpartition("@")
    return scheme, userinfo, hostport, tail


def _host_port(hostport: str) -> tuple[str, str | None]:
    if hostport.startswith("["):  # IPv6 literal
        host, _, after = hostport.partition("]")
        port = after[1:] if after.startswith(":") else None
        return host + "]", port
    host, colon, port = hostport.partition(":")
    return host, (port if colon else None)


def _is_host_name(host: str) -> bool:
    """A real network host (shown) rather than a token sitting where a host goes (hidden)."""
    if host.lower() == "localhost" or host.startswith("[") or _IPV4.match(host):
        return True
    labels = host.split(".")
    return len(labels) >= 2 and all(_HOST_LABEL.match(label) for label in labels) and labels[-1].isalpha()


def mask_url(url: str) -> str:
    """What may be shown of a notification URL: ``json://127.0.0.1:8080/***``, ``discord://***/***``,
    ``mailto://***@gmail.com``. A value that is not a URL at all is shown as ``***``."""
    parts = _split(url)
    if parts is None:
        return "***"
    scheme, userinfo, hostport, tail = parts
    host, port = _host_port(hostport)
    shown = f"{scheme}://"
    if userinfo:
        shown += "***@"
    if _is_host_name(host):
        shown += host + (f":{port}" if port and port.isdigit() else "")
    elif hostport:
        shown += "***"
    if tail.strip("/"):
        shown += "/***"
    return shown


def _secretish(piece: str) -> bool:
    """A path segment or query value that looks like a token (not a word such as ``services``)."""
    if len(piece) < MIN_PIECE:
        return False
    has_digit = any(c.isdigit() for c in piece)
    mixed = any(c.isupper() for c in piece) and any(c.islower() for c in piece)
    return has_digit or mixed or len(piece) >= 16


def url_secrets(url: str) -> list[str]:
    """The pieces of ``url`` that must not reach a log line (for the log redaction)."""
    parts = _split(url)
    if parts is None:
        return [url.strip()] if url.strip() else []
    _, userinfo, hostport, tail = parts
    found = {url.strip()}
    user, colon, password = userinfo.partition(":")
    if colon and len(password) >= 4:
        found.add(password)
    if len(user) >= 8:
        found.add(user)
    host, _ = _host_port(hostport)
    if not _is_host_name(host):
        found.update(p for p in hostport.split(":") if len(p) >= 4)
    path, _, query = tail.partition("?")
    found.update(seg for seg in re.split(r"[/#]", path) if _secretish(seg))
    for _, value in parse_qsl(query.partition("#")[0]):
        if _secretish(value):
            found.add(value)
    found.update({unquote(p) for p in found})
    return sorted(found, key=len, reverse=True)


def redact(text: str, url: str) -> str:
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text


# ----- Apprise's own log -----------------------------------------------------------------------------
class _Capture(logging.Handler):
    """The only handler of the ``apprise`` logger: keeps the records of a capturing context.

    A context variable rather than a thread-local: Apprise 2 runs a send in its own thread pool, and
    hands the caller's context to that thread (``contextvars.copy_context``), so the capture follows.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)

    def emit(self, record: logging.LogRecord) -> None:
        lines = _lines.get()
        if lines is not None and record.levelno >= logging.WARNING:
            try:
                lines.append(record.getMessage())
            except Exception:  # a record that cannot format is simply not kept
                pass


_lines: ContextVar[list[str] | None] = ContextVar("apprise_log_lines", default=None)
_capture = _Capture()
_install_lock = threading.Lock()


def _install() -> None:
    with _install_lock:
        logger = logging.getLogger("apprise")
        if _capture not in logger.handlers:
            logger.addHandler(_capture)
            logger.propagate = False  # raw URLs in its messages must not reach our handlers
            logger.setLevel(logging.WARNING)


@contextmanager
def apprise_log() -> Iterator[list[str]]:
    """Collect what Apprise warns about in this context (raw: ``redact`` it before showing it)."""
    _install()
    lines: list[str] = []
    token = _lines.set(lines)
    try:
        yield lines
    finally:
        _lines.reset(token)


@lru_cache(maxsize=1)
def apprise_schemes() -> frozenset[str]:
    """Every scheme the installed Apprise can send to (read once per process: ~50 ms)."""
    import apprise

    _install()
    found: set[str] = set()
    for service in apprise.Apprise().details().get("schemas", []):
        for key in ("protocols", "secure_protocols"):
            value: Any = service.get(key) or ()
            found.update(str(v).lower() for v in ([value] if isinstance(value, str) else value))
    return frozenset(found)


def check_apprise_url(value: str) -> str:
    """A URL Apprise can send to, or an error that says why without showing the URL's secrets."""
    import apprise

    text = value.strip()
    parts = _split(text)
    if parts is None:
        raise fail(
            "expected an Apprise URL such as discord://WEBHOOK_ID/TOKEN, ntfy://TOPIC or "
            "json://HOST/PATH (the value given is not a URL; it is not shown in case it is a secret)"
        )
    scheme = parts[0]
    native = scheme in ("http", "https")  # Apprise recognises some services' own web addresses
    schemes = apprise_schemes()
    if not native and scheme not in schemes:
        close = difflib.get_close_matches(scheme, sorted(schemes), n=1)
        hint = f"; did you mean {close[0]}://?" if close else ""
        raise fail(
            f"unknown Apprise service {scheme}:// (see https://github.com/caronc/apprise/wiki for the "
            f"services and their URL forms){hint}"
        )
    with apprise_log() as said:
        plugin = apprise.Apprise.instantiate(text)
    if plugin is None and native:
        raise fail(
            f"Apprise does not know this {scheme}:// address ({mask_url(text)}) as a service: write the "
            "service's Apprise URL (discord://…, slack://…), json://HOST/PATH for a plain JSON POST, or use "
            "notifications.webhook_url for this program's own JSON webhook"
        )
    if plugin is None:
        reasons = list(dict.fromkeys(redact(line, text).rstrip(". ") for line in said))
        reason = "; ".join(reasons) if reasons else "a required part is missing or malformed"
        raise fail(f"Apprise cannot use this {scheme}:// URL ({mask_url(text)}): {reason}")
    return text


def check_webhook_url(value: str) -> str:
    """``webhook_url``: http(s) with a host; the error shows the URL masked (it may hold a token)."""
    try:
        return check_url(value, ("http", "https"))
    except Exception:
        raise fail(f"expected a URL starting with http:// or https://, got {mask_url(value)}") from None
