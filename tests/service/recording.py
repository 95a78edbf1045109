"""Recording implementations of the Windows seams (SCM, ACLs, Event Log, service status), so the
Windows logic runs on Linux (the one place a test double stands in: the real SCM is not here; the
Windows CI job runs the real ones, tests/service/test_windows_real.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from risk_manager.service import win32_constants as W
from risk_manager.service.events import ServiceEvent
from risk_manager.service.windows_scm import ScmError


@dataclass
class FakeService:
    name: str
    display: str
    start_type: int
    command_line: str
    config2: dict[int, Any] = field(default_factory=dict)
    sddl: str | None = None
    state: int = W.SERVICE_STOPPED
    pid: int = 0
    win32_exit_code: int = 0
    service_exit_code: int = 0


class RecordingScm:
    """An in-memory SCM. ``on_start(service)`` / ``on_stop(service)`` play the service process."""

    def __init__(self) -> None:
        self.services: dict[str, FakeService] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.event_sources: set[str] = set()
        self.on_start: Callable[[FakeService], None] | None = None
        self.on_stop: Callable[[FakeService], None] | None = None
        self.lock = threading.Lock()

    def _get(self, name: str) -> FakeService:
        try:
            return self.services[name]
        except KeyError:
            raise ScmError(W.ERROR_SERVICE_DOES_NOT_EXIST, "OpenService: The specified service does not exist") from None

    def open_service(self, name: str, access: int) -> Any:
        self.calls.append(("open_service", name, access))
        self._get(name)
        return name

    def create_service(self, name: str, display: str, start_type: int, command_line: str) -> Any:
        self.calls.append(("create_service", name, display, start_type, command_line))
        if name in self.services:
            raise ScmError(W.ERROR_SERVICE_EXISTS, "CreateService: The specified service already exists")
        self.services[name] = FakeService(name, display, start_type, command_line)
        return name

    def change_config(self, handle: Any, start_type: int, command_line: str, display: str) -> None:
        self.calls.append(("change_config", handle, start_type, command_line, display))
        svc = self._get(handle)
        svc.start_type, svc.command_line, svc.display = start_type, command_line, display

    def change_config2(self, handle: Any, level: int, value: Any) -> None:
        self.calls.append(("change_config2", handle, level, value))
        self._get(handle).config2[level] = value

    def set_security(self, handle: Any, sddl: str) -> None:
        self.calls.append(("set_security", handle, sddl))
        self._get(handle).sddl = sddl

    def query_status(self, handle: Any) -> dict[str, int]:
        svc = self._get(handle)
        with self.lock:
            return {"CurrentState": svc.state, "ProcessId": svc.pid}

    def query_config(self, handle: Any) -> tuple[int, str]:
        svc = self._get(handle)
        return svc.start_type, svc.command_line

    def query_config2(self, handle: Any, level: int) -> Any:
        return self._get(handle).config2.get(level)

    def start(self, handle: Any) -> None:
        self.calls.append(("start", handle))
        svc = self._get(handle)
        if svc.state != W.SERVICE_STOPPED:
            raise ScmError(W.ERROR_SERVICE_ALREADY_RUNNING, "StartService: An instance of the service is already running")
        with self.lock:
            svc.state, svc.pid = W.SERVICE_START_PENDING, 4242
        if self.on_start is not None:
            self.on_start(svc)
        else:
            svc.state = W.SERVICE_RUNNING

    def control(self, handle: Any, code: int) -> None:
        self.calls.append(("control", handle, code))
        svc = self._get(handle)
        if svc.state == W.SERVICE_STOPPED:
            raise ScmError(W.ERROR_SERVICE_NOT_ACTIVE, "ControlService: The service has not been started")
        if self.on_stop is not None:
            self.on_stop(svc)
        else:
            svc.state, svc.pid = W.SERVICE_STOPPED, 0

    def delete(self, handle: Any) -> None:
        self.calls.append(("delete", handle))
        del self.services[handle]

    def close(self, handle: Any) -> None:
        pass

    def add_event_source(self, name: str) -> None:
        self.calls.append(("add_event_source", name))
        self.event_sources.add(name)

    def remove_event_source(self, name: str) -> None:
        self.calls.append(("remove_event_source", name))
        self.event_sources.discard(name)

    def config2_calls(self) -> dict[int, Any]:
        return {c[2]: c[3] for c in self.calls if c[0] == "change_config2"}


class RecordingAcl:
    def __init__(self, elevated: bool = True) -> None:
        self.elevated = elevated
        self.applied: dict[Path, str] = {}

    def is_elevated(self) -> bool:
        return self.elevated

    def apply_sddl(self, path: Path, sddl: str) -> None:
        self.applied[path] = sddl

    def file_aces(self, path: Path) -> list[tuple[str, int, bool]]:
        from risk_manager.service.windows_access import ADMINISTRATORS_SID, SYSTEM_SID, USERS_SID

        sddl = self.applied.get(path, "")
        aces = [(SYSTEM_SID, 0x1F01FF, True), (ADMINISTRATORS_SID, 0x1F01FF, True)]
        if "BU)" in sddl:
            aces.append((USERS_SID, 0x1200A9, True))
        if not sddl:  # never secured: like a fresh folder, Users may write
            aces.append((USERS_SID, 0x1301BF, True))
        return aces

    def secret_problem(self, path: Path) -> str | None:
        return None if path in self.applied else "is readable by BUILTIN\\Users"


class RecordingEventLog:
    def __init__(self) -> None:
        self.events: list[ServiceEvent] = []

    def write(self, event: ServiceEvent) -> None:
        self.events.append(event)

    @property
    def ids(self) -> list[int]:
        return [e.event_id for e in self.events]


class RecordingReporter:
    """``ServiceFramework.ReportServiceStatus``: records, numbers checkpoints like pywin32 does, and
    mirrors the state into a FakeService when given one."""

    def __init__(self, service: FakeService | None = None, lock: threading.Lock | None = None) -> None:
        self.reports: list[tuple[int, int, int, int, int]] = []  # state, checkpoint, hint, win32, svc
        self._checkpoint = 0
        self.service = service
        self.lock = lock or threading.Lock()
        self.changed = threading.Condition()

    def __call__(
        self, state: int, *, wait_hint_ms: int = 0, win32_exit_code: int = 0, service_exit_code: int = 0
    ) -> None:
        if state in (W.SERVICE_RUNNING, W.SERVICE_STOPPED):
            checkpoint = 0
        else:
            self._checkpoint += 1
            checkpoint = self._checkpoint
        with self.changed:
            self.reports.append((state, checkpoint, wait_hint_ms, win32_exit_code, service_exit_code))
            self.changed.notify_all()
        if self.service is not None:
            with self.lock:
                self.service.state = state
                self.service.win32_exit_code = win32_exit_code
                self.service.service_exit_code = service_exit_code
                if state == W.SERVICE_STOPPED:
                    self.service.pid = 0

    def states(self) -> list[int]:
        """The sequence of states with repeats collapsed."""
        out: list[int] = []
        for state, *_ in self.reports:
            if not out or out[-1] != state:
                out.append(state)
        return out
