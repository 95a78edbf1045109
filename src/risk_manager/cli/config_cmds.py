"""``risk-manager init`` and ``risk-manager config check``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from risk_manager.cli.common import EXIT_OK, EXIT_RIGHTS, EXIT_RUNTIME, config_dir_option, resolve_config_dir

# `config check` reports an invalid configuration with exit code 1 (the issue's wording; daemon start
# uses 2 for the same condition).
EXIT_CHECK_FAILED = 1


def _init(config_dir: Path | None, force: bool) -> None:
    from risk_manager.config.scaffold import write_templates

    directory = resolve_config_dir(config_dir)
    try:
        written = write_templates(directory, force=force)
    except PermissionError as exc:
        typer.echo(
            f"error: cannot write {exc.filename or directory}: permission denied. "
            "Run as an administrator (root), or choose another directory with --config-dir.",
            err=True,
        )
        raise typer.Exit(EXIT_RIGHTS) from None
    except OSError as exc:
        typer.echo(f"error: cannot write {exc.filename or directory}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_RUNTIME) from None
    typer.echo(f"Configuration directory: {directory}")
    for item in written:
        verb = {"kept": "skipped", "created": "wrote", "overwritten": "replaced"}[item.status]
        note = " (already exists; --force overwrites it)" if item.status == "kept" else ""
        typer.echo(f"  {verb:<8} {item.path.name}{note}")
    typer.echo("Next steps:")
    typer.echo("  1. accounts.yaml: your TopstepX user_name and account ids.")
    typer.echo("  2. secrets.yaml: your API key (keep the file private).")
    typer.echo("  3. risk_config.yaml: your limits.")
    typer.echo(f'  4. Check: risk-manager config check --config-dir "{directory}"')


def _print_summary(summary: dict[str, Any]) -> None:
    from risk_manager.config.models import RULE_KEYS

    echo = typer.echo
    echo(f"Configuration OK: {summary['config_dir']}")
    gateway = summary["gateway"]
    echo(f"Gateway: {gateway['environment']} ({gateway['api_url']})")
    echo(f"Logins: {len(summary['logins'])}")
    for login in summary["logins"]:
        echo(f"  {login['name']}  {login['user_name']}  API key: {login['api_key']}")
    accounts = summary["accounts"]
    enabled = sum(1 for a in accounts if a["enabled"])
    echo(f"Accounts: {len(accounts)} ({enabled} enabled)")
    for account in accounts:
        flags = "".join(
            f"  [{flag}]"
            for flag, on in (("disabled", not account["enabled"]), ("observe-only", account["observe_only"]))
            if on
        )
        echo(
            f'  {account["id"]}  "{account["name"]}"  login {account["login"]}  '
            f"reset {account['reset_time']} {account['timezone']}{flags}"
        )
        if account["overrides"]:
            echo(f"    overrides: {', '.join(account['overrides'])}")
        rules = account["rules"]
        echo(f"    rules enabled: {len(rules)} of {len(RULE_KEYS)}")
        for rule in rules:
            echo(f"      {rule['rule']} {rule['key']}: {rule['summary']}")
    holidays = summary["holidays"]
    echo(f"Holidays: {holidays['count']}")
    daemon = summary["daemon"]
    echo(f"Daemon: local API {daemon['api']}, log level {daemon['log_level']}")
    notifications = summary["notifications"]
    targets = ([f"webhook {notifications['webhook']}"] if notifications["webhook"] else []) + [
        f"{t['url']} ({t['subjects'] if t['subjects'] == 'all' else ', '.join(t['subjects'])})"
        for t in notifications["apprise"]
    ]
    echo(f"Notifications: {len(targets) or 'none'}")
    for target in targets:
        echo(f"  {target}")


def _check(config_dir: Path | None, as_json: bool) -> None:
    from risk_manager.config.loader import ConfigError, load_config
    from risk_manager.config.summary import summarize

    directory = resolve_config_dir(config_dir)
    try:
        config = load_config(directory)
    except ConfigError as exc:
        if as_json:
            payload = {"ok": False, "config_dir": str(directory), "errors": [i.to_dict() for i in exc.issues]}
            typer.echo(json.dumps(payload, indent=2))
        else:
            count = len(exc.issues)
            typer.echo(f"Invalid configuration in {directory}: {count} problem{'s' * (count != 1)}", err=True)
            for issue in exc.issues:
                typer.echo(f"  {issue}", err=True)
        raise typer.Exit(EXIT_CHECK_FAILED) from None
    summary = summarize(config)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        raise typer.Exit(EXIT_OK)
    _print_summary(summary)
    for warning in config.warnings:
        typer.echo(f"warning: {warning}", err=True)
    for user in summary["missing_api_keys"]:
        typer.echo(
            f"warning: no API key for login {user} (add it to secrets.yaml); "
            "the service will not start without it",
            err=True,
        )


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        config_dir: config_dir_option = None,
        force: Annotated[
            bool, typer.Option("--force", help="Overwrite existing config files with the templates.")
        ] = False,
    ) -> None:
        """Create the config directory with commented template files (existing files are kept)."""
        _init(config_dir, force)

    config_app = typer.Typer(name="config", help="Inspect the configuration.", no_args_is_help=True)

    @config_app.command("check")
    def check(
        config_dir: config_dir_option = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
    ) -> None:
        """Validate every config file; list every problem (exit 1) or summarize what is configured."""
        _check(config_dir, as_json)

    app.add_typer(config_app, name="config")
