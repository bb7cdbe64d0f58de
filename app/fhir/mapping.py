"""A submitted FHIR ``Claim`` as the REST API's claim request (:class:`ClaimCreate`), as fhir.md's
table reads a bill from it, and every field error of that request located back in the ``Claim`` as
FHIRPath (:meth:`Submitted.fhirpath`).

The ``Claim`` is first parsed by the R4B model (a malformed resource is refused there, at the
element the library names); then the bill and the schemes are read from it, and the request is
validated as ``POST /v1/claims`` validates its body, so both interfaces accept and refuse the same
bills.  Every error found is reported at once, each at its FHIRPath (``Claim.item[2].net.value``),
in a :class:`~app.errors.ValidationFailed` whose locations are single FHIRPath strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from fhir.resources.R4B.claim import Claim, ClaimItem
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.money import Money
from fhir.resources.R4B.reference import Reference
from pydantic import ValidationError

from app.errors import FieldError, Loc, ValidationFailed
from app.fhir import codes as c
from app.schemas.settlements import ClaimCreate

#: A bill line's field and where fhir.md reads it from a ``Claim.item``.
ITEM_PATHS: dict[str, str] = {
    "line_no": "sequence",
    "code": "productOrService.coding[0].code",
    "name": "productOrService.text",
    "category": "category.coding[0].code",
    "quantity": "quantity.value",
    "unit_price": "unitPrice.value",
    "amount": "net.value",
    "service_date": "servicedDate",
}
_BILL_PATHS: dict[str, str] = {
    "hospital": "Claim.provider",
    "patient": "Claim.patient",
    "setting": "Claim.type.coding[0].code",
    "admission_date": "Claim.billablePeriod.start",
    "discharge_date": "Claim.billablePeriod.end",
    "diagnoses": "Claim.diagnosis",
    "items": "Claim.item",
}
_PARTY_PATHS: dict[tuple[str, str], str] = {
    ("hospital", "code"): "Claim.provider.identifier.value",
    ("hospital", "name"): "Claim.provider.display",
    ("patient", "id_number"): "Claim.patient.identifier.value",
    ("patient", "name"): "Claim.patient.display",
}


def fhirpath(loc: Sequence[str | int], root: str = "Claim") -> str:
    """A pydantic location in a FHIR resource as FHIRPath: ``("item", 0, "net", "value")`` ->
    ``Claim.item[0].net.value`` (the library's parts that name no element are left out)."""
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "resource_type":
            continue
        elif part.isidentifier():
            path += f".{part}"
    return path


@dataclass(frozen=True, slots=True)
class Submitted:
    """A ``Claim`` read as the REST API's claim request, and where each of its fields came from."""

    body: ClaimCreate
    #: The index in ``Claim.identifier`` of the bill number, and of each scheme (in ``body.schemes``'
    #: order, the insurances' ``sequence`` order) in ``Claim.insurance``.
    bill_no_at: int | None
    schemes_at: tuple[int, ...]

    def fhirpath(self, loc: Loc) -> str:
        return _where(loc, self.bill_no_at, self.schemes_at)


def _where(loc: Loc, bill_no_at: int | None, schemes_at: Sequence[int]) -> str:
    """Where a field error of the claim request (``("bill", "items", 0, "amount")``) is in the Claim."""
    if not loc:
        return "Claim"
    head, rest = loc[0], loc[1:]
    if head == "schemes":
        if rest and isinstance(rest[0], int) and rest[0] < len(schemes_at):
            return f"Claim.insurance[{schemes_at[rest[0]]}].coverage.identifier.value"
        return "Claim.insurance"
    if head == "dry_run":
        return "Claim.use"
    if head != "bill" or not rest:
        return "Claim"
    field, rest = rest[0], rest[1:]
    if field == "bill_no":
        return "Claim.identifier" if bill_no_at is None else f"Claim.identifier[{bill_no_at}].value"
    if field in ("hospital", "patient") and rest and isinstance(rest[0], str):
        return _PARTY_PATHS.get((str(field), rest[0]), _BILL_PATHS[str(field)])
    if field in ("items", "diagnoses") and rest and isinstance(rest[0], int):
        if field == "diagnoses":
            return f"Claim.diagnosis[{rest[0]}].diagnosisCodeableConcept.coding[0].code"
        item = f"Claim.item[{rest[0]}]"
        name = rest[1] if len(rest) > 1 else None
        return f"{item}.{ITEM_PATHS[name]}" if isinstance(name, str) and name in ITEM_PATHS else item
    return _BILL_PATHS.get(str(field), "Claim")


def parse_claim(document: Any) -> Claim:
    """The R4B ``Claim`` of a request body (parsed with decimals kept exact), or every element the
    library refuses, at its FHIRPath."""
    if not isinstance(document, dict) or document.get("resourceType") != "Claim":
        raise ValidationFailed([FieldError(("Claim",), "the body must be a FHIR Claim resource (resourceType Claim)")])
    try:
        return Claim.model_validate(document)
    except ValidationError as exc:
        raise ValidationFailed(
            [FieldError((fhirpath(e["loc"]),), e["msg"]) for e in exc.errors(include_url=False)]
        ) from exc


def _code(concept: CodeableConcept | None) -> str | None:
    if concept is None or not concept.coding:
        return None
    return concept.coding[0].code


def _identified(reference: Reference | None, system: str) -> str | None:
    if reference is None or reference.identifier is None or reference.identifier.system != system:
        return None
    return reference.identifier.value


def _day(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    return (value.date() if isinstance(value, datetime) else value).isoformat()


def _amount(money: Money | None, path: str, errors: list[FieldError]) -> str | None:
    if money is None or money.value is None:
        return None
    if money.currency not in (None, c.CURRENCY):
        errors.append(FieldError((path.rsplit(".", 1)[0] + ".currency",), f"the currency must be {c.CURRENCY}"))
    return _decimal(money.value)


def _decimal(value: Decimal) -> str:
    return format(value, "f")


def _present(doc: dict[str, object]) -> dict[str, object]:
    """A request document without its absent values (the request model then names what is missing)."""
    return {k: v for k, v in doc.items() if v is not None}


def read_claim(claim: Claim) -> Submitted:
    """The claim request fhir.md's table reads from ``claim``; every error at its FHIRPath."""
    errors: list[FieldError] = []

    def refuse(path: str, msg: str) -> None:
        errors.append(FieldError((path,), msg))

    if claim.accident is not None:
        refuse(
            "Claim.accident", "a work injury cannot be submitted as a FHIR Claim in this version: use POST /v1/claims"
        )
    if claim.use not in ("claim", "predetermination"):
        refuse("Claim.use", "claim (settle) or predetermination (a dry run)")
    hospital_code = _identified(claim.provider, c.HOSPITAL)
    if hospital_code is None:
        refuse("Claim.provider.identifier", f"the hospital's code, with system {c.HOSPITAL}")
    id_number = _identified(claim.patient, c.RESIDENT_ID)
    if id_number is None:
        refuse("Claim.patient.identifier", f"the patient's resident ID number, with system {c.RESIDENT_ID}")
    bill_no_at = next((i for i, x in enumerate(claim.identifier or []) if x.system == c.BILL_NO), None)
    if bill_no_at is None:
        refuse("Claim.identifier", f"the hospital's bill number, with system {c.BILL_NO}")
    setting_code = _code(claim.type)
    setting = c.SETTINGS.get(setting_code or "")
    if setting is None:
        refuse("Claim.type.coding[0].code", "institutional (inpatient) or professional (outpatient)")
    period = claim.billablePeriod
    diagnoses: list[str | None] = []
    for i, d in enumerate(claim.diagnosis or []):
        if d.diagnosisCodeableConcept is None:
            refuse(f"Claim.diagnosis[{i}]", "a diagnosisCodeableConcept with its ICD-10 code")
        diagnoses.append(_code(d.diagnosisCodeableConcept))
    items = [_item(i, item, errors) for i, item in enumerate(claim.item or [])]
    insurances = sorted(enumerate(claim.insurance), key=lambda pair: pair[1].sequence or 0)
    seen: set[int | None] = set()
    schemes: list[str | None] = []
    for j, insurance in insurances:
        if insurance.sequence in seen:
            refuse(f"Claim.insurance[{j}].sequence", "each insurance needs a sequence of its own")
        seen.add(insurance.sequence)
        code = _identified(insurance.coverage, c.SCHEME)
        if code is None:
            refuse(f"Claim.insurance[{j}].coverage.identifier", f"the scheme's code, with system {c.SCHEME}")
        schemes.append(code)
    bill_no = None if bill_no_at is None else (claim.identifier or [])[bill_no_at].value
    provider_name = claim.provider.display if claim.provider is not None else None
    bill = _present(
        {
            "hospital": _present({"code": hospital_code, "name": provider_name}),
            "bill_no": bill_no,
            "patient": _present({"id_number": id_number, "name": claim.patient.display}),
            "setting": setting,
            "admission_date": _day(period.start if period is not None else None),
            "discharge_date": _day(period.end if period is not None else None),
            "diagnoses": diagnoses,
            "items": items or None,
        }
    )
    request = {"bill": bill, "schemes": schemes, "dry_run": claim.use == "predetermination"}
    submitted_at = (bill_no_at, tuple(j for j, _ in insurances))
    reported = [str(e.loc[0]) for e in errors]
    try:
        body = ClaimCreate.model_validate_json(orjson.dumps(request))
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            path = _where(tuple(e["loc"]), *submitted_at)
            if not any(_within(path, r) for r in reported):  # said already, in this reading's words
                errors.append(FieldError((path,), e["msg"]))
        raise ValidationFailed(errors) from exc
    if errors:
        raise ValidationFailed(errors)
    return Submitted(body, *submitted_at)


def _within(path: str, element: str) -> bool:
    return path == element or path.startswith((element + ".", element + "["))


def _item(i: int, item: ClaimItem, errors: list[FieldError]) -> dict[str, object]:
    here = f"Claim.item[{i}]"
    if item.servicedPeriod is not None:
        errors.append(FieldError((f"{here}.servicedPeriod",), "a line's day is its servicedDate"))
    quantity = item.quantity.value if item.quantity is not None else None
    product = item.productOrService
    return _present(
        {
            "line_no": item.sequence,
            "code": _code(product),
            "name": product.text if product is not None else None,
            "category": _code(item.category),
            "quantity": None if quantity is None else _decimal(quantity),
            "unit_price": _amount(item.unitPrice, f"{here}.unitPrice.value", errors),
            "amount": _amount(item.net, f"{here}.net.value", errors),
            "service_date": _day(item.servicedDate),
        }
    )
