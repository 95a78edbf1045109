"""Real processes for the daemon benchmarks: the gateway simulator, the daemon, and their config.

A pytest-free copy of the few lines of ``tests/e2e/harness.py`` the benchmarks need (the bench scripts
run as plain ``python bench/x.py``). Child output lines are timestamped on arrival, so a benchmark can
tell when the daemon printed its ready line relative to the moment it was started.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx

from risk_manager.config.models import RULE_KEYS
from risk_manager.procs import DAEMON_READY, ChildProcess, daemon_command, sim_command

PY = sys.executable
API_LINE = DAEMON_READY
# Front contracts of every built-in root of the simulator (gateway.md §6.5), by symbol.
SYMBOLS = ("MNQ", "NQ", "MES", "ES", "RTY", "M2K", "YM", "MYM", "CL", "MCL", "GC", "MGC")


class Proc(ChildProcess):
    """A child process whose stdout lines arrive with their ``perf_counter`` time (see ``.started``)."""


class Sim:
    """``risk-manager sim`` on a free port plus a keep-alive client for its control API."""

    def __init__(self, users_file: Path) -> None:
        self.proc = Proc(sim_command(users=users_file))
        self.urls: dict[str, str] = json.loads(self.proc.wait_line(None, 30)[1])
        self.http = httpx.Client(base_url=self.urls["api_url"], timeout=30)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.http.request(method, f"/sim{path}", json=body)
        if r.status_code >= 300:
            raise RuntimeError(f"{method} /sim{path} -> {r.status_code} {r.text}")
        return r.json()

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()


def users_file(path: Path, users: dict[str, tuple[str, list[int]]]) -> Path:
    """Simulator users file: {userName: (apiKey, [account ids])}."""
    doc = {
        "users": [
            {
                "userName": name,
                "apiKey": key,
                "accounts": [
                    {"id": a, "name": f"BENCH-{a}", "balance": 50000, "canTrade": True, "simulated": True}
                    for a in ids
                ],
            }
            for name, (key, ids) in users.items()
        ]
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def write_config(
    directory: Path,
    urls: dict[str, str],
    login: str,
    api_key: str,
    accounts: list[int],
    overrides: dict[str, Any],
) -> Path:
    """accounts.yaml / risk_config.yaml / secrets.yaml: every rule off globally, ``overrides`` per account."""
    directory.mkdir(parents=True, exist_ok=True)
    doc = {
        "version": 1,
        "gateway": {
            "environment": "custom",
            "api_url": urls["api_url"],
            "user_hub_url": urls["user_hub_url"],
            "market_hub_url": urls["market_hub_url"],
        },
        "logins": [
            {
                "name": login,
                "user_name": login,
                "accounts": [
                    {
                        "id": a,
                        "name": f"BENCH-{a}",
                        "reset_time": "17:00",
                        "timezone": "America/Chicago",
                        "rule_overrides": overrides,
                    }
                    for a in accounts
                ],
            }
        ],
    }
    rules = {name: {"enabled": False} for name in RULE_KEYS}
    (directory / "accounts.yaml").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    (directory / "risk_config.yaml").write_text(json.dumps({"version": 1, "rules": rules}), encoding="utf-8")
    secrets = directory / "secrets.yaml"
    secrets.write_text(json.dumps({"api_keys": {login: api_key}}), encoding="utf-8")
    secrets.chmod(0o600)
    return directory


def start_daemon(
    config_dir: Path, workdir: Path, timeout: float = 30, env: dict[str, str] | None = None
) -> tuple[Proc, str, float]:
    """Start the daemon (``env``: extra environment); returns (process, local API url, seconds from
    Popen to the ready line)."""
    proc = Proc(daemon_command(config_dir, workdir), env=env)
    at, line = proc.wait_line(API_LINE, timeout)
    match = API_LINE.search(line)
    assert match is not None
    return proc, match.group(1), at - proc.started


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]
