"""``risk-manager service install | uninstall | start | stop | restart | status | copy-scripts``.

A thin layer over ``risk_manager.service.api``: options, the typed confirmations (``STOP``,
``UNINSTALL``, ``PURGE``) and printing. Exit codes are the outcome's (daemon.md §10.3, §12).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from risk_manager.exit_codes import EXIT_NOT_INSTALLED, EXIT_OK, EXIT_RUNTIME

RootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        help="Stage the installation under this directory (Linux): unit, account, directories; "
        "systemd is not contacted.",
    ),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _confirm(word: str, prompt: str) -> bool:
    typer.echo(prompt, nl=False)
    try:
        answer = input(" ")
    except EOFError:
        answer = ""
    return answer.strip() == word


def _finish(outcome_code: int) -> None:
    raise typer.Exit(outcome_code)


def _echo(line: str) -> None:
    typer.echo(line, err=line.startswith("✗"))


def _print_status(data: dict[str, object]) -> None:
    from risk_manager.service.outcome import STATE_LABELS

    directories = data["directories"]
    assert isinstance(directories, dict)
    rows = [
        ("Service", f"{data['name']} ({data['manager']})"),
        ("State", STATE_LABELS.get(str(data["state"]), str(data["state"]))),
        ("PID", data["pid"] or "-"),
        ("Start type", data["startType"] or "-"),
        ("Recovery", data["recovery"] or "-"),
        ("Runs as", data["account"] or "-"),
        ("Config", directories["config"]),
        ("Data", directories["data"]),
        ("Logs", directories["logs"]),
    ]
    permissions = data.get("permissions")
    if isinstance(permissions, list):
        rows.append(("Permissions", "as installed" if not permissions else f"{len(permissions)} difference(s): "
                     + "; ".join(permissions[:3])))
    if data.get("detail"):
        rows.append(("Note", data["detail"]))
    daemon = data.get("daemon")
    if isinstance(daemon, dict):
        rows.append(
            ("Daemon", f"{daemon.get('state')} v{daemon.get('version')} on {daemon.get('url')}: "
             f"{daemon.get('protected')} of {daemon.get('accounts')} accounts protected")
        )
    else:
        rows.append(("Daemon", "not reachable"))
    for key, value in rows:
        typer.echo(f"{key:<11} {value}")


def register(app: typer.Typer) -> None:
    service_app = typer.Typer(
        name="service", help="Install and control the always-on service (Windows service / systemd).",
        no_args_is_help=True,
    )

    @service_app.command("install")
    def install(
        no_start: Annotated[bool, typer.Option("--no-start", help="Register but do not start it.")] = False,
        upgrade: Annotated[
            bool, typer.Option("--upgrade", help="Upgrade in place: stop, back up, migrate, re-register, start.")
        ] = False,
        repair_permissions: Annotated[
            bool, typer.Option("--repair-permissions", help="Only re-apply the directory permissions.")
        ] = False,
        root: RootOption = None,
    ) -> None:
        """Check the setup, create directories and permissions, register the service with auto start."""
        from risk_manager.service import api

        outcome = api.install(
            no_start=no_start, upgrade=upgrade, repair_permissions=repair_permissions, root=root, emit=_echo
        )
        _finish(outcome.exit_code)

    @service_app.command("uninstall")
    def uninstall(
        yes: YesOption = False,
        purge: Annotated[
            bool, typer.Option("--purge", help="Also delete config, data and logs (asks for PURGE).")
        ] = False,
        root: RootOption = None,
    ) -> None:
        """Stop and remove the service; config, data and logs are kept unless --purge."""
        from risk_manager.service import api

        if not yes and not _confirm("UNINSTALL", "Type UNINSTALL to remove the Risk Manager service:"):
            typer.echo("Cancelled: nothing was changed.")
            _finish(EXIT_RUNTIME)
        if purge and not yes and not _confirm(
            "PURGE", "This also deletes the configuration, the database and the logs. Type PURGE to confirm:"
        ):
            typer.echo("Cancelled: nothing was changed.")
            _finish(EXIT_RUNTIME)
        _finish(api.uninstall(purge=purge, root=root, emit=_echo).exit_code)

    @service_app.command("start")
    def start(root: RootOption = None) -> None:
        """Start the service and wait until it runs and the daemon answers (up to 30 s)."""
        from risk_manager.service import api

        _finish(api.start(root=root, emit=_echo).exit_code)

    @service_app.command("stop")
    def stop(yes: YesOption = False, root: RootOption = None) -> None:
        """Stop the service (needs --yes or a typed STOP): accounts are NOT protected while it is stopped."""
        from risk_manager.service import api

        if not yes:
            typer.echo("Stopping the service removes ALL protection: rules are not enforced and lockouts "
                       "are not applied until it starts again.")
            if not _confirm("STOP", "Type STOP to stop the service:"):
                typer.echo("Cancelled: the service keeps running.")
                _finish(EXIT_RUNTIME)
        _finish(api.stop(root=root, emit=_echo).exit_code)

    @service_app.command("restart")
    def restart(root: RootOption = None) -> None:
        """Stop and start the service (protection pauses for a few seconds)."""
        from risk_manager.service import api

        _finish(api.restart(root=root, emit=_echo).exit_code)

    @service_app.command("status")
    def status(
        as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
        root: RootOption = None,
    ) -> None:
        """State, PID, start type, recovery, directories, and the daemon's own status (exit 9: not installed)."""
        from risk_manager.service import api

        data = api.status(root=root).to_dict()
        if as_json:
            typer.echo(json.dumps(data, indent=2))
        else:
            _print_status(data)
        _finish(EXIT_OK if data["installed"] else EXIT_NOT_INSTALLED)

    @service_app.command("copy-scripts")
    def copy_scripts(
        dest: Annotated[
            Path | None,
            typer.Option("--dest", help="Target folder (default: this Python environment's folder)."),
        ] = None,
    ) -> None:
        """Copy install.bat and uninstall.bat next to this Python environment (Windows installer scripts)."""
        from risk_manager.service.scripts import copy_scripts as copy

        for path in copy(dest):
            typer.echo(f"wrote {path}")

    app.add_typer(service_app, name="service")
