"""Numbers as the national platform writes them: JSON numbers read and written exactly, never
through a binary float.

A body is parsed with every non-integer number as a :class:`~decimal.Decimal` of its literal
(``12.50`` stays ``12.50``); an answer carries its numbers as :class:`orjson.Fragment` literals
(``49200.00``), which orjson writes as they are, and which a replayed answer keeps
(:attr:`app.services.idempotency.IdemRequest.exact_numbers`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

from app.engine.money import CENT, format_money
from app.engine.validate import plain
from app.errors import MalformedRequest

#: A number of an answer.
Num = orjson.Fragment
ZERO_NUM = orjson.Fragment(b"0")
_RATIO_PLACES = Decimal("0.0001")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def parse_body(raw: bytes) -> dict[str, Any]:
    """The envelope as a JSON object, its decimals exact; anything else is ``malformed`` (400)."""
    try:
        doc = json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedRequest("the body is not a JSON document in UTF-8") from exc
    if not isinstance(doc, dict):
        raise MalformedRequest("the body is not a JSON object (the platform's envelope)")
    return doc


def amount(value: Decimal) -> Num:
    """Money: two decimals (the platform's ``16,2``)."""
    return orjson.Fragment(format_money(value if value.same_quantum(CENT) else value.quantize(CENT)))


def quantity(value: Decimal) -> Num:
    """A quantity as the plain decimal it is (at most four decimals, ``16,4``)."""
    return orjson.Fragment(plain(value.normalize()) if value else "0")


def ratio(value: Decimal) -> Num:
    """A ratio with four decimals (``5,4``) when that is exact, else as it is."""
    exact = value.quantize(_RATIO_PLACES)
    return orjson.Fragment(f"{exact if exact == value else value:f}")


def as_sent(value: Any) -> orjson.Fragment:
    """For hashing a parsed body (orjson's ``default``): each decimal as the literal it was sent
    as; orjson writes everything else itself, in one pass."""
    if isinstance(value, Decimal):
        return orjson.Fragment(f"{value}")
    raise TypeError(f"{type(value).__name__} is not JSON")
