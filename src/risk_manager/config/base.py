"""The base every config model shares: strict, closed, immutable; plus the weekday vocabulary.

Kept apart from ``models.py`` so that the rule blocks of issue 15 (``rules_extra.py``) and the
settings lock can build on it without ``models.py`` growing past one screenful per concern.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAY_NUMBERS: dict[str, int] = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
WEEKDAYS: tuple[DayName, ...] = ("mon", "tue", "wed", "thu", "fri")


def none_is_empty(value: Any) -> Any:
    # ``api_keys:`` with every entry commented out is YAML null; it means "none", not a type error.
    return {} if value is None else value


def none_is_no_items(value: Any) -> Any:
    return [] if value is None else value


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, no type coercion, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
