"""Terminal and OS-identity helpers for the admin console, one portable function each.

Windows needs its console host switched to VT processing before ANSI styles work; "OS administrator"
means an elevated token there and root on POSIX; waiting for a key press with a timeout (the idle
timeout) needs ``select`` on POSIX and ``msvcrt`` on Windows. Everything platform-specific is here so
the console itself stays portable.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import TextIO

_ENABLE_VIRTUAL_TERMINAL_PROCESSING = 0x0004


def enable_vt_mode() -> bool:
    """Turn on ANSI escape processing in the classic Windows console host; True when it is on.

    A no-op (True) elsewhere. Windows Terminal already has it on; conhost needs the flag.
    """
    if sys.platform != "win32":
        return True
    import ctypes

    kernel32 = ctypes.windll.kernel32
    handle = kernel32.GetStdHandle(-11)  # STD_OUTPUT_HANDLE
    mode = ctypes.c_uint32()
    if not kernel32.GetConsoleMode(handle, ctypes.byref(mode)):
        return False  # not a console (redirected): plain output anyway
    if mode.value & _ENABLE_VIRTUAL_TERMINAL_PROCESSING:
        return True
    return bool(kernel32.SetConsoleMode(handle, mode.value | _ENABLE_VIRTUAL_TERMINAL_PROCESSING))


def is_os_admin() -> bool:
    """Windows: the process runs elevated (member of Administrators with a full token). POSIX: root."""
    if sys.platform == "win32":
        import ctypes

        try:
            return bool(ctypes.windll.shell32.IsUserAnAdmin())
        except (AttributeError, OSError):
            return False
    return hasattr(os, "geteuid") and os.geteuid() == 0


def os_user() -> str:
    """The OS user for audit entries: ``DOMAIN\\user`` on Windows, the login name elsewhere."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        name = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    if sys.platform == "win32":
        domain = os.environ.get("USERDOMAIN")
        if domain:
            return f"{domain}\\{name}"
    return name


def host_name() -> str:
    try:
        return socket.gethostname()
    except OSError:
        return "unknown"


def can_write_dir(directory: Path) -> bool:
    """Whether this process may create files in ``directory`` (the rights gate's deciding check).

    A real probe file, not ``os.access``: on Windows ACLs and UAC make ``os.access`` answer yes for
    directories an unelevated process cannot write.
    """
    probe = directory / f".rm-write-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        probe.unlink()
    return True


def wait_for_input(stream: TextIO, timeout: float | None) -> bool:
    """Wait until a line (POSIX) or a key (Windows) is available on ``stream``; False after ``timeout``.

    ``None`` waits forever. Streams without a file descriptor (tests, pipes on Windows) return True at
    once: reading them simply blocks.
    """
    if timeout is None:
        return True
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return True
    if sys.platform == "win32":
        if not os.isatty(fd):
            return True
        import msvcrt

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if msvcrt.kbhit():
                return True
            time.sleep(0.05)
        return False
    import select

    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    except (OSError, ValueError):
        return True
    return bool(ready)
