"""Keep the hub token out of third-party log lines.

The negotiate request and the WebSocket upgrade carry the JWT as ``access_token`` query parameter
(spec/gateway.md §4.2), and HTTP and WebSocket libraries may log request URLs. A filter on their
loggers rewrites such records before any handler sees them, whatever logging setup the process has
(the daemon also redacts in its handlers).
"""

from __future__ import annotations

import logging
import re

_ACCESS_TOKEN = re.compile(r"(?i)(access_token=)[^&\s\"']+")


class _RedactAccessToken(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:
            return True
        if "access_token=" in text.lower():
            record.msg = _ACCESS_TOKEN.sub(r"\1***", text)
            record.args = ()
        return True


_FILTER = _RedactAccessToken()


def install() -> None:
    """Idempotent: attach the filter to the loggers that may print hub URLs."""
    for name in ("aiohttp.client", "aiohttp.access", "httpx", "httpcore", "websockets", "websockets.client"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
