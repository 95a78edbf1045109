"""Deep merge of per-account rule overrides over the global rules."""

from __future__ import annotations

from typing import Any


def deep_merge(base: Any, override: Any) -> Any:
    """``override`` over ``base``: mappings merge key by key, anything else (lists too) replaces.

    So ``{max_contracts: {limit: 3}}`` keeps the global ``count_type``, while ``blocked_symbols: [ES]``
    replaces the whole list rather than appending to it. Neither argument is modified.
    """
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return override
