"""Money in and out: what :func:`is_money` accepts and how :func:`format_money` writes it, whatever
the form of the Decimal (an exponent, trailing zeros, negative zero)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.engine.money import format_money, is_money

MONEY_TEXT = re.compile(r"-?[0-9]+\.[0-9]{2}")


@given(n=st.integers(-(10**12), 10**12), exponent=st.integers(-2, 6), zeros=st.integers(0, 6))
def test_format_money_writes_two_decimals_of_the_value(n: int, exponent: int, zeros: int) -> None:
    """Any form of an amount of money (``12E+3``, ``12.50``, ``12.500000``): exactly two decimals,
    the same value, never an exponent."""
    value = Decimal(n).scaleb(exponent)
    if zeros:
        value = value.quantize(Decimal(1).scaleb(-2 - zeros))
    assert is_money(value)
    text = format_money(value)
    assert MONEY_TEXT.fullmatch(text), text
    assert Decimal(text) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [("12.5", "12.50"), ("12.500", "12.50"), ("1E+2", "100.00"), ("0", "0.00"), ("-0.00", "-0.00"), ("-3.10", "-3.10")],
)
def test_format_money(value: str, text: str) -> None:
    assert format_money(Decimal(value)) == text


@pytest.mark.parametrize(
    ("value", "money"),
    [
        ("12.50", True),
        ("12.5", True),
        ("12", True),
        ("1E+2", True),
        ("12.500", True),
        ("12.501", False),
        ("0.001", False),
        ("NaN", False),
        ("Infinity", False),
        ("-0.00", True),
    ],
)
def test_is_money(value: str, money: bool) -> None:
    assert is_money(Decimal(value)) is money
