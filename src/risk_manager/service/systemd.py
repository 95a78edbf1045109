"""systemd as the service manager (daemon.md §10.2), through ``systemctl``.

With a staging root (``--root``) systemd is never contacted: the unit is written under the root and
enabled with ``systemctl --root`` (which only creates the ``WantedBy`` symlink), and the running
state is read from the daemon's instance lock in the staged data directory.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from risk_manager.platform.filelock import lock_state
from risk_manager.service import outcome as S
from risk_manager.service.command import option_value
from risk_manager.service.layout import Layout
from risk_manager.service.manager import ManagerError, ManagerState, ServiceDefinition
from risk_manager.service.names import RECOVERY_DELAYS_S, UNIT_NAME
from risk_manager.service.unit import exec_start, render_unit, split_command

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]

_ACTIVE = {
    "active": S.RUNNING,
    "reloading": S.RUNNING,
    "activating": S.STARTING,
    "deactivating": S.STOPPING,
    "inactive": S.STOPPED,
    "failed": S.STOPPED,
}
_START_TYPES = {"enabled": "auto", "enabled-runtime": "auto", "disabled": "manual", "masked": "disabled"}


def run_systemctl(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemctl", *args], capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL
    )


def _error_text(proc: subprocess.CompletedProcess[str]) -> str:
    text = (proc.stderr or proc.stdout or "").strip().splitlines()
    return text[0] if text else f"systemctl exited with {proc.returncode}"


class SystemdManager:
    kind = "systemd"
    name = UNIT_NAME

    def __init__(self, layout: Layout, run: Runner = run_systemctl) -> None:
        self.layout = layout
        self._run = run
        self.offline = layout.root is not None

    # ----- helpers ---------------------------------------------------------------------------------
    def _ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix = [f"--root={self.layout.root}"] if self.offline else []
        try:
            return self._run([*prefix, *args])
        except FileNotFoundError:
            raise ManagerError("systemctl not found: this system does not use systemd") from None
        except subprocess.TimeoutExpired:
            raise ManagerError(f"systemctl {' '.join(args)} did not answer within 60 s") from None

    def _check(self, *args: str) -> None:
        proc = self._ctl(*args)
        if proc.returncode != 0:
            raise ManagerError(_error_text(proc))

    def _unit_command(self) -> list[str] | None:
        try:
            text = self.layout.unit_path.read_text(encoding="utf-8")
        except OSError:
            return None
        value = exec_start(text)
        return split_command(value) if value else None

    # ----- ServiceManager ----------------------------------------------------------------------------
    def query(self) -> ManagerState:
        if not self.layout.unit_path.is_file():
            return ManagerState(False, S.NOT_INSTALLED)
        command = self._unit_command()
        recovery = f"restart on failure after {RECOVERY_DELAYS_S[0]} s; watchdog 30 s"
        enabled = self._ctl("is-enabled", UNIT_NAME).stdout.strip()
        state = ManagerState(
            True, S.UNKNOWN, _START_TYPES.get(enabled, enabled or None), None, recovery, command
        )
        if self.offline:
            held, pid = lock_state(self._data_dir(command) / "daemon.lock")
            if held is None:
                state.detail = "cannot read the daemon's lock file"
            else:
                state.state, state.pid = (S.RUNNING, pid) if held else (S.STOPPED, None)
            return state
        proc = self._ctl("show", UNIT_NAME, "--property=ActiveState,SubState,MainPID")
        if proc.returncode != 0:
            state.detail = _error_text(proc)
            return state
        props = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
        state.state = _ACTIVE.get(props.get("ActiveState", ""), S.UNKNOWN)
        main_pid = props.get("MainPID", "0")
        state.pid = int(main_pid) if main_pid.isdigit() and int(main_pid) > 0 else None
        return state

    def _data_dir(self, command: list[str] | None) -> Path:
        data = option_value(command or [], "--data-dir")
        return Path(data) if data else self.layout.data_dir

    def register(self, definition: ServiceDefinition, *, update: bool) -> list[str]:
        path = self.layout.unit_path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(render_unit(definition.command, definition.layout), encoding="utf-8")
        os.chmod(partial, 0o644)
        os.replace(partial, path)
        done = [f"{'updated' if update else 'wrote'} {path}"]
        if not self.offline:
            self._check("daemon-reload")
        self._check("enable", UNIT_NAME)
        done.append(f"enabled {UNIT_NAME} (starts at boot, restarts on failure)")
        return done

    def unregister(self) -> None:
        path = self.layout.unit_path
        if path.exists():
            self._ctl("disable", UNIT_NAME)  # best effort: the unit file goes either way
            path.unlink()
        if not self.offline:
            self._ctl("daemon-reload")
        if path.exists():
            raise ManagerError(f"{path} could not be removed")

    def start(self) -> None:
        self._require_online("start")
        self._check("start", "--no-block", UNIT_NAME)

    def stop(self) -> None:
        self._require_online("stop")
        self._check("stop", "--no-block", UNIT_NAME)

    def _require_online(self, what: str) -> None:
        if self.offline:
            raise ManagerError(
                f"cannot {what} a service staged under --root {self.layout.root}: systemd is not used there"
            )
