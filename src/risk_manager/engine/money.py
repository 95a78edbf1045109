"""Exact money and price handling.

Broker JSON carries prices as binary floats; converting through ``repr`` recovers the decimal the
broker meant (21000.25 stays 21000.25), so no breach can flip on float error.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal

ZERO = Decimal(0)
CENT = Decimal("0.01")


def to_decimal(value: object) -> Decimal:
    """Convert a JSON number or numeric string to Decimal exactly as written; raises ValueError."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"expected a finite number, got {value!r}")
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"expected a finite number, got {value!r}")
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except ArithmeticError:
            raise ValueError(f"expected a number, got {value!r}") from None
        if not result.is_finite():
            raise ValueError(f"expected a finite number, got {value!r}")
        return result
    raise ValueError(f"expected a number, got {value!r}")


#: Formatting works in a context wide enough for any plain value it prints, so it never raises
#: (the default context's 28 digits make ``Decimal("-1e30").quantize(CENT)`` raise InvalidOperation).
_WIDE = Context(prec=100)
#: Beyond these magnitudes a number is printed in scientific notation: no real account shows such
#: values (``plausible.py`` rejects them at parsing), but a reason or a view must still be printable.
_PLAIN_MAX_EXP = 30
_PLAIN_MIN_EXP = -30


def _unprintable(value: Decimal) -> str | None:
    """The text for a value that plain formatting cannot show, or None when it can."""
    if not isinstance(value, Decimal):  # defensive: callers pass Decimals, a slip must not raise
        return str(value)
    if not value.is_finite():
        return "NaN" if value.is_nan() else str(value)
    if value and (value.adjusted() > _PLAIN_MAX_EXP or value.adjusted() < _PLAIN_MIN_EXP):
        return f"{value:.6E}"
    return None


def fmt_money(value: Decimal) -> str:
    """Money for reasons and logs: two decimals (more only if the value has more). Never raises."""
    odd = _unprintable(value)
    if odd is not None:
        return odd
    cents = value.quantize(CENT, context=_WIDE)
    if value == cents:
        return f"{cents}"
    return f"{value.normalize(_WIDE):f}"


def fmt_cents(value: Decimal) -> str:
    """Money for display: rounded half-even to the cent (decisions use the exact value). Never raises."""
    odd = _unprintable(value)
    if odd is not None:
        return odd
    return f"{value.quantize(CENT, rounding=ROUND_HALF_EVEN, context=_WIDE)}"


def fmt_price(value: Decimal, tick_size: Decimal | None = None) -> str:
    """A price with as many decimals as the tick size has (0.25 -> 2, 0.1 -> 1, 1 -> 0). Never raises."""
    odd = _unprintable(value)
    if odd is not None:
        return odd
    if tick_size is not None and tick_size.is_finite():
        exponent = tick_size.normalize(_WIDE).as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        return f"{value:.{min(places, -_PLAIN_MIN_EXP)}f}"
    return f"{value.normalize(_WIDE):f}" if value == value.to_integral_value() else f"{value:f}"


def round_to_tick(price: Decimal, tick_size: Decimal, *, down: bool) -> Decimal:
    """Snap a price onto the tick grid, rounding down (toward less) or up."""
    ticks = (price / tick_size).to_integral_value(rounding=ROUND_FLOOR if down else ROUND_CEILING)
    return ticks * tick_size
