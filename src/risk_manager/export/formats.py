"""CSV and JSON output of exported tables.

CSV: one table per file, the database's columns as the header, every value as stored (NULL is an
empty cell; JSON columns stay their compact JSON text), so a spreadsheet shows exactly what the daemon
recorded. JSON: one document ``{"database", "exportedAt", "filters", "tables": {name: [row, ...]}}``;
numbers stay numbers, money stays decimal text, JSON columns become objects.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from risk_manager.export.source import TABLES, Filters
from risk_manager.store.codec import ts

Table = tuple[list[str], list[sqlite3.Row]]


def write_csv(out: IO[str], columns: Sequence[str], rows: Sequence[sqlite3.Row]) -> None:
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in columns])


def decoded(value: Any) -> Any:
    """A JSON column's text as its value (text that is not JSON is kept as it is)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # not JSON after all: kept as the text it is


def json_rows(name: str, columns: Sequence[str], rows: Sequence[sqlite3.Row]) -> list[dict[str, Any]]:
    json_columns = set(TABLES[name].json_columns)
    return [{c: (decoded(r[c]) if c in json_columns else r[c]) for c in columns} for r in rows]


def json_document(database: str, filters: Filters, tables: Mapping[str, Table]) -> dict[str, Any]:
    return {
        "database": database,
        "exportedAt": ts(datetime.now(UTC)),
        "filters": filters.to_dict(),
        "tables": {name: json_rows(name, cols, rows) for name, (cols, rows) in tables.items()},
    }


def write_json(out: IO[str], document: Mapping[str, Any]) -> None:
    json.dump(document, out, indent=1, ensure_ascii=False)
    out.write("\n")
