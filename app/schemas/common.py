"""Shared field types: money and ratios in, money and ratios out."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    WithJsonSchema,
    model_validator,
)

from app.engine import validate
from app.engine.money import MONEY_MAX, as_money, format_money, format_ratio, is_money


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


#: Ratios have at most 6 decimals (a catalog's self-pay ratio is NUMERIC(8,6) on PostgreSQL, which
#: would round a finer one silently; ``0.9250`` or ``0.925`` is fine).
RATIO_PLACES = Decimal("0.000001")


def _ratio_places(value: Decimal) -> None:
    if value != value.quantize(RATIO_PLACES):
        raise ValueError("a ratio may have at most 6 decimals")


def _ratio(value: Decimal) -> Decimal:
    if not value.is_finite() or not (Decimal(0) <= value <= Decimal(1)):
        raise ValueError("a ratio must be between 0 and 1")
    _ratio_places(value)
    return value


def _below_one(value: Decimal) -> Decimal:
    if value >= 1:
        raise ValueError("self_pay_ratio must be below 1")
    return value


def _delta(value: Decimal) -> Decimal:
    if not value.is_finite() or not (Decimal(-1) <= value <= Decimal(1)):
        raise ValueError("a ratio delta must be between -1 and 1")
    _ratio_places(value)
    return value


#: What a decimal string in a request must look like before its value is checked: digits with an
#: optional fraction, an optional minus (so "-5.00" is refused as negative, with that reason).
#: Exponents ("1e2"), signs ("+5"), bare points (".5", "5.") and spaces are refused.
DECIMAL_FORM = re.compile(r"-?[0-9]+(\.[0-9]+)?")

#: Money strings the server accepts: not negative, at most 14 integer digits (``MONEY_MAX``),
#: at most two decimals (trailing zeros beyond them are harmless: ``12.500``).
MONEY_PATTERN = r"^0*[0-9]{1,14}(\.[0-9]{1,2}0*)?$"
#: Ratios from 0 to 1, and class B self-pay ratios (below 1), and off-site deltas (-1 to 1).
#: (at most 6 decimals, ``RATIO_PLACES``).
RATIO_PATTERN = r"^0*(0(\.[0-9]{1,6}0*)?|1(\.0+)?)$"
RATIO_BELOW_ONE_PATTERN = r"^0*0(\.[0-9]{1,6}0*)?$"
DELTA_PATTERN = r"^-?0*(0(\.[0-9]{1,6}0*)?|1(\.0+)?)$"
#: Bill quantities: not negative, at most 4 decimals, at most 9999999999 (``engine.validate.QUANTITY_MAX``).
QUANTITY_PATTERN = r"^0*([0-9]{1,9}(\.[0-9]{1,4}0*)?|[0-9]{10}(\.0+)?)$"


def _decimal_form(value: object) -> object:
    """Refuse decimal strings of another form than ``DECIMAL_FORM`` (numbers pass through)."""
    if isinstance(value, str) and DECIMAL_FORM.fullmatch(value) is None:
        raise ValueError("must be a decimal number written with digits and an optional point, e.g. 1234.50")
    return value


def _decimal_schema(pattern: str, minimum: int, maximum: float, **number: object) -> dict[str, object]:
    return {
        "anyOf": [
            {"type": "string", "pattern": pattern},
            {"type": "number", "minimum": minimum, "maximum": maximum, **number},
        ]
    }


_MONEY_IN_SCHEMA = {**_decimal_schema(MONEY_PATTERN, 0, float(MONEY_MAX), multipleOf=0.01), "examples": ["1234.50"]}
_RATIO_IN_SCHEMA = {**_decimal_schema(RATIO_PATTERN, 0, 1), "examples": ["0.85"]}
_RATIO_BELOW_ONE_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": RATIO_BELOW_ONE_PATTERN},
        {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
    ],
    "examples": ["0.10"],
}
_DELTA_SCHEMA = _decimal_schema(DELTA_PATTERN, -1, 1)
_QUANTITY_SCHEMA = {**_decimal_schema(QUANTITY_PATTERN, 0, 9999999999, multipleOf=0.0001), "examples": ["2"]}

DecimalForm = BeforeValidator(_decimal_form)
Lax = Strict(False)  # a JSON number or string, checked by DecimalForm and the value checks
#: Money in a request: a string or a number with at most two decimals, not negative.
MoneyIn = Annotated[
    Decimal, Lax, DecimalForm, AfterValidator(_money), AfterValidator(_non_negative), WithJsonSchema(_MONEY_IN_SCHEMA)
]
#: Money the engine validates itself (bill lines), documented like ``MoneyIn``.
MoneyRaw = Annotated[Decimal, Lax, DecimalForm, WithJsonSchema(_MONEY_IN_SCHEMA)]
#: A quantity on a bill line, validated by the engine.
QuantityRaw = Annotated[Decimal, Lax, DecimalForm, WithJsonSchema(_QUANTITY_SCHEMA)]
#: A ratio in a request, between 0 and 1.
RatioIn = Annotated[Decimal, Lax, DecimalForm, AfterValidator(_ratio), WithJsonSchema(_RATIO_IN_SCHEMA)]
#: A class B self-pay ratio: 0 <= r < 1.
RatioBelowOneIn = Annotated[
    Decimal,
    Lax,
    DecimalForm,
    AfterValidator(_ratio),
    AfterValidator(_below_one),
    WithJsonSchema(_RATIO_BELOW_ONE_SCHEMA),
]
#: An off-site ratio delta, in ratio points (usually <= 0).
DeltaIn = Annotated[Decimal, Lax, DecimalForm, AfterValidator(_delta), WithJsonSchema(_DELTA_SCHEMA)]


#: Money as every response shows it: exactly two decimals (the engine's one money format).
money = format_money


_MONEY_OUT_SCHEMA = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["1234.50"]}
#: Money in a response (the one money-out type): a string with exactly two decimals.
MoneyOut = Annotated[Decimal, PlainSerializer(money, return_type=str), WithJsonSchema(_MONEY_OUT_SCHEMA)]
_RATIO_OUT_SCHEMA = {"type": "string", "pattern": r"^-?\d+\.\d{2,}$", "examples": ["0.85"]}
RatioOut = Annotated[Decimal, PlainSerializer(format_ratio, return_type=str), WithJsonSchema(_RATIO_OUT_SCHEMA)]

#: Money in a response that was written out when it was stored (a settlement's detail): the same
#: document as ``MoneyOut``, kept as written.
MoneyText = Annotated[str, WithJsonSchema(_MONEY_OUT_SCHEMA)]
#: A ratio in a response that was written out when it was stored (``RatioOut``'s document).
RatioText = Annotated[str, WithJsonSchema(_RATIO_OUT_SCHEMA)]
#: An instant in a response: ISO 8601 with its offset as Python writes it (``+00:00``), as every
#: stored answer has it (pydantic's own JSON would write ``Z``).
InstantOut = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def json_body(model: BaseModel) -> dict[str, Any]:
    """A response model as its JSON document (field names as the document spells them)."""
    body: dict[str, Any] = model.model_dump(mode="json", by_alias=True)
    return body


REGION_PATTERN = validate.REGION_PATTERN.pattern
#: The form of a resident ID number (its check character and birth date are checked too).
ID_NUMBER_PATTERN = r"^[0-9]{17}[0-9X]$"
RegionCode = Annotated[str, Field(pattern=REGION_PATTERN, examples=["511623"])]
#: A code (scheme, hospital, catalog version, member number, …): in bodies, paths and queries alike.
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=CODE_PATTERN)]
#: Free text: no NUL character (PostgreSQL text cannot hold it; it would be a 500, not a 422).
NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
Level = Annotated[int, Field(ge=1, le=3)]


DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: RFC 3339 date-time with its offset; the seconds' fraction may be as long as it likes (the
#: document's ``format: date-time`` does not bound it).
RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})")


def _iso_day(value: object) -> object:
    """Only ``YYYY-MM-DD`` (pydantic alone would also take ``2026-03-01T00:00:00`` or a Unix time)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or DAY.fullmatch(value) is None:
        raise ValueError("the date must be YYYY-MM-DD")
    return value


#: A calendar date, in a body or a query parameter: ``YYYY-MM-DD`` and nothing else (``format: date``).
IsoDate = Annotated[date, Lax, BeforeValidator(_iso_day)]


class In(BaseModel):
    """Base of request bodies: unknown fields are refused, and values are taken as their JSON type
    only (``"line_no": "1"`` or ``"dry_run": 0`` is refused, as the document says).  Decimals
    (string or number) and dates (``YYYY-MM-DD`` strings) opt out of strictness with
    ``Strict(False)`` and check their own form."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class DateRange(In):
    from_: IsoDate = Field(alias="from")
    to: IsoDate | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.to is not None and self.to < self.from_:
            raise ValueError("'to' is before 'from'")
        return self
