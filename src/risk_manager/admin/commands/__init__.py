"""The non-interactive subcommands (admin-cli.md §14): one module per group, registered on the app."""

from __future__ import annotations

import typer

from risk_manager.admin.app import app
from risk_manager.admin.commands import accounts, password, rules, system

_registered = False


def build_app() -> typer.Typer:
    """The ``admin`` typer app with every subcommand (idempotent)."""
    global _registered
    if not _registered:
        system.register(app)
        accounts.register(app)
        rules.register(app)
        password.register(app)
        _registered = True
    return app


def main() -> None:
    build_app()(prog_name="risk-manager admin")
