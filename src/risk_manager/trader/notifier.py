"""The one seam for sounds and desktop notifications (trader-cli.md §8.2, §13).

``SystemNotifier`` rings the terminal bell through the app and sends desktop notifications with
desktop-notifier (Windows toast, the Linux notification service over D-Bus, macOS) when the platform
offers one; when it does not (no session bus over SSH, the library missing) nothing is sent and
``status`` says so. A failure of the notifier never reaches the dashboard. Tests inject
``RecordingNotifier`` and assert what would have been sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("risk_manager.trader.notifier")


class Notifier(Protocol):
    status: str

    def bell(self) -> None: ...

    def desktop(self, title: str, body: str) -> None: ...


class RecordingNotifier:
    """Records instead of ringing (tests)."""

    def __init__(self) -> None:
        self.status = "recording (tests)"
        self.sent: list[tuple[str, str, str]] = []  # ("bell"|"desktop", title, body)

    def bell(self) -> None:
        self.sent.append(("bell", "", ""))

    def desktop(self, title: str, body: str) -> None:
        self.sent.append(("desktop", title, body))

    def count(self, kind: str, contains: str = "") -> int:
        return sum(1 for k, title, body in self.sent if k == kind and contains in f"{title} {body}")


class SystemNotifier:
    """Terminal bell via ``ring`` (the app's bell); desktop notifications via desktop-notifier."""

    def __init__(self, ring: Callable[[], None], app_name: str = "Risk Manager") -> None:
        self._ring = ring
        self._app_name = app_name
        self._backend: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.status = "not checked yet"
        self.available: bool | None = None

    def bell(self) -> None:
        try:
            self._ring()
        except Exception:  # a bell must never take the dashboard down
            log.exception("terminal bell failed")

    def desktop(self, title: str, body: str) -> None:
        if self.available is False:
            return
        try:
            task = asyncio.get_running_loop().create_task(self._send(title, body))
        except RuntimeError:
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def probe(self) -> None:
        """Find out once whether the platform can show desktop notifications."""
        try:
            from desktop_notifier import DesktopNotifier
        except Exception as exc:
            self._unavailable(f"desktop-notifier not installed ({exc.__class__.__name__})")
            return
        try:
            self._backend = DesktopNotifier(app_name=self._app_name)
            caps = await asyncio.wait_for(self._backend.get_capabilities(), 3.0)
        except Exception as exc:
            self._unavailable(f"no notification service ({exc.__class__.__name__}: {exc})"[:160])
            return
        self.available = True
        self.status = "desktop notifications available" + ("" if caps else " (basic)")

    def _unavailable(self, why: str) -> None:
        self.available = False
        self._backend = None
        self.status = f"desktop notifications unavailable: {why}"

    async def _send(self, title: str, body: str) -> None:
        if self.available is None:
            await self.probe()
        if not self.available or self._backend is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._backend.send(title=title, message=body), 5.0)
