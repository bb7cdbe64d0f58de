"""Field errors are located relative to what a layer was given, and prefixed by whoever knows the
enclosing request (``app.errors``)."""

from __future__ import annotations

import pytest

from app.api.located import errors_in
from app.errors import FieldError, ValidationFailed, errors_under


def test_under_prefixes_every_location_and_the_detail_follows() -> None:
    exc = ValidationFailed([FieldError(("items", 0, "amount"), "too much"), FieldError(("hospital",), "unknown")])
    moved = exc.under("body", "bill")
    assert [e.loc for e in moved.errors] == [("body", "bill", "items", 0, "amount"), ("body", "bill", "hospital")]
    assert moved.detail == "body.bill.items.0.amount: too much; body.bill.hospital: unknown"
    assert exc.errors[0].loc == ("items", 0, "amount")  # the original is left as it was


def test_a_given_detail_is_kept() -> None:
    moved = ValidationFailed([FieldError(("x",), "bad")], "said so").under("body")
    assert (moved.detail, moved.errors[0].loc) == ("said so", ("body", "x"))


def test_relocated_maps_each_location() -> None:
    exc = ValidationFailed([FieldError(("scheme_code",), "there is no scheme 'X'")])
    moved = exc.relocated(lambda loc: ("schemes", 2, *loc[1:]))
    assert moved.errors[0].loc == ("schemes", 2)
    assert moved.detail == "schemes.2: there is no scheme 'X'"


def test_errors_under_relocates_what_the_block_raises() -> None:
    with pytest.raises(ValidationFailed) as raised, errors_under("body"):
        raise ValidationFailed([FieldError(("scheme_code",), "no")])
    assert raised.value.errors[0].loc == ("body", "scheme_code")
    assert raised.value.detail == "body.scheme_code: no"


def test_errors_in_places_each_given_name_in_its_part_and_the_rest_in_the_body() -> None:
    parts = {"effective_from": ("query", "effective_from"), "csv": ("body",), "scheme_code": ("path", "scheme_code")}
    given = [
        FieldError(("effective_from",), "missing"),
        FieldError(("csv", 3), "short"),
        FieldError(("csv",), "unreadable"),
        FieldError(("scheme_code",), "a tier"),
        FieldError(("entries", 0, "code"), "bad"),
        FieldError((), "the whole"),
    ]
    with pytest.raises(ValidationFailed) as raised, errors_in(parts):
        raise ValidationFailed(given)
    assert [e.loc for e in raised.value.errors] == [
        ("query", "effective_from"),
        ("body", 3),
        ("body",),
        ("path", "scheme_code"),
        ("body", "entries", 0, "code"),
        ("body",),
    ]
    assert [e.msg for e in raised.value.errors] == [e.msg for e in given]
