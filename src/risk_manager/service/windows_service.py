"""The Windows service: pywin32 ``ServiceFramework`` subclass ``RiskManagerService`` (daemon.md §10.1).

The SCM starts this module with the registered command line (``command.windows_command``): the
interpreter, this module (or this file plus ``--site-packages`` for a venv) and the explicit config,
data and log directories. Everything the service does is in ``winsvc_host.ServiceHost``; this module
only connects it to pywin32. Windows only: it imports pywin32 at module level.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and "--site-packages" in sys.argv:  # pragma: no cover - Windows venv start
    # Started as a file by the base interpreter (the venv's python.exe is a redirector the SCM cannot
    # talk to): make the venv's packages importable, and do not let this folder shadow anything.
    import os
    import site

    _i = sys.argv.index("--site-packages")
    site.addsitedir(sys.argv[_i + 1])
    del sys.argv[_i : _i + 2]
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import os  # noqa: E402

import servicemanager  # noqa: E402
import win32serviceutil  # noqa: E402

from risk_manager.service.eventlog import EventLogSink, Win32EventLog  # noqa: E402
from risk_manager.service.names import DESCRIPTION, DISPLAY_NAME, SERVICE_NAME  # noqa: E402
from risk_manager.service.winsvc_host import ServiceHost, options_from_argv  # noqa: E402


class RiskManagerService(win32serviceutil.ServiceFramework):  # type: ignore[misc]
    _svc_name_ = SERVICE_NAME
    _svc_display_name_ = DISPLAY_NAME
    _svc_description_ = DESCRIPTION

    def __init__(self, args: list[str]) -> None:
        super().__init__(args)
        self.host = ServiceHost(
            options_from_argv(sys.argv[1:]), self._report, [EventLogSink(Win32EventLog())], exit_process=os._exit
        )

    def _report(
        self, state: int, *, wait_hint_ms: int = 0, win32_exit_code: int = 0, service_exit_code: int = 0
    ) -> None:
        self.ReportServiceStatus(
            state, waitHint=wait_hint_ms, win32ExitCode=win32_exit_code, svcExitCode=service_exit_code
        )

    def SvcRun(self) -> None:  # noqa: N802 - pywin32's name
        # The base class reports RUNNING before SvcDoRun; RUNNING must mean "accounts protected".
        self.SvcDoRun()

    def SvcDoRun(self) -> None:  # noqa: N802
        self.host.run()

    def SvcStop(self) -> None:  # noqa: N802
        self.host.stop("service stop")

    def SvcShutdown(self) -> None:  # noqa: N802
        self.host.stop("system shutdown")


def main() -> int:
    servicemanager.Initialize()
    servicemanager.PrepareToHostSingle(RiskManagerService)
    try:
        servicemanager.StartServiceCtrlDispatcher()
    except Exception as exc:  # noqa: BLE001 - started by hand: explain instead of a traceback
        print(
            f"{exc}\nThis program is started by the Windows service manager. Use "
            '"risk-manager service install" / "risk-manager service start", or "risk-manager run" '
            "for a console daemon.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - Windows
    sys.exit(main())
