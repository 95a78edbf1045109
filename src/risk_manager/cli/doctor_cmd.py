"""``risk-manager doctor``: check an installation and say what to fix (daemon.md §12)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from risk_manager.exit_codes import EXIT_OK, EXIT_RUNTIME

MARKS = {"ok": "✓", "warning": "!", "error": "✗", "skipped": "-"}


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor(
        as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
        vacuum: Annotated[
            bool, typer.Option("--vacuum", help="Also compact the database (the daemon must be stopped).")
        ] = False,
        config_dir: Annotated[Path | None, typer.Option("--config-dir", help="Check this config directory.")] = None,
        data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Check this data directory.")] = None,
        log_dir: Annotated[Path | None, typer.Option("--log-dir", help="Check this log directory.")] = None,
        root: Annotated[Path | None, typer.Option("--root", help="A staged installation (see service install --root).")] = None,
    ) -> None:
        """Directories and permissions, config, secrets, database integrity, daemon, clock skew, admin user.

        Exit 0 when nothing is an error (warnings allowed), 1 otherwise."""
        from risk_manager.service.doctor import doctor as run

        report = run(root=root, config_dir=config_dir, data_dir=data_dir, log_dir=log_dir, do_vacuum=vacuum)
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2))
        else:
            typer.echo(f"Directories in effect ({report.mode}):")
            for kind, path in report.layout.directories().items():
                typer.echo(f"  {kind:<7} {path}")
            for f in report.findings:
                typer.echo(f"{MARKS[f.status]} {f.check:<13} {f.message}")
                if f.fix and f.status in ("warning", "error"):
                    typer.echo(f"  {'':<13} fix: {f.fix}")
            errors = sum(1 for f in report.findings if f.status == "error")
            warnings = sum(1 for f in report.findings if f.status == "warning")
            typer.echo(f"{errors} error(s), {warnings} warning(s).")
        raise typer.Exit(EXIT_OK if report.ok else EXIT_RUNTIME)
