"""Where a dashboard finds the daemon's local API without reading the configuration.

The port is set in ``daemon.yaml``, which lives in the service's configuration directory: on an
installed service only administrators and the service account may read it, so the trader's standard
account could not learn a port other than the default. The daemon therefore writes the address it
actually listens on to ``<data dir>/api.url`` at every start (readable by everyone, like ``risk.db``:
the file modes are the daemon's usual ones), and ``risk-manager trader`` reads it from beside the
database it uses. The address is not a secret: every local process can connect to the port anyway.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

API_URL_FILE = "api.url"
_URL = re.compile(r"^wss?://[\w.\-\[\]:]+:\d{1,5}/?$")

log = logging.getLogger(__name__)


def publish(data_dir: Path, url: str) -> None:
    """Best effort: a dashboard falls back to ``daemon.yaml`` or the default port without it."""
    try:
        (data_dir / API_URL_FILE).write_text(url + "\n", encoding="utf-8")
    except OSError as exc:
        log.warning("could not write %s: %s", data_dir / API_URL_FILE, exc)


def published(data_dir: Path) -> str | None:
    """The address the daemon of ``data_dir`` last announced, or None (absent, unreadable, garbled)."""
    try:
        text = (data_dir / API_URL_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if _URL.match(text) else None
