"""Exact money and price handling.

Broker JSON carries prices as binary floats; converting through ``repr`` recovers the decimal the
broker meant (21000.25 stays 21000.25), so no breach can flip on float error.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

ZERO = Decimal(0)
CENT = Decimal("0.01")


def to_decimal(value: object) -> Decimal:
    """Convert a JSON number or numeric string to Decimal exactly as written; raises ValueError."""
    if isinstance(value, Decimal):
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


def fmt_money(value: Decimal) -> str:
    """Money for reasons and logs: two decimals (more only if the value has more)."""
    if value == value.quantize(CENT):
        return f"{value.quantize(CENT)}"
    return f"{value.normalize():f}"


def fmt_price(value: Decimal, tick_size: Decimal | None = None) -> str:
    """A price with as many decimals as the tick size has (0.25 -> 2, 0.1 -> 1, 1 -> 0)."""
    if tick_size is not None:
        exponent = tick_size.normalize().as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        return f"{value:.{places}f}"
    return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"


def round_to_tick(price: Decimal, tick_size: Decimal, *, down: bool) -> Decimal:
    """Snap a price onto the tick grid, rounding down (toward less) or up."""
    ticks = (price / tick_size).to_integral_value(rounding=ROUND_FLOOR if down else ROUND_CEILING)
    return ticks * tick_size
