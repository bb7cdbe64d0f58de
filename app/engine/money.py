"""Money and ratios: exact decimals, one rounding function.

Money is yuan.fen: a ``Decimal`` with exactly two places.  The only rounding in the
settlement is :func:`round_money` (ROUND_HALF_UP to 0.01), called exactly where the
rules say.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
ONE = Decimal("1")
#: NUMERIC(16,2): 14 integer digits.
MONEY_MAX = Decimal("99999999999999.99")


def round_money(value: Decimal) -> Decimal:
    """Round to the fen, half up.  The one rounding function of the service."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


#: Significant digits of a quotient before its rounding: far more than money's 16 digits plus
#: the three decimals that decide a half-up rounding to the fen.
_QUOTIENT_DIGITS = 60


def round_quotient(dividend: Decimal, divisor: Decimal) -> Decimal:
    """``round_money(dividend / divisor)`` with the quotient computed exactly.

    A decimal division rounds its quotient to the context's precision, and that rounding could in
    principle carry a quotient just below a half fen up to it.  Cut toward zero instead, the
    quotient keeps every digit down to well below the fen, and rounding half up to the fen depends
    on those digits only: so this is :func:`round_money` applied to the exact quotient.
    """
    with localcontext() as ctx:
        ctx.prec = _QUOTIENT_DIGITS
        ctx.rounding = ROUND_DOWN
        quotient = dividend / divisor
    return round_money(quotient)


def is_money(value: Decimal) -> bool:
    """True when ``value`` is finite and has at most two decimal places (``12.500`` is fine)."""
    if value.same_quantum(CENT):  # exactly two places, the usual case (false for NaN and infinity)
        return True
    if not value.is_finite():
        return False
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return exponent >= -2 or value == value.quantize(CENT)


def as_money(value: Decimal) -> Decimal:
    """Normalise a value already known to be money to exactly two places (no rounding)."""
    return value.quantize(CENT)


def format_money(value: Decimal) -> str:
    """Money as every response and a settlement's stored detail write it: exactly two decimals."""
    if value.same_quantum(CENT):
        # Already yuan.fen (every rounded or stored amount): ``str`` writes it the same, never
        # with an exponent at two places, in a third of the time.
        return str(value)
    return f"{value:.2f}"


def format_ratio(value: Decimal) -> str:
    """A ratio as a decimal string with at least two places: ``0.75``, ``0.925``, ``1.00``."""
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent > -2:
        value = value.quantize(CENT)
    return f"{value:f}"  # never an exponent (str() writes 1E-7)
