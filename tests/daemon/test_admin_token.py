"""The daemon's admin token (issue 8 §5): written at every start, the gate of ``auth``, removed at a
clean stop. A real simulator process, the real daemon in this event loop."""

from __future__ import annotations

import sys
from typing import Any

from tests.e2e.harness import ApiClient


async def test_admin_token_is_written_at_start_and_removed_at_clean_stop(start_daemon: Any) -> None:
    run = await start_daemon({3001: {}})
    path = run.daemon.options.data_dir / "admin.token"
    token = path.read_text(encoding="ascii").strip()
    assert len(token) >= 43
    if sys.platform != "win32":
        assert path.stat().st_mode & 0o777 == 0o600
    async with ApiClient(run.api_url) as api:
        without = await api.request("auth", {"password": "anything at all"})
        assert without["error"]["code"] == "unauthorized" and str(path) in without["error"]["message"]
        # With the token the password itself is looked at: none is set in this config directory.
        with_token = await api.request("auth", {"password": "anything at all", "adminToken": token})
        assert with_token["error"]["code"] == "auth_failed"
        assert "No admin password is set" in with_token["error"]["message"]
    assert await run.stop() == 0
    assert not path.exists()
