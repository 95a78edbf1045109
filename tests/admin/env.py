"""A real simulator, a real daemon and a config directory for the admin console tests.

Everything runs as separate processes on 127.0.0.1 with free ports and temp directories; the console
itself is started through a real pseudo-terminal (pexpect) or as a plain subprocess for the scripted
subcommands. Waits are on prompt texts and conditions with deadlines, never sleeps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from risk_manager.security.password import hash_password
from tests.e2e.harness import Daemon, Simulator

PASSWORD = "correct horse battery"
USER = "trader1"
KEY = "key-1-abcdef"
SECOND = "second"
SECOND_KEY = "key-2-uvwxyz"
TIMEOUT = 20

RISK = """\
# risk_config.yaml for the admin console tests: the comments must survive every save.
version: 1

global:
  include_fees: false            # subtract trade fees from realized P&L
  max_quote_age_seconds: 10

rules:
  max_contracts:                 # RULE-001: contracts open across all instruments
    enabled: true
    limit: 5                     # keep this comment
    count_type: net
    enforcement: close_all

  max_contracts_per_instrument:  # RULE-002
    enabled: false
    limits: {MNQ: 2, ES: 1}

  daily_realized_loss:           # RULE-003
    enabled: true
    loss_limit: 500.00
    lockout_until: daily_reset

  daily_unrealized_loss: {enabled: false}
  max_unrealized_profit: {enabled: false}
  trade_frequency_limit: {enabled: false}
  cooldown_after_loss: {enabled: false}
  no_stop_loss_grace: {enabled: false}
  session_block_outside: {enabled: false}
  auth_loss_guard: {enabled: false}
  symbol_blocks:                 # RULE-011
    enabled: true
    blocked_symbols: [RTY]
    close_existing: true
  trade_management: {enabled: false}
"""


def accounts_yaml(urls: dict[str, str]) -> str:
    return f"""\
# accounts.yaml for the admin console tests
version: 1

gateway:
  environment: custom
  api_url: {urls["api_url"]}
  user_hub_url: {urls["user_hub_url"]}
  market_hub_url: {urls["market_hub_url"]}

logins:
  - name: main                   # a short label for this login
    user_name: {USER}
    accounts:
      - id: 1001
        name: "Eval 50K"
        enabled: true
        observe_only: false
        reset_time: "17:00"
        timezone: America/Chicago
      - id: 1003
        name: "Lockout test"
        enabled: true
        observe_only: false
        reset_time: "17:00"
        timezone: America/Chicago
        rule_overrides: {{daily_realized_loss: {{loss_limit: 5.00}}}}
"""


def users() -> dict[str, Any]:
    def acct(i: int) -> dict[str, Any]:
        return {"id": i, "name": f"SIM-50K-{i}", "balance": 50000, "canTrade": True, "simulated": True}

    return {
        "users": [
            {"userName": USER, "apiKey": KEY, "accounts": [acct(1001), acct(1002), acct(1003)]},
            {"userName": SECOND, "apiKey": SECOND_KEY, "accounts": [acct(2001)]},
        ]
    }


class AdminEnv:
    """Simulator + config directory (+ daemon once started)."""

    def __init__(
        self, root: Path, *, with_password: bool = True, daemon: bool = True, sim: bool = True
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        users_file = root / "users.json"
        users_file.write_text(json.dumps(users()), encoding="utf-8")
        self.sim: Simulator | None = Simulator(users_file) if sim else None
        urls = (
            self.sim.urls
            if self.sim
            else {
                "api_url": "http://127.0.0.1:9",
                "user_hub_url": "http://127.0.0.1:9/hubs/user",
                "market_hub_url": "http://127.0.0.1:9/hubs/market",
            }
        )
        self.config = root / "config"
        self.config.mkdir()
        (self.config / "risk_config.yaml").write_text(RISK, encoding="utf-8")
        (self.config / "accounts.yaml").write_text(accounts_yaml(urls), encoding="utf-8")
        secrets = self.config / "secrets.yaml"
        secrets.write_text(f'version: 1\napi_keys:\n  "{USER}": "{KEY}"\n', encoding="utf-8")
        secrets.chmod(0o600)
        if with_password:
            hash_file = self.config / "admin_password.hash"
            hash_file.write_text(hash_password(PASSWORD) + "\n", encoding="utf-8")
            hash_file.chmod(0o600)  # as the console writes it; the daemon refuses a readable hash
        self.data = root / "data"
        self.logs = root / "logs"
        self.daemon: Daemon | None = None
        self.api_url = "ws://127.0.0.1:9"  # nothing listens there until the daemon starts
        if daemon:
            self.start_daemon()

    def start_daemon(self) -> None:
        self.daemon = Daemon(self.root, self.config)
        self.api_url = self.daemon.api_url

    def stop_daemon(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None

    def close(self) -> None:
        self.stop_daemon()
        if self.sim is not None:
            self.sim.close()

    # ----- running the console ------------------------------------------------------------------------
    def base_args(self, api_url: str | None = None) -> list[str]:
        return [
            "--config-dir",
            str(self.config),
            "--data-dir",
            str(self.data),
            "--log-dir",
            str(self.logs),
            "--api-url",
            api_url or self.api_url,
        ]

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RISK_MANAGER_")}
        env.update({"NO_COLOR": "1", "COLUMNS": "100", "LINES": "40", "PYTHONUTF8": "1"})
        env.update(extra)
        return env

    def run(
        self,
        *args: str,
        stdin: str = "",
        password: bool = True,
        api_url: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """A scripted subcommand; ``--password-stdin`` with the password as the first stdin line."""
        argv = [sys.executable, "-m", "risk_manager.cli.admin", *self.base_args(api_url), *args]
        if password:
            argv.append("--password-stdin")
            stdin = PASSWORD + "\n" + stdin
        return subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env or self.env(),
            cwd=self.root,
        )

    def invoke(
        self,
        *args: str,
        stdin: str = "",
        password: bool = True,
        api_url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """The same as ``run`` but in this process (typer's runner): no interpreter start-up per case."""
        import traceback

        from typer.testing import CliRunner

        from risk_manager.admin.commands import build_app

        argv = [*self.base_args(api_url), *args]
        if password:
            argv.append("--password-stdin")
            stdin = PASSWORD + "\n" + stdin
        variables = {k: None for k in os.environ if k.startswith("RISK_MANAGER_")}
        variables.update({"NO_COLOR": "1", "COLUMNS": "100"})
        variables.update(env or {})
        result = CliRunner().invoke(build_app(), argv, input=stdin, env=variables)
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            stderr += "".join(traceback.format_exception(result.exception))
        return subprocess.CompletedProcess(argv, result.exit_code, result.stdout, stderr)

    def spawn(self, *args: str, api_url: str | None = None, env: dict[str, str] | None = None) -> Any:
        import pexpect

        child = pexpect.spawn(
            sys.executable,
            ["-m", "risk_manager.cli.admin", *self.base_args(api_url), *args],
            env=env or self.env(),
            encoding="utf-8",
            dimensions=(40, 100),
            timeout=TIMEOUT,
            cwd=str(self.root),
        )
        return child
