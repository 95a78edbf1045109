"""The ``risk-manager`` command: one typer app; each command lives in its own module.

Each command module exposes ``register(app)`` so that adding a command never touches the others.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="risk-manager",
    help="Real-time risk manager for ProjectX Gateway (TopstepX) futures accounts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

def version_text() -> str:
    """Product, config schema and local API protocol versions, each from the one place defining it."""
    from risk_manager import __version__
    from risk_manager.config.models import SUPPORTED_VERSION
    from risk_manager.daemon.api.protocol import PROTOCOL_VERSION

    return (
        f"risk-manager {__version__}\n"
        f"config schema version {SUPPORTED_VERSION}\n"
        f"local API protocol version {PROTOCOL_VERSION}"
    )


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the product, config schema and local API protocol versions, then exit.",
        is_eager=True,
        callback=_print_version,
    ),
) -> None:
    pass


_COMMAND_MODULES = (
    "risk_manager.cli.config_cmds",
    "risk_manager.cli.replay_cmd",
    "risk_manager.cli.sim_cmd",
    "risk_manager.cli.run_cmd",
    "risk_manager.cli.demo_cmd",
    "risk_manager.cli.service_cmd",
    "risk_manager.cli.doctor_cmd",
    "risk_manager.cli.admin_cmd",
    "risk_manager.cli.trader_cmd",
    "risk_manager.cli.export_cmd",
    "risk_manager.cli.status_cmd",
)


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a command not built yet must not break the others
            if exc.name != name:
                raise
            continue
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
