"""The Windows Service Control Manager as the service manager (daemon.md §10.1).

``WindowsServiceManager`` holds the logic (what to register, how to read the state back); the SCM
itself is reached through ``ScmApi``, a thin seam over pywin32 (``Pywin32Scm``). The Linux tests drive
the same logic through a recording ``ScmApi``; the Windows CI job runs it against the real SCM.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Protocol

from risk_manager.service import outcome as S
from risk_manager.service import win32_constants as W
from risk_manager.service.layout import Layout
from risk_manager.service.manager import ManagerError, ManagerState, ServiceDefinition
from risk_manager.service.names import (
    DESCRIPTION,
    DISPLAY_NAME,
    EVENT_SOURCE,
    RECOVERY_DELAYS_S,
    RECOVERY_RESET_S,
    SERVICE_NAME,
)

#: Administrators and SYSTEM: full control; interactive and authenticated users: query status,
#: interrogate and read the descriptor only (daemon.md §10.1, §11: the trader cannot stop it).
SERVICE_SDDL = (
    "D:(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;SY)(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;BA)"
    "(A;;LCLORC;;;IU)(A;;LCLORC;;;AU)"
)

FAILURE_ACTIONS: dict[str, Any] = {
    "ResetPeriod": RECOVERY_RESET_S,
    "RebootMsg": "",
    "Command": "",
    "Actions": [(W.SC_ACTION_RESTART, s * 1000) for s in RECOVERY_DELAYS_S],
}

_STATES = {
    W.SERVICE_STOPPED: S.STOPPED,
    W.SERVICE_START_PENDING: S.STARTING,
    W.SERVICE_STOP_PENDING: S.STOPPING,
    W.SERVICE_RUNNING: S.RUNNING,
}
_START_TYPES = {W.SERVICE_AUTO_START: "auto", W.SERVICE_DEMAND_START: "manual", W.SERVICE_DISABLED: "disabled"}


class ScmError(Exception):
    def __init__(self, winerror: int, message: str) -> None:
        super().__init__(message)
        self.winerror = winerror


class ScmApi(Protocol):
    """The SCM calls the manager needs (pywin32's names, handles are opaque)."""

    def open_service(self, name: str, access: int) -> Any: ...

    def create_service(self, name: str, display: str, start_type: int, command_line: str) -> Any: ...

    def change_config(self, handle: Any, start_type: int, command_line: str, display: str) -> None: ...

    def change_config2(self, handle: Any, level: int, value: Any) -> None: ...

    def set_security(self, handle: Any, sddl: str) -> None: ...

    def query_status(self, handle: Any) -> dict[str, int]: ...

    def query_config(self, handle: Any) -> tuple[int, str]: ...

    def query_config2(self, handle: Any, level: int) -> Any: ...

    def start(self, handle: Any) -> None: ...

    def control(self, handle: Any, code: int) -> None: ...

    def delete(self, handle: Any) -> None: ...

    def close(self, handle: Any) -> None: ...

    def add_event_source(self, name: str) -> None: ...

    def remove_event_source(self, name: str) -> None: ...


def split_command_line(line: str) -> list[str]:
    """Windows command-line parsing (CommandLineToArgvW rules for quotes and backslashes)."""
    words: list[str] = []
    word: list[str] = []
    in_quotes = False
    has_word = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            j = i
            while j < len(line) and line[j] == "\\":
                j += 1
            slashes = j - i
            if j < len(line) and line[j] == '"':
                word.append("\\" * (slashes // 2))
                if slashes % 2:
                    word.append('"')
                    i = j + 1
                else:
                    i = j
                has_word = True
                continue
            word.append("\\" * slashes)
            i = j
            has_word = True
            continue
        if c == '"':
            in_quotes = not in_quotes
            has_word = True
        elif c in " \t" and not in_quotes:
            if has_word:
                words.append("".join(word))
                word, has_word = [], False
        else:
            word.append(c)
            has_word = True
        i += 1
    if has_word:
        words.append("".join(word))
    return words


def describe_recovery(actions: Any) -> str | None:
    if not isinstance(actions, dict) or not actions.get("Actions"):
        return None
    delays = ", ".join(f"{int(d) // 1000} s" for kind, d in actions["Actions"] if kind == W.SC_ACTION_RESTART)
    reset = int(actions.get("ResetPeriod") or 0)
    return f"restart after {delays}; failure count reset after {reset // 3600} h"


class WindowsServiceManager:
    kind = "windows"
    name = SERVICE_NAME

    def __init__(self, layout: Layout, api: ScmApi | None = None) -> None:
        self.layout = layout
        self.api: ScmApi = api if api is not None else Pywin32Scm()

    def _open(self, access: int) -> Any:
        try:
            return self.api.open_service(SERVICE_NAME, access)
        except ScmError as exc:
            raise ManagerError(str(exc)) from None

    def query(self) -> ManagerState:
        try:
            handle = self.api.open_service(SERVICE_NAME, W.SERVICE_QUERY_STATUS | W.SERVICE_QUERY_CONFIG)
        except ScmError as exc:
            if exc.winerror == W.ERROR_SERVICE_DOES_NOT_EXIST:
                return ManagerState(False, S.NOT_INSTALLED)
            if exc.winerror != W.ERROR_ACCESS_DENIED:
                return ManagerState(False, S.UNKNOWN, detail=str(exc))
            # A standard user may query the status only (SERVICE_SDDL).
            try:
                handle = self.api.open_service(SERVICE_NAME, W.SERVICE_QUERY_STATUS)
            except ScmError as again:
                return ManagerState(True, S.UNKNOWN, detail=str(again))
            return self._status_only(handle)
        try:
            state = self._status_only(handle)
            start_type, command_line = self.api.query_config(handle)
            label = _START_TYPES.get(start_type)
            if start_type == W.SERVICE_AUTO_START and self.api.query_config2(
                handle, W.SERVICE_CONFIG_DELAYED_AUTO_START_INFO
            ):
                label = "delayed-auto"
            state.start_type = label
            state.command = split_command_line(command_line)
            state.recovery = describe_recovery(self.api.query_config2(handle, W.SERVICE_CONFIG_FAILURE_ACTIONS))
            return state
        finally:
            self.api.close(handle)

    def _status_only(self, handle: Any) -> ManagerState:
        status = self.api.query_status(handle)
        pid = int(status.get("ProcessId") or 0)
        return ManagerState(True, _STATES.get(int(status["CurrentState"]), S.UNKNOWN), pid=pid or None)

    def register(self, definition: ServiceDefinition, *, update: bool) -> list[str]:
        command_line = subprocess.list2cmdline(list(definition.command))
        try:
            if update:
                handle = self.api.open_service(SERVICE_NAME, W.SERVICE_ALL_ACCESS)
                self.api.change_config(handle, W.SERVICE_AUTO_START, command_line, DISPLAY_NAME)
            else:
                handle = self.api.create_service(
                    SERVICE_NAME, DISPLAY_NAME, W.SERVICE_AUTO_START, command_line
                )
            try:
                self.api.change_config2(handle, W.SERVICE_CONFIG_DESCRIPTION, DESCRIPTION)
                self.api.change_config2(handle, W.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, True)
                self.api.change_config2(handle, W.SERVICE_CONFIG_FAILURE_ACTIONS, FAILURE_ACTIONS)
                # Recovery also when the service stops itself with an error (daemon exit code != 0).
                self.api.change_config2(handle, W.SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, True)
                self.api.set_security(handle, SERVICE_SDDL)
            finally:
                self.api.close(handle)
            self.api.add_event_source(EVENT_SOURCE)
        except ScmError as exc:
            raise ManagerError(str(exc)) from None
        delays = ", ".join(f"{s} s" for s in RECOVERY_DELAYS_S)
        return [
            f"{'updated' if update else 'registered'} service {SERVICE_NAME} (LocalSystem): {command_line}",
            "start type: Automatic (Delayed Start)",
            f"recovery: restart after {delays}, also on error exits; reset after 1 day",
            "only Administrators and SYSTEM may stop, reconfigure or delete it",
            f"Event Log source {EVENT_SOURCE} registered",
        ]

    def unregister(self) -> None:
        handle = self._open(W.DELETE | W.SERVICE_QUERY_STATUS)
        try:
            self.api.delete(handle)
        except ScmError as exc:
            if exc.winerror != W.ERROR_SERVICE_MARKED_FOR_DELETE:
                raise ManagerError(str(exc)) from None
        finally:
            self.api.close(handle)
        try:
            self.api.remove_event_source(EVENT_SOURCE)
        except ScmError:
            pass  # the source may already be gone; the service registration is what matters

    def start(self) -> None:
        handle = self._open(W.SERVICE_START)
        try:
            self.api.start(handle)
        except ScmError as exc:
            if exc.winerror != W.ERROR_SERVICE_ALREADY_RUNNING:
                raise ManagerError(str(exc)) from None
        finally:
            self.api.close(handle)

    def stop(self) -> None:
        handle = self._open(W.SERVICE_STOP)
        try:
            self.api.control(handle, W.SERVICE_CONTROL_STOP)
        except ScmError as exc:
            if exc.winerror != W.ERROR_SERVICE_NOT_ACTIVE:
                raise ManagerError(str(exc)) from None
        finally:
            self.api.close(handle)


def event_message_dll() -> str | None:
    """.NET's EventLogMessages.dll has a "%1" message for every event id, so Event Viewer shows our
    text under our own ids (1000, 1010, ...) without a compiled message file. None: pywin32's default."""
    root = Path(os.environ.get("SystemRoot", r"C:\Windows")) / "Microsoft.NET"
    for framework in ("Framework64", "Framework"):
        candidate = root / framework / "v4.0.30319" / "EventLogMessages.dll"
        if candidate.is_file():
            return str(candidate)
    return None


class Pywin32Scm:  # pragma: no cover - Windows only (tests/service/test_windows_real.py)
    """``ScmApi`` over pywin32."""

    def __init__(self) -> None:
        import win32service

        self._ws = win32service

    def _call(self, fn: Any, *args: Any) -> Any:
        import pywintypes

        try:
            return fn(*args)
        except pywintypes.error as exc:
            raise ScmError(exc.winerror, f"{exc.funcname}: {exc.strerror}") from None

    def _scm(self, access: int) -> Any:
        return self._call(self._ws.OpenSCManager, None, None, access)

    def open_service(self, name: str, access: int) -> Any:
        scm = self._scm(0x0001)  # SC_MANAGER_CONNECT
        try:
            return self._call(self._ws.OpenService, scm, name, access)
        finally:
            self._ws.CloseServiceHandle(scm)

    def create_service(self, name: str, display: str, start_type: int, command_line: str) -> Any:
        scm = self._scm(0x0002 | 0x0001)  # SC_MANAGER_CREATE_SERVICE | CONNECT
        try:
            return self._call(
                self._ws.CreateService,
                scm,
                name,
                display,
                W.SERVICE_ALL_ACCESS,
                self._ws.SERVICE_WIN32_OWN_PROCESS,
                start_type,
                self._ws.SERVICE_ERROR_NORMAL,
                command_line,
                None,
                0,
                None,
                None,  # LocalSystem
                None,
            )
        finally:
            self._ws.CloseServiceHandle(scm)

    def change_config(self, handle: Any, start_type: int, command_line: str, display: str) -> None:
        nochange = self._ws.SERVICE_NO_CHANGE
        self._call(
            self._ws.ChangeServiceConfig,
            handle,
            nochange,
            start_type,
            nochange,
            command_line,
            None,
            0,
            None,
            None,
            None,
            display,
        )

    def change_config2(self, handle: Any, level: int, value: Any) -> None:
        self._call(self._ws.ChangeServiceConfig2, handle, level, value)

    def set_security(self, handle: Any, sddl: str) -> None:
        import win32security

        sd = win32security.ConvertStringSecurityDescriptorToSecurityDescriptor(sddl, win32security.SDDL_REVISION_1)
        self._call(self._ws.SetServiceObjectSecurity, handle, win32security.DACL_SECURITY_INFORMATION, sd)

    def query_status(self, handle: Any) -> dict[str, int]:
        result: dict[str, int] = self._call(self._ws.QueryServiceStatusEx, handle)
        return result

    def query_config(self, handle: Any) -> tuple[int, str]:
        config = self._call(self._ws.QueryServiceConfig, handle)
        return int(config[1]), str(config[3])

    def query_config2(self, handle: Any, level: int) -> Any:
        return self._call(self._ws.QueryServiceConfig2, handle, level)

    def start(self, handle: Any) -> None:
        self._call(self._ws.StartService, handle, None)

    def control(self, handle: Any, code: int) -> None:
        self._call(self._ws.ControlService, handle, code)

    def delete(self, handle: Any) -> None:
        self._call(self._ws.DeleteService, handle)

    def close(self, handle: Any) -> None:
        self._ws.CloseServiceHandle(handle)

    def add_event_source(self, name: str) -> None:
        import win32evtlogutil

        dll = event_message_dll()
        if dll is None:
            self._call(win32evtlogutil.AddSourceToRegistry, name)
        else:
            self._call(win32evtlogutil.AddSourceToRegistry, name, dll)

    def remove_event_source(self, name: str) -> None:
        import win32evtlogutil

        self._call(win32evtlogutil.RemoveSourceFromRegistry, name)
