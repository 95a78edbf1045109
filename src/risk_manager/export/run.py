"""``risk-manager export`` without the command line: choose the database, read, write the files.

Where the output goes: without ``--out``, stdout (one CSV table, or the JSON document); ``--out FILE``
for one CSV table or the JSON document; ``--out DIRECTORY`` (existing, or several CSV tables, or
``--report``) for one file per table (``enforcement.csv`` ...) or per report
(``risk-report-{account}-{day}.html``). Files are written whole or not at all (temporary name, then
renamed), so an interrupted export leaves no half file behind.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

from risk_manager.exit_codes import EXIT_DATABASE, EXIT_INVALID_CONFIG, EXIT_RIGHTS, EXIT_RUNTIME
from risk_manager.export import formats
from risk_manager.export.html_report import render
from risk_manager.export.report_data import load_day, report_days
from risk_manager.export.source import (
    ExportError,
    Filters,
    check_accounts,
    check_filters,
    open_readonly,
    rows,
)

DB_NAME = "risk.db"


@dataclass(frozen=True)
class Request:
    db: Path
    filters: Filters
    fmt: str = "csv"  # "csv" | "json"
    out: Path | None = None
    report: bool = False
    config: Any = None  # an AppConfig for the report's limit lines, when readable


def find_database(db: Path | None, data_dir: Path | None) -> Path:
    """``--db``, else ``--data-dir``/risk.db, else the console data directory (or its environment
    override), else the service's data directory - the first that holds a database."""
    if db is not None:
        return db
    if data_dir is not None:
        return data_dir / DB_NAME
    from risk_manager.paths import default_data_dir

    candidates = [default_data_dir() / DB_NAME, default_data_dir(mode="service") / DB_NAME]
    for path in candidates:
        if path.is_file():
            return path
    raise ExportError(
        EXIT_DATABASE,
        "no database found at " + " or ".join(str(p) for p in candidates)
        + " (give the daemon's data directory with --data-dir, or the file with --db)",
    )


def _write_file(path: Path, write: Callable[[IO[str]], None]) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("w", encoding="utf-8", newline="") as fh:
            write(fh)
        os.replace(temporary, path)
    except PermissionError:
        temporary.unlink(missing_ok=True)
        raise ExportError(EXIT_RIGHTS, f"cannot write {path}: permission denied") from None
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ExportError(EXIT_RUNTIME, f"cannot write {path}: {exc.strerror or exc}") from None


def _directory(out: Path | None, default: Path | None, why: str) -> Path:
    target = out if out is not None else default
    if target is None:
        raise ExportError(EXIT_INVALID_CONFIG, why)
    if target.exists() and not target.is_dir():
        raise ExportError(EXIT_INVALID_CONFIG, f"--out {target}: is a file; {why}")
    return target


def run(request: Request, stdout: IO[str] | None = None) -> list[tuple[Path, int]]:
    """Export; returns ``(file written, rows or reports in it)`` (empty when writing to stdout)."""
    stdout = stdout or sys.stdout
    filters = request.filters
    check_filters(filters)
    conn = open_readonly(request.db)
    try:
        check_accounts(conn, filters.accounts, request.db)
        if request.report:
            return _reports(conn, request)
        tables = {name: rows(conn, name, filters) for name in filters.tables}
    finally:
        conn.close()
    out = request.out
    if request.fmt == "json":
        document = formats.json_document(str(request.db), filters, tables)
        count = sum(len(r) for _, r in tables.values())
        if out is None:
            formats.write_json(stdout, document)
            return []
        target = out / "risk-manager-export.json" if out.is_dir() else out
        _write_file(target, lambda fh: formats.write_json(fh, document))
        return [(target, count)]
    if len(tables) == 1 and (out is None or not out.is_dir()):
        (columns, found), = tables.values()
        if out is None:
            formats.write_csv(stdout, columns, found)
            return []
        _write_file(out, lambda fh: formats.write_csv(fh, columns, found))
        return [(out, len(found))]
    directory = _directory(
        out, None, "CSV holds one table per file: choose one with --what, or give --out DIRECTORY for one file per table"
    )
    written = []
    for name, (columns, found) in tables.items():
        target = directory / f"{name}.csv"
        _write_file(target, partial(_csv, columns=columns, found=found))
        written.append((target, len(found)))
    return written


def _csv(fh: IO[str], *, columns: list[str], found: list[Any]) -> None:
    formats.write_csv(fh, columns, found)


def _text(fh: IO[str], *, text: str) -> None:
    fh.write(text)


def _reports(conn: Any, request: Request) -> list[tuple[Path, int]]:
    directory = _directory(request.out, Path.cwd(), "--report writes one HTML file per account and day into a directory")
    days = report_days(conn, request.filters)
    if not days:
        raise ExportError(EXIT_RUNTIME, "no trading day in the database matches the filters: no report written")
    written = []
    for account_id, day in days:
        html = render(load_day(conn, account_id, day, request.config), str(request.db))
        target = directory / f"risk-report-{account_id}-{day.isoformat()}.html"
        _write_file(target, partial(_text, text=html))
        written.append((target, 1))
    return written
