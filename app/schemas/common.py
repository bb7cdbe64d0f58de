"""Shared field types: money and ratios in, money and ratios out."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, model_validator

from app.engine.money import MONEY_MAX, as_money, format_ratio, is_money


def _money(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a number")
    if not is_money(value):
        raise ValueError("money must have at most two decimals (yuan.fen)")
    if abs(value) > MONEY_MAX:
        raise ValueError(f"money must be at most {MONEY_MAX}")
    return as_money(value)


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _ratio(value: Decimal) -> Decimal:
    if not value.is_finite() or not (Decimal(0) <= value <= Decimal(1)):
        raise ValueError("a ratio must be between 0 and 1")
    return value


def _delta(value: Decimal) -> Decimal:
    if not value.is_finite() or not (Decimal(-1) <= value <= Decimal(1)):
        raise ValueError("a ratio delta must be between -1 and 1")
    return value


_MONEY_IN_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\d{1,14}(\.\d{1,2})?$"},
        {"type": "number", "minimum": 0, "maximum": 99999999999999.99, "multipleOf": 0.01},
    ],
    "examples": ["1234.50"],
}
_RATIO_IN_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": r"^(0(\.\d+)?|1(\.0+)?)$"}, {"type": "number", "minimum": 0, "maximum": 1}],
    "examples": ["0.85"],
}

#: Money in a request: a string or a number with at most two decimals, not negative.
MoneyIn = Annotated[Decimal, AfterValidator(_money), AfterValidator(_non_negative), WithJsonSchema(_MONEY_IN_SCHEMA)]
#: Money the engine validates itself (bill lines), documented like ``MoneyIn``.
MoneyRaw = Annotated[Decimal, WithJsonSchema(_MONEY_IN_SCHEMA)]
#: A ratio in a request, between 0 and 1.
RatioIn = Annotated[Decimal, AfterValidator(_ratio), WithJsonSchema(_RATIO_IN_SCHEMA)]
#: An off-site ratio delta, in ratio points (usually <= 0).
DeltaIn = Annotated[
    Decimal,
    AfterValidator(_delta),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^-?(0(\.\d+)?|1(\.0+)?)$"},
                {"type": "number", "minimum": -1, "maximum": 1},
            ]
        }
    ),
]

_MONEY_OUT_SCHEMA = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["1234.50"]}
#: Money in a response: a string with exactly two decimals.
MoneyOut = Annotated[Decimal, PlainSerializer(lambda d: f"{d:.2f}", return_type=str), WithJsonSchema(_MONEY_OUT_SCHEMA)]
RatioOut = Annotated[
    Decimal,
    PlainSerializer(format_ratio, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2,}$", "examples": ["0.85"]}),
]

RegionCode = Annotated[str, Field(pattern=r"^[1-9][0-9]{5}$", examples=["511623"])]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Level = Annotated[int, Field(ge=1, le=3)]


class In(BaseModel):
    """Base of request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class DateRange(In):
    from_: date = Field(alias="from")
    to: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.to is not None and self.to < self.from_:
            raise ValueError("'to' is before 'from'")
        return self
