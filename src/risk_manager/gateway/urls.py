"""Gateway URLs: the TopstepX defaults (spec/gateway.md §1.1) and the http→ws rewrite for hubs."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TOPSTEPX_API_URL = "https://api.topstepx.com"
TOPSTEPX_USER_HUB_URL = "https://rtc.topstepx.com/hubs/user"
TOPSTEPX_MARKET_HUB_URL = "https://rtc.topstepx.com/hubs/market"

_WS = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
_HTTP = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def _with_scheme(url: str, table: dict[str, str]) -> str:
    parts = urlsplit(url)
    scheme = table.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError(f"unsupported URL scheme in {url!r}")
    return urlunsplit((scheme, *parts[1:]))


def to_ws(url: str) -> str:
    """``http(s)://`` → ``ws(s)://``; ``ws(s)://`` unchanged."""
    return _with_scheme(url, _WS)


def to_http(url: str) -> str:
    """``ws(s)://`` → ``http(s)://`` (for negotiate); ``http(s)://`` unchanged."""
    return _with_scheme(url, _HTTP)


def with_query(url: str, **params: str) -> str:
    """Add (or replace) query parameters, keeping the ones already in ``url``."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def append_path(url: str, suffix: str) -> str:
    """``<hub>`` + ``/negotiate`` with the query kept after the path."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + suffix, parts.query, ""))


def redact_url(url: str) -> str:
    """The URL without its query (which may carry ``access_token``), for logs and messages."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
