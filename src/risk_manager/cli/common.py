"""Bits every command shares: exit codes, the --config-dir option, loading config or exiting."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from risk_manager.exit_codes import (  # re-exported: every command uses them
    EXIT_DATABASE,
    EXIT_INTERRUPTED,
    EXIT_INVALID_CONFIG,
    EXIT_NOT_INSTALLED,
    EXIT_OK,
    EXIT_PORT_IN_USE,
    EXIT_RIGHTS,
    EXIT_RUNTIME,
)

__all__ = [
    "EXIT_DATABASE",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID_CONFIG",
    "EXIT_NOT_INSTALLED",
    "EXIT_OK",
    "EXIT_PORT_IN_USE",
    "EXIT_RIGHTS",
    "EXIT_RUNTIME",
    "config_dir_option",
    "load_or_exit",
    "resolve_config_dir",
]

config_dir_option = Annotated[
    Path | None,
    typer.Option(
        "--config-dir",
        help="Directory with accounts.yaml, risk_config.yaml, holidays.yaml "
        "(default: $RISK_MANAGER_CONFIG_DIR or the platform's config directory).",
    ),
]


def resolve_config_dir(config_dir: Path | None) -> Path:
    if config_dir is not None:
        return config_dir
    from risk_manager.paths import default_config_dir

    return default_config_dir()


def load_or_exit(config_dir: Path | None) -> Any:
    """Load and validate the configuration, or print every problem and exit with code 2."""
    from risk_manager.config.loader import ConfigError, load_config

    directory = resolve_config_dir(config_dir)
    try:
        return load_config(directory)
    except ConfigError as exc:
        typer.echo(f"invalid configuration in {directory}:", err=True)
        for issue in exc.issues:
            typer.echo(f"  {issue}", err=True)
        raise typer.Exit(EXIT_INVALID_CONFIG) from None
