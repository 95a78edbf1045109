"""Parsing what an admin types into config values (admin-cli.md §8.1), with the spec's error texts.

Each parser turns text into the value written to YAML (money as a two-decimal float that reads back
as exactly that decimal, times as quoted ``"HH:MM"``) or raises ``InputError`` with the message shown
before the field is asked again. The final word is always the config model's validation; these
parsers give the friendlier message first.
"""

from __future__ import annotations

import difflib
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarfloat import ScalarFloat
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KNOWN_SYMBOLS = frozenset(
    "ES MES NQ MNQ RTY M2K YM MYM EMD CL MCL QM NG QG RB HO GC MGC SI SIL HG MHG PL PA "
    "6E M6E 6B M6B 6J 6A M6A 6C 6S 6N 6M ZB ZN ZF ZT UB TN ZC ZS ZW ZL ZM HE LE GF "
    "BTC MBT ETH MET".split()
)
_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s?)?$")
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


class InputError(ValueError):
    """What was wrong with the typed value (shown, then the same field is asked again)."""


# ----- scalars ------------------------------------------------------------------------------------------
def parse_int(text: str, *, minimum: int | None = 1, maximum: int | None = None) -> int:
    cleaned = text.strip().replace("_", "").replace(",", "")
    if not re.fullmatch(r"-?\d+", cleaned):
        raise InputError("must be a whole number")
    value = int(cleaned)
    if minimum is not None and value < minimum:
        raise InputError(f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise InputError(f"must be at most {maximum}")
    return value


def parse_percents(text: str, *, maximum: int = 99) -> list[int]:
    """``50, 75`` -> ``[50, 75]``: warning levels in percent of a limit, ascending, no repeats."""
    parts = [p for p in re.split(r"[,\s]+", text.strip().replace("%", "")) if p]
    if not parts:
        raise InputError("give one or more percentages, e.g. 50, 75 (or off)")
    return sorted({parse_int(p, minimum=1, maximum=maximum) for p in parts})


def money_value(amount: Decimal) -> ScalarFloat:
    """A YAML float printed with exactly two decimals (``400.00``) that reads back as that decimal."""
    text = f"{amount:.2f}"
    value: ScalarFloat = ScalarFloat(float(text), width=len(text), prec=text.index("."))
    return value


def parse_money(text: str) -> ScalarFloat:
    cleaned = text.strip().replace("$", "").replace(",", "").replace("_", "").replace(" ", "")
    if cleaned.startswith(("-", "−")):
        shown = cleaned.lstrip("-−")
        raise InputError(f"must be a positive amount (enter {shown or '500'}, not -{shown or '500'})")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InputError("must be a positive amount such as 500 or 1,250.00") from None
    if not value.is_finite() or value <= 0:
        raise InputError("must be a positive amount (greater than 0)")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise InputError("more than 2 decimals")
    return money_value(value)


def parse_duration(text: str) -> int:
    """``300``, ``90s``, ``15m``, ``1h30m`` -> seconds."""
    cleaned = text.strip().lower().replace(" ", "")
    match = _DURATION.match(cleaned)
    if not cleaned or match is None or not any(match.groupdict().values()):
        raise InputError("must be a duration such as 300, 15m or 1h30m")
    h, m, s = (int(match.group(k) or 0) for k in ("h", "m", "s"))
    seconds = h * 3600 + m * 60 + s
    if seconds <= 0:
        raise InputError("must be > 0")
    return seconds


def format_duration(seconds: int) -> str:
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s else ""]
    return "".join(parts) or "0s"


def parse_time(text: str) -> DoubleQuotedScalarString:
    match = _HHMM.match(text.strip())
    if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
        quoted: DoubleQuotedScalarString = DoubleQuotedScalarString(
            f"{int(match.group(1)):02d}:{match.group(2)}"
        )
        return quoted
    raise InputError("must be HH:MM (00:00–23:59)")


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    from zoneinfo import available_timezones

    return {name.lower(): name for name in available_timezones()}


def parse_timezone(text: str) -> str:
    name = text.strip()
    zones = _zones()
    found = zones.get(name.lower())
    if found:
        return found
    close = difflib.get_close_matches(name.lower(), list(zones), n=1, cutoff=0.5)
    hint = (
        f"; did you mean {zones[close[0]]}?" if close else " (expected an IANA name such as America/Chicago)"
    )
    raise InputError(f"unknown timezone{hint}")


def parse_choice(text: str, choices: tuple[str, ...]) -> str:
    cleaned = text.strip()
    if cleaned.isdigit() and 1 <= int(cleaned) <= len(choices):
        return choices[int(cleaned) - 1]
    for choice in choices:
        if cleaned.lower() == choice.lower():
            return choice
    raise InputError(f"choose 1–{len(choices)} ({', '.join(choices)})")


def parse_bool(text: str) -> bool:
    cleaned = text.strip().lower()
    if cleaned in ("y", "yes", "true", "on", "1"):
        return True
    if cleaned in ("n", "no", "false", "off", "0"):
        return False
    raise InputError("must be y/n (true/false)")


# ----- collections --------------------------------------------------------------------------------------
def _symbols(text: str) -> list[str]:
    return [s.upper() for s in re.split(r"[,\s]+", text.strip()) if s]


def parse_symbol_list(text: str) -> tuple[list[str], list[str]]:
    """``mnq, es`` -> ``[MNQ, ES]`` plus warnings for symbols this console does not know."""
    symbols: list[str] = []
    for s in _symbols(text):
        if not re.fullmatch(r"[A-Z0-9]{1,8}", s):
            raise InputError(f'"{s}" is not a symbol (letters and digits, e.g. MNQ)')
        if s not in symbols:
            symbols.append(s)
    warnings = [f'unknown symbol "{s}"' for s in symbols if s not in KNOWN_SYMBOLS]
    return symbols, warnings


def parse_symbol_map(text: str, current: dict[str, int]) -> tuple[dict[str, int], list[str]]:
    """``MNQ=2, ES=1`` sets keys, ``-ES`` removes one; the rest of ``current`` stays."""
    result = dict(current)
    warnings: list[str] = []
    for part in [p for p in re.split(r"[,\s]+", text.strip()) if p]:
        if part.startswith("-"):
            result.pop(part[1:].upper(), None)
            continue
        symbol, sep, number = part.partition("=")
        symbol = symbol.strip().upper()
        if not sep or not symbol:
            raise InputError(f'"{part}": expected SYMBOL=N such as MNQ=2 (or -ES to remove ES)')
        try:
            value = parse_int(number, minimum=1)
        except InputError:
            raise InputError(f"value for {symbol} must be a whole number ≥ 1") from None
        result[symbol] = value
        if symbol not in KNOWN_SYMBOLS:
            warnings.append(f'unknown symbol "{symbol}"')
    return result, warnings


def parse_days(text: str) -> list[str]:
    out: list[str] = []
    for part in [p.lower()[:3] for p in re.split(r"[,\s]+", text.strip()) if p]:
        if part not in DAYS:
            raise InputError(f"unknown day {part!r} (use {', '.join(DAYS)})")
        if part not in out:
            out.append(part)
    if not out:
        raise InputError("at least one day (mon, tue, wed, thu, fri, sat, sun)")
    return out


def parse_tiers(lines: list[str]) -> CommentedSeq:
    """One tier per line, ``100 15m`` (loss amount, cooldown); amounts must increase."""
    tiers = CommentedSeq()
    previous: Decimal | None = None
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if len(parts) != 2:
            raise InputError(f"tier {number}: expected a loss amount and a duration, e.g. 100 15m")
        try:
            amount = parse_money(parts[0])
            seconds = parse_duration(parts[1])
        except InputError as exc:
            raise InputError(f"tier {number}: {exc}") from None
        value = Decimal(f"{amount:.2f}")
        if previous is not None and value <= previous:
            raise InputError(f"tier {number}: amounts must increase ({value} after {previous})")
        previous = value
        tier = CommentedMap([("loss_amount", amount), ("cooldown_seconds", seconds)])
        tier.fa.set_flow_style()
        tiers.append(tier)
    if not tiers:
        raise InputError("at least one tier (or disable the rule)")
    return tiers


def parse_symbol_action(text: str) -> str:
    cleaned = text.strip().lower().replace(" ", "")
    if cleaned in ("block", "allow_unlimited"):
        return cleaned
    if cleaned.isdigit() and int(cleaned) >= 1:
        return f"allow_with_limit:{int(cleaned)}"
    head, _, tail = cleaned.partition(":")
    if head == "allow_with_limit" and tail.isdigit() and int(tail) >= 1:
        return f"allow_with_limit:{int(tail)}"
    raise InputError("expected block, allow_unlimited, allow_with_limit:N or a number N ≥ 1")


def parse_windows(lines: list[str], current: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Per-symbol sessions, one per line: ``ES 17:00 16:00 [Zone] [days]``; ``-ES`` removes ES."""
    result = dict(current)
    warnings: list[str] = []
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        if parts[0].startswith("-"):
            result.pop(parts[0][1:].upper(), None)
            continue
        if len(parts) < 3:
            raise InputError(f'"{line}": expected SYMBOL START END [TIMEZONE] [DAYS], e.g. ES 17:00 16:00')
        symbol = parts[0].upper()
        window = CommentedMap([("start", parse_time(parts[1])), ("end", parse_time(parts[2]))])
        rest = parts[3:]
        if rest and "/" in rest[0] or (rest and rest[0].upper() == "UTC"):
            window["timezone"] = parse_timezone(rest.pop(0))
        else:
            window["timezone"] = "America/Chicago"
        if rest:
            days = CommentedSeq(parse_days(",".join(rest)))
            days.fa.set_flow_style()
            window["days"] = days
        window.fa.set_flow_style()
        result[symbol] = window
        if symbol not in KNOWN_SYMBOLS:
            warnings.append(f'unknown symbol "{symbol}"')
    return result, warnings
