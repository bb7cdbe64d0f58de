"""The FHIR interface's tests: a REST bill as the FHIR ``Claim`` a client would submit (fhir.md's
table, read the other way), and the figures of the answered resources by their codes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
OWN = "urn:settle:cs:adjudication"
CLAIM_TYPE = {"inpatient": "institutional", "outpatient": "professional"}


def money(value: Any) -> dict[str, Any]:
    return {"value": float(Decimal(str(value))), "currency": "CNY"}


def claim_document(bill: dict[str, Any], schemes: list[str], *, use: str = "claim") -> dict[str, Any]:
    """``bill`` (a shared example's shape) submitted under ``schemes`` in this order (their
    insurances listed last first, so the server must order them by ``sequence``)."""
    items = []
    for line in bill["items"]:
        item: dict[str, Any] = {
            "sequence": line["line_no"],
            "productOrService": {"coding": [{"code": line["code"]}], "text": line["name"]},
            "category": {"coding": [{"code": line["category"]}]},
            "quantity": {"value": float(Decimal(str(line["quantity"])))},
            "unitPrice": money(line["unit_price"]),
            "net": money(line["amount"]),
        }
        if line.get("service_date"):
            item["servicedDate"] = line["service_date"]
        items.append(item)
    hospital = bill["hospital"]
    provider: dict[str, Any] = {"identifier": {"system": "urn:settle:sid:hospital", "value": hospital["code"]}}
    if hospital.get("name"):
        provider["display"] = hospital["name"]
    insurances = [
        {
            "sequence": n,
            "focal": n == 1,
            "coverage": {"identifier": {"system": "urn:settle:sid:scheme", "value": code}},
        }
        for n, code in enumerate(schemes, start=1)
    ]
    return {
        "resourceType": "Claim",
        "status": "active",
        "type": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": CLAIM_TYPE[bill["setting"]]}
            ]
        },
        "use": use,
        "identifier": [{"system": "urn:settle:sid:bill-no", "value": bill["bill_no"]}],
        "patient": {
            "identifier": {"system": "urn:settle:sid:resident-id", "value": bill["patient"]["id_number"]},
            "display": bill["patient"]["name"],
        },
        "billablePeriod": {"start": bill["admission_date"], "end": bill["discharge_date"]},
        "created": "2026-10-01T09:00:00+08:00",
        "provider": provider,
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
        "diagnosis": [
            {
                "sequence": n,
                "diagnosisCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": d}]},
            }
            for n, d in enumerate(bill.get("diagnoses", []), start=1)
        ],
        "insurance": list(reversed(insurances)),
        "item": items,
    }


def coded(resource_part: dict[str, Any]) -> str:
    """The code of an adjudication's or a total's category."""
    return str(resource_part["category"]["coding"][0]["code"])


def by_category(parts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        out.setdefault(coded(part), []).append(part)
    return out


def amount(part: dict[str, Any]) -> Decimal:
    """A Money's value as sent: a JSON number with at most two decimals."""
    value = part["amount"]["value"] if "amount" in part else part["value"]
    assert part.get("amount", part).get("currency", "CNY") == "CNY"
    number = Decimal(str(value))
    assert isinstance(value, int | float) and number.as_tuple().exponent >= -2, value  # type: ignore[operator]
    return number
