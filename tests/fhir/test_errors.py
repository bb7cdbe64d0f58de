"""The FHIR interface's refusals, each an ``OperationOutcome`` with the REST API's status for the
same problem: an unknown id, another hospital's settlement, a malformed Claim (the issue's location
as FHIRPath), a scheme that does not cover the patient (the REST problem's name in ``details``);
and its writes' idempotency, dry runs and audit records, as the REST API's; on both databases."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.support.api import (
    ADMIN,
    bill_1,
    expected_v2,
    load_examples_over_http,
    load_v2_over_http,
    new_client,
    v2_bill,
)
from tests.support.fhir import claim_document

FHIR = "/fhir/R4"
SUBMIT = f"{FHIR}/Claim/$submit"
NRCMS, UEBMI = "NRCMS-511623", "UEBMI-321100"
#: A valid resident ID number no sample scheme has as a member.
STRANGER_ID = "11010519491231002X"


def outcome(r: Any, status: int, code: str, problem: str) -> list[dict[str, Any]]:
    """The answer is an OperationOutcome of this status, FHIR issue code and problem name."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/fhir+json"
    body = r.json()
    OperationOutcome.model_validate(body)
    issues: list[dict[str, Any]] = body["issue"]
    assert issues
    for issue in issues:
        assert (issue["severity"], issue["code"]) == ("error", code), issue
        assert issue["details"]["coding"][0] == {"system": "urn:settle:cs:problem", "code": problem}
        assert issue["diagnostics"]
    return issues


def submit(client: TestClient, document: Any, headers: dict[str, str] = ADMIN, key: str | None = None) -> Any:
    extra = {"Content-Type": "application/fhir+json", **({"Idempotency-Key": key} if key else {})}
    return client.post(SUBMIT, json=document, headers={**headers, **extra})


def problem_name(r: Any) -> str:
    return str(r.json()["type"]).rsplit("/", 1)[-1]


def test_unknown_ids_and_unauthenticated(client: TestClient, db_url: str) -> None:
    for path in ("/ClaimResponse/no-such-id", "/ExplanationOfBenefit/no-such-id", "/Claim/no-such-id"):
        outcome(client.get(FHIR + path, headers=ADMIN), 404, "not-found", "not-found")
        r = client.get(FHIR + path)
        outcome(r, 401, "login", "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"
    outcome(client.get(f"{FHIR}/Patient/1", headers=ADMIN), 404, "not-found", "not-found")
    outcome(client.delete(f"{FHIR}/ClaimResponse/1", headers=ADMIN), 405, "not-supported", "not-supported")
    (issue,) = outcome(client.get(f"{FHIR}/ClaimResponse", headers=ADMIN), 422, "invalid", "validation")
    assert "request=Claim/" in issue["diagnostics"]


def test_a_hospital_sees_only_its_own_bills(client: TestClient, db_url: str) -> None:
    """Another hospital's settlement, bill and searches do not exist for a hospital (404, empty)."""
    load_v2_over_http(client)
    r = submit(client, claim_document(v2_bill("bill-3.json"), [NRCMS, "SI-511623"]))
    assert r.status_code == 201, r.text
    settlement_id = r.json()["entry"][0]["resource"]["id"]
    bill_id = r.json()["entry"][0]["resource"]["request"]["reference"].split("/")[1]
    own = new_client(client, {"name": "Cancer hospital", "role": "hospital", "hospital_code": "H510107001"})
    other = new_client(client, {"name": "Linshui hospital", "role": "hospital", "hospital_code": "H511623001"})
    office = new_client(client, {"name": "SI office", "role": "scheme_office", "scheme_code": "SI-511623"})
    for path in (f"/ClaimResponse/{settlement_id}", f"/ExplanationOfBenefit/{settlement_id}", f"/Claim/{bill_id}"):
        assert client.get(FHIR + path, headers=own).status_code == 200
        outcome(client.get(FHIR + path, headers=other), 404, "not-found", "not-found")
    for path in (f"/ClaimResponse?request=Claim/{bill_id}", f"/ExplanationOfBenefit?claim=Claim/{bill_id}"):
        bundles = {
            name: client.get(FHIR + path, headers=h).json()
            for name, h in (("own", own), ("other", other), ("office", office))
        }
        for bundle in bundles.values():
            Bundle.model_validate(bundle)
        assert [b["total"] for b in bundles.values()] == [2, 0, 1]
        # The serious-illness office reads its own scheme's settlement only.
        assert bundles["office"]["entry"][0]["resource"]["insurance" if "ClaimResponse" in path else "insurer"]
    # A scheme office reads its own scheme's settlement, not the basic scheme's.
    outcome(client.get(f"{FHIR}/ClaimResponse/{settlement_id}", headers=office), 404, "not-found", "not-found")
    # A hospital submits only its own bills; a scheme office submits none.
    outcome(submit(client, claim_document(bill_1(), [NRCMS]), own), 403, "forbidden", "forbidden")
    outcome(submit(client, claim_document(bill_1(), [NRCMS]), office), 403, "forbidden", "forbidden")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["item"][0]["net"].update(value="abc"), "Claim.item[0].net.value"),
        (lambda d: d["item"][1].update(sequence="x"), "Claim.item[1].sequence"),
        (lambda d: d.pop("identifier"), "Claim.identifier"),
        (lambda d: d["item"][2]["net"].update(value=300.005), "Claim.item[2].net.value"),
        (lambda d: d["item"][2]["net"].update(currency="USD"), "Claim.item[2].net.currency"),
        (lambda d: d["item"][3].update(sequence=1), "Claim.item[3].sequence"),
        (lambda d: d["item"][4]["net"].update(value=1.00), "Claim.item[4].net.value"),
        (lambda d: d["item"][0].pop("quantity"), "Claim.item[0].quantity.value"),
        (lambda d: d["patient"]["identifier"].update(system="urn:other"), "Claim.patient.identifier"),
        (lambda d: d["type"]["coding"][0].update(code="oral"), "Claim.type.coding[0].code"),
        (lambda d: d["insurance"][0]["coverage"].pop("identifier"), "Claim.insurance[0].coverage.identifier"),
        (lambda d: d.update(accident={"date": "2026-03-01"}), "Claim.accident"),
        (lambda d: d.update(resourceType="Patient"), "Claim"),
        (lambda d: d.update(billablePeriod={"start": "2026-03-01"}), "Claim.billablePeriod.end"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_a_malformed_claim_is_422_at_its_fhirpath(client: TestClient, db_url: str, change: Any, where: str) -> None:
    """Refused by the R4B model, by the REST request's rules or by the bill's, each issue at the
    element at fault; nothing is written."""
    load_examples_over_http(client)
    document = claim_document(bill_1(), [NRCMS, UEBMI])
    change(document)
    issues = outcome(submit(client, document), 422, "invalid", "validation")
    assert where in [e for issue in issues for e in issue.get("expression", [])], issues
    assert client.get("/v1/bills", headers=ADMIN).json()["items"] == []


def test_not_json_and_not_fhir_json(client: TestClient, db_url: str) -> None:
    r = client.post(SUBMIT, content=b"{not json", headers={**ADMIN, "Content-Type": "application/fhir+json"})
    outcome(r, 400, "structure", "malformed")
    r = client.post(SUBMIT, content=b"<Claim/>", headers={**ADMIN, "Content-Type": "application/fhir+xml"})
    outcome(r, 415, "not-supported", "not-supported")


def test_a_scheme_that_does_not_cover_the_patient(client: TestClient, db_url: str) -> None:
    """The REST API's problem for the same claim, by name, in the issue's details."""
    load_examples_over_http(client)
    bill = bill_1()
    bill["patient"] = {"id_number": STRANGER_ID, "name": "Li Na"}
    rest = client.post("/v1/claims", json={"bill": bill, "schemes": [NRCMS], "dry_run": True}, headers=ADMIN)
    assert rest.status_code == 422
    (issue,) = outcome(submit(client, claim_document(bill, [NRCMS])), 422, "business-rule", problem_name(rest))
    assert problem_name(rest) == "not-enrolled"
    assert STRANGER_ID not in issue["diagnostics"]  # masked, as everywhere


def test_idempotency_dry_run_and_audit(client: TestClient, db_url: str) -> None:
    """A predetermination writes nothing; a key replays the first answer, or refuses another
    Claim; each submit and each read of a settlement leaves its audit record."""
    load_v2_over_http(client)
    want = expected_v2()["E_one_stop_bill_3"]["settlements"][:3]
    document = claim_document(v2_bill("bill-3.json"), [s["scheme_code"] for s in want])
    preview = submit(client, {**document, "use": "predetermination"})
    assert preview.status_code == 200, preview.text
    previews = [e["resource"] for e in preview.json()["entry"]]
    assert [(p["use"], "id" in p, "fullUrl" in e) for p, e in zip(previews, preview.json()["entry"], strict=True)] == [
        ("predetermination", False, False)
    ] * 3
    assert [p["payment"]["amount"]["value"] for p in previews] == [float(s["fund_payment"]) for s in want]
    assert client.get("/v1/bills", headers=ADMIN).json()["items"] == []

    first = submit(client, document, key="fhir-1")
    assert first.status_code == 201, first.text
    again = submit(client, copy.deepcopy(document), key="fhir-1")
    assert (again.status_code, again.content) == (201, first.content)
    other = copy.deepcopy(document)
    other["insurance"] = other["insurance"][1:]
    outcome(submit(client, other, key="fhir-1"), 422, "conflict", "idempotency-mismatch")
    bill_id = first.json()["entry"][0]["resource"]["request"]["reference"].split("/")[1]
    settlements = client.get(f"/v1/settlements?bill_id={bill_id}", headers=ADMIN).json()["items"]
    assert len(settlements) == 3

    settlement_id = first.json()["entry"][0]["resource"]["id"]
    assert client.get(f"{FHIR}/ClaimResponse/{settlement_id}", headers=ADMIN).status_code == 200
    audit = client.get("/v1/audit?limit=500", headers=ADMIN).json()["items"]
    seen = [
        (a["operation"], a["status_code"], a["outcome"], a["object_id"])
        for a in audit
        if a["operation"].startswith("fhir")
    ]
    assert ("fhirSubmitClaim", 201, "ok", bill_id) in seen
    assert ("fhirSubmitClaim", 422, "refused", None) in seen
    assert ("fhirReadClaimResponse", 200, "ok", settlement_id) in seen
    paths = {a["path"] for a in audit if a["operation"] == "fhirSubmitClaim"}
    assert paths == {SUBMIT}


def test_body_limit_answers_an_operation_outcome(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.main import create_app
    from app.settings import get_settings

    monkeypatch.setenv("SETTLE_MAX_BODY_BYTES", "1024")
    get_settings.cache_clear()
    with TestClient(create_app()) as small:
        big = claim_document(bill_1(), [NRCMS])
        outcome(submit(small, big), 413, "too-long", "payload-too-large")
        r = small.post("/v1/claims", json={"bill": bill_1(), "schemes": [NRCMS]}, headers=ADMIN)
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
