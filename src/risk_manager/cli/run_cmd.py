"""``risk-manager run``: the daemon in a console (the service units call the same entry point)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from risk_manager.cli.common import config_dir_option


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config_dir: config_dir_option = None,  # type: ignore[valid-type]
        data_dir: Annotated[
            Path | None, typer.Option("--data-dir", help="Database, lock file, backups.")
        ] = None,
        log_dir: Annotated[
            Path | None, typer.Option("--log-dir", help="daemon.log, enforcement.jsonl.")
        ] = None,
        observe_only: Annotated[
            bool, typer.Option("--observe-only", help="Decide and log, never call the broker (all accounts).")
        ] = False,
        debug: Annotated[bool, typer.Option("--debug", help="DEBUG level in daemon.log.")] = False,
        service: Annotated[
            bool, typer.Option("--service", help="Service mode (used by the service units).")
        ] = False,
        api_port: Annotated[
            int | None,
            typer.Option("--api-port", help="Local API port (overrides daemon.yaml; 0 = any free)."),
        ] = None,
    ) -> None:
        """Watch every configured account and enforce its rules until Ctrl+C."""
        from risk_manager.daemon.app import run_daemon
        from risk_manager.daemon.options import DaemonOptions
        from risk_manager.paths import default_config_dir, default_data_dir, default_log_dir

        mode = "service" if service else "console"
        options = DaemonOptions(
            config_dir=(config_dir or default_config_dir(mode=mode)).resolve(),
            data_dir=(data_dir or default_data_dir(mode=mode)).resolve(),
            log_dir=(log_dir or default_log_dir(mode=mode)).resolve(),
            mode=mode,
            observe_only=observe_only,
            debug=debug,
            api_port=api_port,
        )
        if service:
            # The service units' entry: the same daemon plus the journal / systemd notify sinks.
            from risk_manager.service.entry import run_service

            raise typer.Exit(run_service(options))
        raise typer.Exit(run_daemon(options))
