"""The first connection attempt: the dashboard says it is connecting, not that the daemon is offline,
until that attempt fails (trader-cli.md §4.4: offline is entered when the first connect fails).

Seen in the production run on a loaded machine: the first frames were drawn before the snapshot
arrived and claimed ``DAEMON OFFLINE — accounts NOT protected`` while the daemon protected every account.
A local listener that accepts the WebSocket handshake and then says nothing stands in for a slow daemon.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import websockets

from risk_manager.trader.app import TraderApp
from risk_manager.trader.notifier import RecordingNotifier
from risk_manager.trader.widgets.chrome import CONNECTING_BANNER, OFFLINE_BANNER

from .conftest import text_of, until


async def test_connecting_banner_until_the_first_attempt_fails_then_offline(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def silent(ws: websockets.ServerConnection) -> None:
        await release.wait()  # a daemon that accepted us but has not answered yet

    async with websockets.serve(silent, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        app = TraderApp(
            f"ws://127.0.0.1:{port}",
            db_path=tmp_path / "absent.db",
            notifier=RecordingNotifier(),
            link_options={"silence_s": 1.5},
        )
        async with app.run_test(size=(110, 30)) as pilot:
            await until(pilot, lambda: app.link.client is not None, 5, "the first attempt under way")
            await until(pilot, lambda: CONNECTING_BANNER in text_of(app, "#banners"), 5, "the connecting banner")
            assert "OFFLINE" not in text_of(app, "#banners")
            assert "CONNECTING" in text_of(app, "#header")
            # The daemon stays silent past the dashboard's patience: now it is offline, and says so.
            await until(pilot, lambda: OFFLINE_BANNER in text_of(app, "#banners"), 10, "the offline banner")
            assert CONNECTING_BANNER not in text_of(app, "#banners")
            await until(pilot, lambda: "reconnecting in" in text_of(app, "#header"), 5, "the countdown")
            # Later attempts keep the offline banner (offline was entered; it is not a first attempt).
            app.link.retry_now()
            await until(pilot, lambda: app.link.state == "connecting", 5, "the next attempt")
            assert OFFLINE_BANNER in text_of(app, "#banners")
            release.set()
