"""The console's seam to the service layer (admin-cli.md §6, daemon.md §10.3).

The installer and the service managers (Windows SCM, systemd) live in ``risk_manager.service.api``;
the console only adds confirmations, waiting and the daemon checks. ``ServiceControl`` is what the
console needs; ``default_service_control()`` adapts the service layer's module when it is installed and
otherwise answers every call with "service layer not available", so the console works (read-only for
the service) in a build without it.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Protocol

from risk_manager.admin import exits

STATES = ("running", "stopped", "starting", "stopping", "not_installed", "unknown")
STATE_WORDS = {
    "running": "RUNNING",
    "stopped": "STOPPED",
    "starting": "START_PENDING",
    "stopping": "STOP_PENDING",
    "not_installed": "NOT INSTALLED",
    "unknown": "UNKNOWN",
}
UNAVAILABLE = "service layer not available"
UNAVAILABLE_SENTENCE = (
    "The service layer is not available in this installation (risk_manager.service.api is missing)"
)


class ServiceStatusLike(Protocol):
    installed: bool
    state: str
    start_type: str | None
    pid: int | None

    def to_dict(self) -> dict[str, Any]: ...


class OutcomeLike(Protocol):
    exit_code: int
    message: str


@dataclass
class ServiceStatus:
    installed: bool
    state: str
    start_type: str | None = None
    pid: int | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "installed": self.installed,
            "state": self.state,
            "startType": self.start_type,
            "pid": self.pid,
            "detail": self.detail,
        }


@dataclass
class Outcome:
    exit_code: int
    message: str
    extra: dict[str, Any] = field(default_factory=dict)


class ServiceControl(Protocol):
    available: bool

    def status(self) -> ServiceStatusLike: ...

    def start(self) -> OutcomeLike: ...

    def stop(self) -> OutcomeLike: ...

    def restart(self) -> OutcomeLike: ...

    def install(self) -> OutcomeLike: ...

    def uninstall(self) -> OutcomeLike: ...


class _Unavailable:
    """No service layer in this build: nothing is installed, nothing can be controlled."""

    available = False

    def status(self) -> ServiceStatus:
        return ServiceStatus(installed=False, state="unknown", detail=UNAVAILABLE)

    def _refuse(self) -> Outcome:
        return Outcome(
            exits.NOT_INSTALLED,
            f"✗ {UNAVAILABLE_SENTENCE}; the service cannot be installed or controlled from here.",
        )

    def start(self) -> Outcome:
        return self._refuse()

    def stop(self) -> Outcome:
        return self._refuse()

    def restart(self) -> Outcome:
        return self._refuse()

    def install(self) -> Outcome:
        return self._refuse()

    def uninstall(self) -> Outcome:
        return self._refuse()


class _ModuleAdapter:
    """Calls ``risk_manager.service.api``; operations it does not offer answer "not available"."""

    available = True

    def __init__(self, module: Any) -> None:
        self._m = module

    def status(self) -> ServiceStatusLike:
        status: ServiceStatusLike = self._m.status()
        return status

    def _call(self, name: str, **kwargs: Any) -> OutcomeLike:
        fn = getattr(self._m, name, None)
        if fn is None:
            return Outcome(exits.RUNTIME, f"✗ The service layer cannot {name} in this build.")
        outcome: OutcomeLike = fn(**kwargs)
        return outcome

    def start(self) -> OutcomeLike:
        return self._call("start")

    def stop(self) -> OutcomeLike:
        return self._call("stop")

    def restart(self) -> OutcomeLike:
        return self._call("restart")

    def install(self) -> OutcomeLike:
        # The console asks "Start it now?" and starts it with its own wait and daemon check.
        fn = getattr(self._m, "install", None)
        takes_no_start = fn is not None and "no_start" in inspect.signature(fn).parameters
        return self._call("install", **({"no_start": True} if takes_no_start else {}))

    def uninstall(self) -> OutcomeLike:
        return self._call("uninstall")


def default_service_control() -> ServiceControl:
    try:
        module = importlib.import_module("risk_manager.service.api")
    except ModuleNotFoundError as exc:
        if exc.name not in ("risk_manager.service", "risk_manager.service.api"):
            raise
        return _Unavailable()
    return _ModuleAdapter(module)


def state_word(state: str) -> str:
    return STATE_WORDS.get(state, state.upper())
