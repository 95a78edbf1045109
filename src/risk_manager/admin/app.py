"""``risk-manager admin`` / ``python -m risk_manager.cli.admin``: global options, menus or subcommands.

Without a subcommand the interactive console starts (password, then the main menu). With one, the
subcommand runs non-interactively (admin-cli.md §14) and exits with the codes of §13. Ctrl+C anywhere
prints ``Cancelled by user.`` and exits 130 (writes are atomic, so nothing is left half-done).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from risk_manager import __version__
from risk_manager.admin import exits
from risk_manager.admin.exits import AdminExit

app = typer.Typer(
    name="admin",
    help="Admin console: configure accounts and rules, control the service (menus without a subcommand).",
    add_completion=False,
    pretty_exceptions_enable=False,
    invoke_without_command=True,
    no_args_is_help=False,
)


def _versions() -> str:
    from risk_manager.config.models import SUPPORTED_VERSION
    from risk_manager.daemon.api.protocol import PROTOCOL_VERSION

    return (
        f"risk-manager {__version__} (config schema version {SUPPORTED_VERSION}, "
        f"local API protocol {PROTOCOL_VERSION})"
    )


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(_versions())
        raise typer.Exit(exits.OK)


def _quiet_logging(debug: bool) -> None:
    # Library log lines (gateway sign-in errors, websockets) must not pollute the console's output;
    # the console reports every failure itself. --debug sends them to stderr.
    root = logging.getLogger("risk_manager")
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
    else:
        root.addHandler(logging.NullHandler())
        root.propagate = False
    for name in ("websockets", "aiohttp", "httpx"):
        logging.getLogger(name).addHandler(logging.NullHandler())
        logging.getLogger(name).propagate = debug


@app.callback()
def main_callback(
    tctx: typer.Context,
    config_dir: Annotated[
        Path | None, typer.Option("--config-dir", help="Config directory (default: the installed one).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory with risk.db and admin.token.")
    ] = None,
    log_dir: Annotated[Path | None, typer.Option("--log-dir", help="The daemon's log directory.")] = None,
    api_url: Annotated[
        str | None, typer.Option("--api-url", help="Local API of the daemon (default ws://127.0.0.1:8765).")
    ] = None,
    no_color: Annotated[bool, typer.Option("--no-color", help="Plain output without colours.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show library log lines and stack traces.")] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print versions and exit."),
    ] = None,
) -> None:
    _quiet_logging(debug)
    options = {
        "config_dir": config_dir,
        "data_dir": data_dir,
        "log_dir": log_dir,
        "api_url": api_url,
        "no_color": no_color,
        "debug": debug,
    }
    tctx.obj = options
    if tctx.invoked_subcommand is None:
        raise typer.Exit(interactive(options))


def make_context(options: dict[str, Any], *, scripted: bool) -> Any:
    from risk_manager.admin.context import AdminContext
    from risk_manager.admin.ui import Ui

    ui = Ui(no_color=bool(options["no_color"]), scripted=scripted)
    return AdminContext.create(
        ui,
        config_dir=options["config_dir"],
        data_dir=options["data_dir"],
        log_dir=options["log_dir"],
        api_url=options["api_url"],
        debug=bool(options["debug"]),
    )


def interactive(options: dict[str, Any]) -> int:
    from risk_manager.admin.screens.main_menu import session

    ctx = make_context(options, scripted=False)
    if not sys.stdin.isatty():
        ctx.ui.error(
            "The admin menus need a terminal. For scripts use the subcommands (risk-manager admin --help)."
        )
        return exits.USAGE
    try:
        session(ctx)
    except AdminExit as exc:
        ctx.ui.report(exc)
        return exc.code
    except KeyboardInterrupt:
        ctx.ui.blank()
        ctx.ui.info("Cancelled by user.")
        return exits.CANCELLED
    except EOFError:
        ctx.ui.blank()
        ctx.ui.info("Input closed. Goodbye.")
        return exits.OK
    finally:
        ctx.drop_daemon()
    return exits.OK


def _is_dir(path: Path) -> bool:
    try:
        path.stat()
    except FileNotFoundError:
        return False
    except OSError:
        return True  # there, but this user may not look inside: the password check will say more
    return path.is_dir()


def run_scripted(
    tctx: typer.Context,
    action: Callable[[Any], int | None],
    *,
    password: bool = True,
    password_stdin: bool = False,
) -> None:
    """Run one subcommand: verify the password (one attempt), run, map the outcome to an exit code."""
    from risk_manager.admin.password_flows import PasswordSource, verify_once

    ctx = make_context(tctx.obj or {}, scripted=True)
    code = exits.OK
    try:
        if password:
            left = ctx.passwords.locked_for()
            if left > 0:
                from risk_manager.admin.password_flows import locked_exit

                ctx.audit("login_locked", target="admin console", outcome="refused while locked")
                raise locked_exit(left)
            if not _is_dir(ctx.config_dir):
                raise AdminExit(
                    exits.NOT_FOUND,
                    f"Configuration directory not found: {ctx.config_dir}. Create it with: "
                    f'risk-manager init --config-dir "{ctx.config_dir}"',
                )
            if not ctx.passwords.is_set():
                raise AdminExit(
                    exits.AUTH, "No admin password is set. Run: risk-manager admin password setup"
                )
            secret = PasswordSource(ctx, from_stdin=password_stdin).current()
            if not verify_once(ctx, secret):
                raise AdminExit(exits.AUTH, "Wrong password.")
        code = action(ctx) or exits.OK
    except AdminExit as exc:
        ctx.ui.report(exc)
        code = exc.code
    except KeyboardInterrupt:
        ctx.ui.info("Cancelled by user.")
        code = exits.CANCELLED
    finally:
        ctx.drop_daemon()
    raise typer.Exit(code)
