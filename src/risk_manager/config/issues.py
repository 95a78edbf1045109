"""What went wrong in which file, at which key and line: the one error type of the config package."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PathPart = str | int


def format_path(parts: Iterable[PathPart]) -> str:
    """``("logins", 0, "accounts", 1, "id")`` -> ``logins[0].accounts[1].id``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem, e.g. ``accounts.yaml:12: logins[0].accounts[0].timezone: unknown time zone ...``."""

    file: str
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "path": self.path, "line": self.line, "message": self.message}


class ConfigError(Exception):
    """The configuration is invalid; ``issues`` lists every problem found, in file order."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))
