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

_COMMAND_MODULES = (
    "risk_manager.cli.config_cmds",
    "risk_manager.cli.replay_cmd",
    "risk_manager.cli.sim_cmd",
    "risk_manager.cli.run_cmd",
    "risk_manager.cli.demo_cmd",
    "risk_manager.cli.service_cmd",
    "risk_manager.cli.doctor_cmd",
    "risk_manager.cli.export_cmd",
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
