"""Turn pydantic validation errors into ``ConfigIssue``s an admin can act on.

pydantic's own wording ("Input should be a valid integer") names neither the key nor what would be
accepted; here every message says what was expected and what was found, and unknown keys list the keys
that are allowed at that place.
"""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from risk_manager.config.fields import describe
from risk_manager.config.issues import ConfigIssue, PathPart, format_path
from risk_manager.config.yaml_source import YamlDocument

Loc = tuple[PathPart, ...]

_SIMPLE = {
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a string",
    "float_type": "expected a number",
    "dict_type": "expected a mapping (key: value)",
    "model_type": "expected a mapping (key: value)",
    "model_attributes_type": "expected a mapping (key: value)",
    "list_type": "expected a list",
    "is_instance_of": "expected a value of another type",
}


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(tp) if a is not type(None)]
            if len(rest) != 1:
                return tp
            tp = rest[0]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def allowed_keys(root: type[BaseModel], loc: Loc) -> list[str] | None:
    """Keys accepted by the mapping at ``loc`` under ``root`` (None if that place is not a model)."""
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if _is_model(tp):
            match = [f for name, f in tp.model_fields.items() if part in (name, f.alias)]
            if not match:
                return None
            tp = match[0].annotation
        elif get_origin(tp) is list and isinstance(part, int):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return _keys(tp) if _is_model(tp) else None


def _expected_literal(ctx: dict[str, Any]) -> str:
    return str(ctx.get("expected", "")).replace("'", "")


def _message(error: Any, root: type[BaseModel], loc: Loc, sensitive: bool) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    got = "" if sensitive else f", got {describe(value)}"
    if kind in ("config", "config_path"):
        return str(ctx["message"])
    if kind == "extra_forbidden":
        key = loc[-1]
        allowed = allowed_keys(root, loc[:-1])
        if not allowed:
            return f"unknown key {key!r}"
        text = f"unknown key {key!r} (expected one of: {', '.join(allowed)})"
        close = difflib.get_close_matches(str(key), allowed, n=1)
        return f"{text}; did you mean {close[0]!r}?" if close else text
    if kind == "missing":
        return f"missing required key {loc[-1]!r}" if loc else "missing required value"
    if kind == "literal_error":
        return f"expected {_expected_literal(ctx)}{got}"
    # The schema uses gt only on money and durations (numbers) and ge only on counts and ticks (integers).
    if kind == "greater_than":
        return f"expected a number greater than {ctx.get('gt')}{got}"
    if kind == "greater_than_equal":
        return f"expected an integer of at least {ctx.get('ge')}{got}"
    if kind == "less_than_equal":
        return f"expected at most {ctx.get('le')}{got}"
    if kind == "less_than":
        return f"expected less than {ctx.get('lt')}{got}"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind in _SIMPLE:
        return f"{_SIMPLE[kind]}{got}"
    return str(error.get("msg", "invalid value"))


def _clean_loc(raw: Loc) -> Loc:
    # pydantic marks errors in dict keys with a trailing "[key]"; the key itself already names the place.
    return tuple(p for p in raw if p != "[key]")


def issues_from_validation(
    exc: ValidationError,
    root: type[BaseModel],
    doc: YamlDocument,
    prefix: Loc = (),
    sensitive: bool = False,
) -> list[ConfigIssue]:
    """One issue per error; ``prefix`` places a nested document (a rule override) in its file."""
    issues = []
    for error in exc.errors(include_url=False):
        loc: Loc = _clean_loc(tuple(error["loc"]))
        if error["type"] == "config_path":
            loc = (*loc, *error["ctx"]["path"])
        full = (*prefix, *loc)
        message = _message(error, root, loc, sensitive)
        issues.append(ConfigIssue(doc.file, format_path(full), doc.line_of(full), message))
    return issues
