"""``risk-manager trader``: the read-only trader dashboard (trader-cli.md §1, §3).

Thin: options, the pre-flight account check (exit 7), the terminal check (exit 10), then the app.
The dashboard never reads ``accounts.yaml``, ``secrets.yaml`` or the password hash. Without ``--url``
it connects to the address the daemon published beside the database (``api.url``: an installed
service's ``daemon.yaml`` is not readable by the trader's standard account), else to the port of the
user's own ``daemon.yaml``, else to 8765.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from risk_manager.exit_codes import EXIT_NOT_INTERACTIVE, EXIT_OK, EXIT_RUNTIME, EXIT_UNKNOWN_ACCOUNT

DEFAULT_URL = "ws://127.0.0.1:8765"
NOT_INTERACTIVE = "The trader dashboard needs an interactive terminal."


def default_url(config_dir: Path | None = None, db: Path | None = None) -> str:
    """The local API URL: the one published by the daemon of ``db``, else ``api.port`` from
    ``daemon.yaml`` when it is readable, else port 8765."""
    from risk_manager.api_address import published
    from risk_manager.paths import default_config_dir

    announced = published(db.parent) if db is not None else None
    if announced is not None:
        return announced
    path = (config_dir or default_config_dir()) / "daemon.yaml"
    try:
        from ruamel.yaml import YAML

        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        port = int(data["api"]["port"])
        if 0 < port < 65536:
            return f"ws://127.0.0.1:{port}"
    except Exception:
        pass
    return DEFAULT_URL


def default_db() -> Path:
    from risk_manager.paths import default_data_dir

    service = default_data_dir(mode="service") / "risk.db"
    console = default_data_dir() / "risk.db"
    return console if console.exists() or not service.exists() else service


async def _accounts_live(url: str) -> list[dict[str, Any]] | None:
    from risk_manager.trader.client import ConnectionLost, DaemonClient

    client = DaemonClient(url, silence_s=5.0, open_timeout=3.0)
    try:
        await client.open()
        first = await client.receive()
    except (OSError, ConnectionLost, TimeoutError, Exception):
        return None
    finally:
        await client.close()
    if first.get("type") != "snapshot":
        return None
    return [a for a in (first.get("data") or {}).get("accounts") or [] if isinstance(a, dict)]


def known_accounts(url: str, db: Path) -> list[dict[str, Any]] | None:
    """The accounts the daemon (or, when it is down, the database) knows; None when neither answers."""
    accounts = asyncio.run(_accounts_live(url))
    if accounts is not None:
        return accounts
    from risk_manager.trader.offline import OfflineError, read_snapshot

    try:
        return list(read_snapshot(db)["accounts"])
    except OfflineError:
        return None


def resolve_account(wanted: str, accounts: list[dict[str, Any]]) -> int | None:
    text = wanted.strip().lower()
    for acct in accounts:
        names = {
            str(acct.get("accountId")),
            str(acct.get("nickname") or "").lower(),
            str(acct.get("name") or "").lower(),
        }
        if text in names:
            return int(acct["accountId"])
    return None


def describe_accounts(accounts: list[dict[str, Any]]) -> str:
    return (
        ", ".join(f"{a.get('accountId')} ({a.get('nickname') or a.get('name') or '?'})" for a in accounts)
        or "none"
    )


def run_trader(
    *,
    account: str | None,
    url: str | None,
    db: Path | None,
    no_color: bool,
    no_bell: bool,
    no_notify: bool,
) -> int:
    db_path = db or default_db()
    api_url = url or default_url(db=db_path)
    account_id: int | None = None
    if account is not None:
        accounts = known_accounts(api_url, db_path)
        if accounts is not None:
            account_id = resolve_account(account, accounts)
            if account_id is None:
                typer.echo(
                    f'Unknown account "{account}". Available: {describe_accounts(accounts)}.', err=True
                )
                return EXIT_UNKNOWN_ACCOUNT
        elif account.isdigit():
            account_id = int(account)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        typer.echo(NOT_INTERACTIVE, err=True)
        return EXIT_NOT_INTERACTIVE
    mono = no_color or "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb"
    try:
        from risk_manager.paths import default_log_dir
        from risk_manager.trader.app import TraderApp

        app = TraderApp(
            api_url,
            db_path=db_path,
            account=account_id,
            mono=mono,
            no_bell=no_bell,
            no_notify=no_notify,
            log_file=default_log_dir() / "trader.log",
            settle_gc=True,
        )
        code = app.run()
    except Exception as exc:  # start-up failure: say what
        typer.echo(f"error: the trader dashboard could not start: {exc}", err=True)
        return EXIT_RUNTIME
    return EXIT_OK if code is None else int(code)


def _version(value: bool) -> None:
    if value:
        from risk_manager import __version__
        from risk_manager.daemon.api.protocol import SUPPORTED_VERSIONS

        protocols = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        typer.echo(f"risk-manager trader {__version__} (local API protocol {protocols})")
        raise typer.Exit(EXIT_OK)


def trader(
    account: Annotated[
        str | None, typer.Option("--account", help="Account to show (broker account id or nickname).")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help=f"Daemon local API (default: the address the daemon published beside its database, else daemon.yaml's port, else {DEFAULT_URL})."),
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option("--db", help="Database for the offline view (default: the installed risk.db)."),
    ] = None,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="Monochrome (also NO_COLOR or TERM=dumb).")
    ] = False,
    no_bell: Annotated[bool, typer.Option("--no-bell", help="No terminal bell.")] = False,
    no_notify: Annotated[bool, typer.Option("--no-notify", help="No desktop notifications.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Version and supported protocol; exit."
        ),
    ] = False,
) -> None:
    """Open the read-only trader dashboard: live P&L, positions, rules, lockouts and enforcement."""
    raise typer.Exit(
        run_trader(account=account, url=url, db=db, no_color=no_color, no_bell=no_bell, no_notify=no_notify)
    )


def register(app: typer.Typer) -> None:
    app.command("trader")(trader)
