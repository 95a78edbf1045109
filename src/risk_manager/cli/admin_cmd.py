"""``risk-manager admin``: the admin console (``risk_manager.admin``), mounted as a sub-app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from risk_manager.admin.commands import build_app

    app.add_typer(build_app(), name="admin")
