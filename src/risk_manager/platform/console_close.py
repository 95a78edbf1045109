"""A console window closed under a running daemon (Windows): shut down gracefully, not abruptly.

Closing the console window, logging off or shutting down sends a console control event; Python's
default is to let Windows end the process at once. The handler here asks the daemon to stop and
waits (within the ~5 s Windows grants) until it has, so lockouts and records are written and the
clean-shutdown marker is set. Nothing to do on other platforms (SIGHUP and SIGTERM are signals there).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

CLOSE_WAIT_S = 4.5  # Windows ends the process about 5 s after a close event; stop within that


def on_console_close(request_stop: Callable[[], None], stopped: threading.Event) -> bool:
    """Install the handler; True when one was installed (Windows with pywin32)."""
    if sys.platform != "win32":
        return False
    try:  # pragma: no cover - Windows
        import win32api
        import win32con
    except ImportError:  # pragma: no cover - Windows without pywin32
        return False
    events = {win32con.CTRL_CLOSE_EVENT, win32con.CTRL_LOGOFF_EVENT, win32con.CTRL_SHUTDOWN_EVENT}

    def handler(event: int) -> bool:  # pragma: no cover - Windows
        if event not in events:
            return False  # Ctrl+C / Ctrl+Break: the signal handlers take them
        request_stop()
        stopped.wait(CLOSE_WAIT_S)
        return True

    win32api.SetConsoleCtrlHandler(handler, True)  # pragma: no cover - Windows
    return True  # pragma: no cover - Windows
