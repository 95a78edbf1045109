"""What the local API server needs from the daemon: the ``ApiProvider`` protocol. Kept apart so the
server, the admin desk and the daemon's implementation (``provider.py``) share it without importing
each other."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Protocol


class ApiProvider(Protocol):
    """What the server needs from the daemon. Sync methods must be cheap (they run on the loop)."""

    def snapshot(self, account_id: int | None) -> dict[str, Any]:
        """The ``data`` object of a snapshot (§9.2) for all accounts or one (LocalApiError not_found)."""
        ...

    def status(self) -> dict[str, Any]: ...

    def health(self) -> dict[str, Any]:
        """What monitoring polls (``risk-manager status --json``): protection per account with the age of
        its last broker event, storage, version, uptime. From memory only; cheap."""
        ...

    def heartbeat(self) -> dict[str, Any]:
        """``{uptimeS, eventsPerS, protected, notProtected}``; the server adds ``clients``."""
        ...

    async def history(self, op: str, data: dict[str, Any]) -> dict[str, Any]:
        """``{"items": [...], "more": bool}``; raise LocalApiError for bad filters."""
        ...

    async def reload_config(self, actor: dict[str, Any]) -> dict[str, Any]:
        """``{applied, changes, restartRequired}``; raise ConfigInvalidError when invalid."""
        ...

    async def unlock(self, data: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]: ...

    async def audit(
        self,
        action: str,
        outcome: str,
        actor: dict[str, Any],
        target: str | None = None,
        reason: str | None = None,
    ) -> None: ...

    def admin_hash_path(self) -> Path: ...

    async def load_auth_failures(self) -> tuple[int, datetime | None]: ...

    async def save_auth_failures(self, failures: int, locked_until: datetime | None) -> None: ...
