"""``risk-manager status``: is the running daemon protecting every account? For people and monitoring.

A thin client of the daemon's ``health`` request (docs/local-api.md): it prints the answer (or the
whole of it with ``--json``) and says the verdict in its exit code, so a monitoring system (Nagios,
a cron job, Uptime Kuma's command check, a Windows scheduled task) can poll it without parsing:

====  =====================================================================================
0     the daemon runs, every account is protected and storage is ok
6     the daemon does not answer (stopped, or the port is wrong)
11    the daemon runs, but an account is NOT PROTECTED (or only partially: no market data)
3     every account is protected, but storage is degraded (nothing is being saved)
1     the daemon answered with an error
====  =====================================================================================

When several hold, the first in this order wins: 6, 11, 3. The daemon also answers while it starts or
stops; its accounts are not protected then, so that is 11. Codes are defined in ``exit_codes.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from risk_manager.exit_codes import (
    EXIT_DAEMON_UNREACHABLE,
    EXIT_NOT_PROTECTED,
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_STORAGE_DEGRADED,
)
from risk_manager.trader.fmt import duration

DEFAULT_TIMEOUT_S = 5.0


def default_url(config_dir: Path | None) -> str:
    """``--config-dir``'s daemon.yaml; without it the console's, else the installed service's."""
    from risk_manager.paths import default_config_dir
    from risk_manager.service.probe import api_url

    if config_dir is not None:
        return api_url(config_dir)
    console = default_config_dir()
    if (console / "daemon.yaml").is_file():
        return api_url(console)
    return api_url(default_config_dir(mode="service"))


def exit_code(health: dict[str, Any]) -> int:
    """The verdict of one ``health`` answer as an exit code (6 is decided before there is an answer)."""
    if health.get("status") == "ok":
        return EXIT_OK
    if health.get("notProtected") or health.get("state") != "running":
        return EXIT_NOT_PROTECTED
    if (health.get("storage") or {}).get("state") != "ok":
        return EXIT_STORAGE_DEGRADED
    return EXIT_NOT_PROTECTED


def _age(seconds: Any) -> str:
    return f"{duration(seconds)} ago" if isinstance(seconds, (int, float)) else "no event yet"


def render(health: dict[str, Any], url: str) -> list[str]:
    """The human form: one headline, one line per account, then storage."""
    verdict = {
        "ok": "OK",
        "not_protected": "NOT PROTECTED",
        "storage_degraded": "STORAGE DEGRADED",
        "starting": "STARTING (not protected yet)",
        "stopping": "STOPPING",
    }.get(str(health.get("status")), str(health.get("status")).upper())
    lines = [
        f"{verdict}: {health.get('protected')} of {health.get('total')} accounts protected",
        f"risk-manager {health.get('version')} ({health.get('mode')} mode, pid {health.get('pid')}), "
        f"up {duration(float(health.get('uptimeS') or 0))}, local API {url}",
    ]
    for acct in health.get("accounts") or []:
        state = "protected" if acct.get("protected") else f"{acct.get('protection')}: {acct.get('reason')}"
        lines.append(f"  {acct.get('accountId'):<10} {state:<40} last event {_age(acct.get('lastEventAgeS'))}")
    storage = health.get("storage") or {}
    if storage.get("state") == "ok":
        lines.append("Storage: ok")
    else:
        unsaved = storage.get("unsaved")
        lines.append(f"Storage: DEGRADED since {storage.get('since')}: {storage.get('reason')} ({unsaved} unsaved)")
    return lines


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status(
        as_json: Annotated[bool, typer.Option("--json", help="Print the daemon's health answer as JSON.")] = False,
        url: Annotated[
            str | None,
            typer.Option("--url", help="The daemon's local API (default: ws://127.0.0.1:8765 or daemon.yaml's port)."),
        ] = None,
        config_dir: Annotated[
            Path | None, typer.Option("--config-dir", help="Read the API port from this directory's daemon.yaml.")
        ] = None,
        timeout: Annotated[
            float, typer.Option("--timeout", help="Seconds to wait for the daemon's answer.", min=0.1)
        ] = DEFAULT_TIMEOUT_S,
    ) -> None:
        """Is the daemon protecting every account? Exit 0 yes; 6 not running; 11 an account NOT PROTECTED;
        3 storage degraded; 1 error. --json for monitoring."""
        from risk_manager.service.probe import DaemonUnreachable, HealthRefused, ask_health

        target = url or default_url(config_dir)
        try:
            health = ask_health(target, timeout)
        except DaemonUnreachable as exc:
            if as_json:
                typer.echo(json.dumps({"reachable": False, "url": target, "reason": exc.reason}, indent=2))
            else:
                typer.echo(f"NOT RUNNING: the daemon is not answering on {target} ({exc.reason}). Is it running?", err=True)
            raise typer.Exit(EXIT_DAEMON_UNREACHABLE) from None
        except HealthRefused as exc:
            if as_json:
                typer.echo(json.dumps({"reachable": True, "url": target, "error": {"code": exc.code,
                                                                                   "message": exc.message}}))
            else:
                typer.echo(f"The daemon on {target} refused the health request: {exc.message}", err=True)
            raise typer.Exit(EXIT_RUNTIME) from None
        code = exit_code(health)
        if as_json:
            typer.echo(json.dumps({"reachable": True, "url": target, **health}, indent=2))
        else:
            for line in render(health, target):
                typer.echo(line)
        raise typer.Exit(code)
