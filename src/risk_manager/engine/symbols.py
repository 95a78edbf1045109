"""Symbol canonicalisation: which product a contract belongs to (spec/rules.md §1.6)."""

from __future__ import annotations

import re
from functools import lru_cache

# Contract-id roots that differ from the product symbol traders use.
ROOT_ALIASES = {
    "EP": "ES",
    "ENQ": "NQ",
    "NQM": "QM",
    "NQG": "QG",
    "EU6": "6E",
    "GMET": "MET",
    "CLE": "CL",
    "GCE": "GC",
    "MCLE": "MCL",
}

# Month code + 1-2 year digits at the end of a contract name: MNQZ5, ESH6, 6EU5, MNQZ25.
_NAME_SUFFIX = re.compile(r"^(?P<root>.+?)[FGHJKMNQUVXZ]\d{1,2}$")


def contract_root(contract_id: str) -> str:
    """The raw root in a contract id (``CON.F.US.EP.Z25`` -> ``EP``); the id itself if not dotted."""
    parts = contract_id.split(".")
    return parts[3].upper() if len(parts) >= 5 else contract_id.upper()


@lru_cache(maxsize=4096)
def canonical_symbol(contract_id: str, name: str | None = None) -> str:
    """The product symbol of a contract: from its name when known, else from its id via aliases."""
    if name:
        match = _NAME_SUFFIX.match(name.strip().upper())
        if match:
            return match.group("root")
        return name.strip().upper()
    root = contract_root(contract_id)
    return ROOT_ALIASES.get(root, root)


def symbol_matches(configured: str, contract_id: str, name: str | None = None) -> bool:
    """Whether a configured symbol names this contract (canonical symbol or raw root; ES never MES)."""
    wanted = configured.upper()
    return wanted == canonical_symbol(contract_id, name) or wanted == contract_root(contract_id)
