"""Read one YAML config file into plain Python data plus the line of every key and list item.

ruamel's round-trip loader keeps positions (``lc``); the data is converted to plain dicts, lists and
scalars so that validation never depends on ruamel's subclasses, and the positions are kept in a
``{key path: line}`` map used to point every error at its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent

from risk_manager.config.issues import ConfigIssue, PathPart

Path_ = tuple[PathPart, ...]
_DATE_TOKEN = re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b")
_DUPLICATE = re.compile(r'found duplicate key "(.*)" with value')


@dataclass
class YamlDocument:
    """A parsed file: ``data`` is ``None`` for an empty file."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """Line (1-based) of ``path`` or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


class YamlSyntaxError(Exception):
    def __init__(self, issue: ConfigIssue) -> None:
        self.issue = issue
        super().__init__(str(issue))


def _plain(node: Any, path: Path_, lines: dict[Path_, int]) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            key = _plain(key, path, {})
            child = (*path, key if isinstance(key, (str, int)) else str(key))
            try:
                lines[child] = node.lc.key(key)[0] + 1
            except (KeyError, TypeError, AttributeError):  # merged (<<) keys carry no position
                pass
            out[key] = _plain(value, child, lines)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = (*path, index)
            try:
                lines[child] = node.lc.item(index)[0] + 1
            except (KeyError, TypeError, AttributeError):
                pass
            items.append(_plain(value, child, lines))
        return items
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):  # ScalarInt, ScalarBoolean (an int subclass) handled above by bool
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, date):  # date or datetime (ruamel's TimeStamp is a datetime)
        return node
    return node


def _syntax_issue(file: str, exc: YAMLError) -> ConfigIssue:
    # The problem text only: ruamel's full message quotes the offending line, which could hold a secret.
    line: int | None = None
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        if isinstance(exc, DuplicateKeyError):
            match = _DUPLICATE.search(exc.problem or "")
            key = match.group(1) if match else "?"
            first = exc.context_mark.line + 1 if exc.context_mark is not None else None
            where = f" in the mapping starting at line {first}" if first else ""
            return ConfigIssue(file, "", line, f"duplicate key {key!r}{where}")
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        return ConfigIssue(file, "", line, f"YAML syntax error: {problem}{context}")
    return ConfigIssue(file, "", line, "YAML syntax error")


def _bad_date(text: str) -> tuple[int | None, str | None]:
    """Line and text of the first date-shaped token that is not a real date (ruamel gives no position)."""
    for number, line in enumerate(text.splitlines(), start=1):
        for match in _DATE_TOKEN.finditer(line.split("#", 1)[0]):
            try:
                date.fromisoformat(match.group(0))
            except ValueError:
                return number, match.group(0)
    return None, None


def _refuse_aliases(yaml: YAML, text: str, file: str) -> None:
    """Aliases (``*name``, also in ``<<: *name`` merges) are refused before anything is built: a few
    hundred bytes of nested aliases expand to millions of nodes (a "YAML bomb"), and a config file
    never needs them. The event stream is read without expanding anything."""
    for event in yaml.parse(text):
        if isinstance(event, AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark is not None else None
            raise YamlSyntaxError(
                ConfigIssue(
                    file,
                    "",
                    line,
                    f"YAML alias '*{event.anchor}' is not allowed in configuration files; "
                    "write the values out in full",
                )
            )


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse ``text`` (the contents of ``file``); raise ``YamlSyntaxError`` with the line on bad YAML."""
    yaml = YAML(typ="rt")
    try:
        _refuse_aliases(yaml, text, file)
        node = yaml.load(text)
    except YAMLError as exc:
        raise YamlSyntaxError(_syntax_issue(file, exc)) from None
    except (ValueError, TypeError) as exc:  # e.g. an impossible date such as 2026-02-30
        line, token = _bad_date(text)
        what = f"invalid date {token!r} ({exc})" if token else f"invalid value ({exc})"
        raise YamlSyntaxError(ConfigIssue(file, "", line, what)) from None
    lines: dict[Path_, int] = {}
    return YamlDocument(file, _plain(node, (), lines), lines)


def decode(raw: bytes, file: str) -> str:
    """UTF-8 text (a BOM from Windows Notepad is fine); a non-UTF-8 file is an issue with its line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlSyntaxError(
            ConfigIssue(
                file, "", line, f"not valid UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
            )
        ) from None
