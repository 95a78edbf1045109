"""``risk-manager export``: enforcement log, lockouts, daily P&L, trades and audit log to CSV or JSON,
or one self-contained HTML dispute report per account and trading day (spec/daemon.md §12)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from risk_manager.cli.common import EXIT_OK


class Format(StrEnum):
    csv = "csv"
    json = "json"


def _plain_stdout() -> None:
    """Data on stdout: UTF-8 when it goes to a file or pipe (not the Windows code page), and no newline
    translation (CSV ends its lines with CRLF itself; Windows would otherwise turn that into CR CR LF)."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is None:
        return
    try:
        if sys.stdout.isatty():
            reconfigure(newline="")
        else:
            reconfigure(encoding="utf-8", newline="")
    except (ValueError, OSError):  # a stream that cannot change: written as it is
        pass


def _config(config_dir: Path | None) -> Any:
    """The configuration for the report's limit lines; a report is still made without it."""
    from risk_manager.cli.common import resolve_config_dir
    from risk_manager.config.loader import ConfigError, load_config

    try:
        return load_config(resolve_config_dir(config_dir))
    except (ConfigError, OSError) as exc:
        if config_dir is not None:
            first = exc.issues[0] if isinstance(exc, ConfigError) and exc.issues else exc
            typer.echo(f"warning: limits from the configuration left out ({first})", err=True)
        return None


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        what: Annotated[
            list[str] | None,
            typer.Option("--what", "--table", help="enforcement, lockouts, pnl, trades, audit or all "
                         "(repeat or separate with commas; default all)."),
        ] = None,
        account: Annotated[
            list[int] | None, typer.Option("--account", help="Only this account (repeatable).")
        ] = None,
        rule: Annotated[
            list[str] | None,
            typer.Option("--rule", help="Only this rule: RULE-003 or daily_realized_loss (repeatable)."),
        ] = None,
        since: Annotated[str | None, typer.Option("--since", help="First trading day, YYYY-MM-DD.")] = None,
        until: Annotated[str | None, typer.Option("--until", help="Last trading day, YYYY-MM-DD.")] = None,
        day: Annotated[str | None, typer.Option("--day", help="One trading day (same as --since D --until D).")] = None,
        fmt: Annotated[Format, typer.Option("--format", help="csv or json.")] = Format.csv,
        out: Annotated[
            Path | None, typer.Option("--out", help="File, or directory for several tables or --report (default stdout).")
        ] = None,
        report: Annotated[
            bool, typer.Option("--report", help="One self-contained HTML report per account and trading day.")
        ] = False,
        data_dir: Annotated[Path | None, typer.Option("--data-dir", help="The daemon's data directory.")] = None,
        db: Annotated[Path | None, typer.Option("--db", help="The database file itself.")] = None,
        config_dir: Annotated[
            Path | None, typer.Option("--config-dir", help="Configuration for the report's limit lines (optional).")
        ] = None,
    ) -> None:
        """Export the daemon's records from its database (read-only; safe while the daemon runs).

        Exit 0 done; 2 bad option or filter; 3 no readable database; 1 or 4 the output cannot be written.
        """
        from risk_manager.export.run import Request, find_database, run
        from risk_manager.export.source import ExportError, Filters, parse_day, parse_rule, parse_tables

        try:
            if day is not None and (since is not None or until is not None):
                raise ExportError(2, "--day cannot be combined with --since or --until")
            tables, explicit = parse_tables(what or [])
            if report and (explicit or fmt is not Format.csv):
                raise ExportError(2, "--report makes HTML with every table: leave out --what and --format")
            first = parse_day(day or since, "--day" if day else "--since")
            last = parse_day(day or until, "--day" if day else "--until")
            filters = Filters(
                accounts=tuple(dict.fromkeys(account or [])),
                rules=tuple(dict.fromkeys(parse_rule(r) for r in rule or [])),
                since=first,
                until=last,
                tables=tables,
                explicit_tables=explicit,
            )
            request = Request(
                db=find_database(db, data_dir),
                filters=filters,
                fmt=fmt.value,
                out=out,
                report=report,
                config=_config(config_dir) if report else None,
            )
            if out is None:
                _plain_stdout()
            written = run(request)
        except ExportError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.code) from None
        for path, count in written:
            unit = "report" if report else "row"
            typer.echo(f"wrote {path} ({count} {unit}{'s' * (count != 1)})", err=True)
        raise typer.Exit(EXIT_OK)
