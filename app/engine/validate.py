"""Checks at the engine boundary.

Each failure is a :class:`~app.errors.FieldError` with a message a billing clerk
understands; all failures of a bill are collected and raised together as
:class:`~app.errors.ValidationFailed`.  ``loc`` is relative to the bill
(``("items", 3, "amount")``); the API prefixes ``body``.
"""

from __future__ import annotations

import re
from decimal import Decimal

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as StdnumError

from app.engine.money import MONEY_MAX, ZERO, is_money, round_money
from app.engine.types import Bill, BillLine
from app.errors import FieldError, Loc, ValidationFailed
from app.privacy import mask_id

REGION_PATTERN = re.compile(r"^[1-9][0-9]{5}$")
#: Quantities may be fractional (a third of a vial) but no finer than this.
QUANTITY_PLACES = 4
QUANTITY_MAX = Decimal("9999999999")
AMOUNT_TOLERANCE = Decimal("0.01")
_QUANTITY_QUANTUM = Decimal(1).scaleb(-QUANTITY_PLACES)


def plain(quantity: Decimal) -> str:
    """A quantity as the plain decimal the hospital sent: ``10``, ``2.5``, never ``1E+1`` (nor ``-0``)."""
    return f"{quantity.copy_abs() if quantity.is_zero() else quantity:f}"


def region_errors(region: str, loc: Loc) -> list[FieldError]:
    if REGION_PATTERN.fullmatch(region):
        return []
    return [FieldError(loc, f"region code {region!r} must be 6 digits (GB/T 2260), e.g. 511623")]


def id_number_errors(id_number: str, loc: Loc) -> list[FieldError]:
    """18 characters, 17 digits and an ISO 7064 MOD 11-2 check character, a real birth date."""
    shown = mask_id(id_number)
    if len(id_number) != 18 or not id_number[:17].isdigit():
        return [FieldError(loc, f"resident ID {shown} must be 17 digits and a check character")]
    if id_number[17] != ric.calc_check_digit(id_number):
        return [FieldError(loc, f"resident ID {shown} has a wrong check character (ISO 7064 MOD 11-2)")]
    try:
        ric.get_birth_date(id_number)
    except StdnumError:
        return [FieldError(loc, f"resident ID {shown} does not contain a valid birth date")]
    return []


def uscc_errors(code: str, loc: Loc) -> list[FieldError]:
    """An 18-character unified social credit code with a valid check character (GB 32100-2015)."""
    if len(code) != 18:
        return [FieldError(loc, f"unified social credit code {code!r} must have 18 characters")]
    try:
        uscc.validate(code)
    except StdnumError:
        return [FieldError(loc, f"unified social credit code {code!r} is not valid (GB 32100-2015 check character)")]
    return []


def money_problem(value: Decimal, what: str = "amount") -> str | None:
    """Why ``value`` is no amount of money (``what`` names it in the message), or None."""
    if not value.is_finite():
        return f"{what} must be a number"
    if value < ZERO:
        return f"{what} must not be negative (got {value})"
    if not is_money(value):
        return f"{what} must have at most two decimals, yuan.fen (got {value})"
    if value > MONEY_MAX:
        return f"{what} is larger than {MONEY_MAX}"
    return None


def money_errors(value: Decimal, loc: Loc, what: str = "amount") -> list[FieldError]:
    problem = money_problem(value, what)
    return [] if problem is None else [FieldError(loc, problem)]


def _line_errors(line: BillLine, index: int) -> list[FieldError]:
    """A line's errors, located at ``("items", index, field)``; built only when there are some
    (a valid line, the usual case, costs a few comparisons)."""
    errors: list[FieldError] = []
    if line.line_no < 1:
        errors.append(FieldError(("items", index, "line_no"), "line number must be 1 or more"))
    q = line.quantity
    if not q.is_finite() or q < ZERO:
        errors.append(FieldError(("items", index, "quantity"), f"quantity must not be negative (got {plain(q)})"))
        return errors
    # At most QUANTITY_PLACES decimals (``2.50000`` is fine): the value survives the quantize.
    if q > QUANTITY_MAX or q != q.quantize(_QUANTITY_QUANTUM):
        errors.append(
            FieldError(
                ("items", index, "quantity"),
                f"quantity may have at most {QUANTITY_PLACES} decimals and be at most {QUANTITY_MAX}",
            )
        )
        return errors
    price_problem = money_problem(line.unit_price, "unit price")
    amount_problem = money_problem(line.amount)
    if price_problem is not None:
        errors.append(FieldError(("items", index, "unit_price"), price_problem))
    if amount_problem is not None:
        errors.append(FieldError(("items", index, "amount"), amount_problem))
    if price_problem is not None or amount_problem is not None:
        return errors
    expected = q * line.unit_price
    if abs(expected - line.amount) > AMOUNT_TOLERANCE:
        errors.append(
            FieldError(
                ("items", index, "amount"),
                f"amount {line.amount} is not quantity x unit price "
                f"({plain(q)} x {line.unit_price} = {round_money(expected)})",
            )
        )
    return errors


def bill_errors(bill: Bill) -> list[FieldError]:
    """Every domain check of a bill; an empty list when it is valid."""
    errors: list[FieldError] = []
    errors += region_errors(bill.hospital.region, ("hospital", "region"))
    if not 1 <= bill.hospital.level <= 3:
        errors.append(FieldError(("hospital", "level"), "hospital level must be 1, 2 or 3"))
    errors += id_number_errors(bill.patient_id_number, ("patient", "id_number"))
    if bill.discharge_date < bill.admission_date:
        errors.append(
            FieldError(
                ("discharge_date",),
                f"discharge date {bill.discharge_date} is before admission date {bill.admission_date}",
            )
        )
    if bill.work_injury is not None:
        injury = bill.work_injury
        if injury.injury_date > bill.admission_date:
            errors.append(
                FieldError(
                    ("work_injury", "injury_date"),
                    f"injury date {injury.injury_date} is after the admission date {bill.admission_date}",
                )
            )
        errors += uscc_errors(injury.employer.code, ("work_injury", "employer", "code"))
    if not bill.items:
        errors.append(FieldError(("items",), "a bill needs at least one line"))
    seen: dict[int, int] = {}
    for index, line in enumerate(bill.items):
        if line.line_no in seen:
            errors.append(
                FieldError(
                    ("items", index, "line_no"),
                    f"line number {line.line_no} is used twice (also item {seen[line.line_no]})",
                )
            )
        else:
            seen[line.line_no] = index
        errors += _line_errors(line, index)
        if line.injury_related is not None and bill.work_injury is None:
            errors.append(
                FieldError(
                    ("items", index, "injury_related"),
                    "only a bill of a determined work injury (work_injury) marks lines as related to it or not",
                )
            )
    if not errors and bill.medical_total > MONEY_MAX:
        errors.append(FieldError(("items",), f"the bill's total is larger than {MONEY_MAX}"))
    return errors


def validate_bill(bill: Bill) -> None:
    """Raise :class:`ValidationFailed` listing every problem of the bill."""
    errors = bill_errors(bill)
    if errors:
        raise ValidationFailed(errors)
