"""Every kind of resource the FHIR interface answers, for every worked example of v1, v2 and v3
(``shared/examples``, run as their tests run them over the REST API): each parses with the
``fhir.resources`` R4B models, and its figures equal the REST settlement's, field by field, as
fhir.md's mapping table maps them; on both databases.  Then the service's fast JSON writer against
the library's own serialisation, and the CodeSystems and the CapabilityStatement."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.claim import Claim
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.explanationofbenefit import ExplanationOfBenefit

from app.errors import DomainError
from tests.api.test_v3_examples import load_v3_over_http
from tests.api.test_v3_examples import read as read_v3
from tests.support.api import ADMIN, bill_1, expected_bill_1, expected_v2, load_examples_over_http, v2_bill
from tests.support.examples import ORDER as V2_ORDER
from tests.support.examples import assert_matches
from tests.support.fhir import OWN, amount, by_category, claim_document, coded
from tests.support.figures import report
from tests.support.paths import examples_dir

NRCMS, UEBMI = "NRCMS-511623", "UEBMI-321100"
SETTLEMENT, SCHEME, EMPLOYER = "urn:settle:sid:settlement", "urn:settle:sid:scheme", "urn:settle:sid:employer"
LINE_CATEGORIES = {"submitted", "eligible", "excluded", "over-limit", "b-self-pay"}
FHIR = "/fhir/R4"


def post(client: TestClient, url: str, body: Any = None) -> dict[str, Any]:
    r = client.post(url, json=body, headers=ADMIN)
    assert r.status_code in (200, 201), r.text
    out: dict[str, Any] = r.json()
    return out


def settle(client: TestClient, bill_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return post(client, f"/v1/bills/{bill_id}/settlements", body)


def checked(got: dict[str, Any], want: dict[str, Any], context: str) -> None:
    """The REST settlement is the worked example's (its sequence aside: a re-settled bill goes on)."""
    assert_matches(got, {k: v for k, v in want.items() if k not in ("sequence", "advance")}, context)


# --- the scenarios, over the REST API --------------------------------------------------------


def run_v1(client: TestClient) -> list[str]:
    """Scenarios A to D of bill 1 on one bill: each settled, then reversed (which restores the
    yearly figures) before the next; C with UEBMI under gap_fill, D without the registration."""
    load_examples_over_http(client)
    expected = expected_bill_1()
    bill_id = post(client, "/v1/bills", bill_1())["bill_id"]
    uebmi = client.get(f"/v1/schemes/{UEBMI}", headers=ADMIN).json()
    ids: list[str] = []
    for name in ("A_nrcms_then_uebmi", "B_uebmi_then_nrcms", "C_gap_fill_second", "D_unregistered_offsite"):
        if name.startswith("C"):
            body = {k: v for k, v in uebmi.items() if k != "code" and v is not None}
            assert (
                client.put(f"/v1/schemes/{UEBMI}", json={**body, "coordination": "gap_fill"}, headers=ADMIN).status_code
                == 200
            )
        if name.startswith("D"):
            body = {k: v for k, v in uebmi.items() if k != "code" and v is not None}
            assert client.put(f"/v1/schemes/{UEBMI}", json=body, headers=ADMIN).status_code == 200
            patient = bill_1()["patient"]["id_number"]
            members = json.loads((examples_dir() / "members.json").read_text())[UEBMI]
            member = next(m for m in members if m["id_number"] == patient)
            member = {**member, "offsite_registrations": []}
            r = client.put(f"/v1/schemes/{UEBMI}/members/{member['member_no']}", json=member, headers=ADMIN)
            assert r.status_code == 200, r.text
        made = []
        previews = predetermined(client, bill_1(), expected[name]["settlements"])
        for want, preview in zip(expected[name]["settlements"], previews, strict=True):
            got = settle(client, bill_id, {"scheme_code": want["scheme_code"]})
            checked(got, want, f"{name} {want['scheme_code']}")
            check_preview(preview, got)
            made.append(got["settlement_id"])
        ids += made
        if not name.startswith("D"):
            for sid in reversed(made):
                post(client, f"/v1/settlements/{sid}/reversal")
    return ids


def run_v2(client: TestClient) -> list[str]:
    from tests.support.api import load_v2_over_http

    load_v2_over_http(client)
    ids = []
    for name in V2_ORDER:
        scenario = expected_v2()[name]
        bill = v2_bill(scenario["bill"])
        bill_id = post(client, "/v1/bills", bill)["bill_id"]
        wanted = sorted(scenario["settlements"], key=lambda s: s["sequence"])
        previews = predetermined(client, bill, wanted, scenario)
        for i, want in enumerate(wanted):
            got = settle(client, bill_id, {**scenario.get("request", {}), "scheme_code": want["scheme_code"]})
            checked(got, want, f"{name} {want['scheme_code']}")
            if previews:
                check_preview(previews[i], got)
            ids.append(got["settlement_id"])
    return ids


def run_v3(client: TestClient) -> list[str]:
    load_v3_over_http(client)
    ids = []
    for name, scenario in read_v3("expected-v3.json").items():
        bill = read_v3(scenario["bill"])
        bill_id = post(client, "/v1/bills", bill)["bill_id"]
        wanted = sorted(scenario["settlements"], key=lambda s: s["sequence"])
        previews = predetermined(client, bill, wanted, scenario)
        for i, want in enumerate(wanted):
            got = settle(client, bill_id, {**scenario.get("request", {}), "scheme_code": want["scheme_code"]})
            checked(got, want, f"{name} {want['scheme_code']}")
            if previews:
                check_preview(previews[i], got)
            ids.append(got["settlement_id"])
    return ids


def predetermined(
    client: TestClient, bill: dict[str, Any], wanted: list[dict[str, Any]], scenario: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """A scenario submitted first as a FHIR Claim with ``use: predetermination`` (a dry run): the
    collection Bundle's preview ClaimResponses, in order.  None for a scenario a Claim cannot carry
    (a work injury, an employer's liability or an advance: the REST API's)."""
    if bill.get("work_injury") or (scenario or {}).get("request"):
        return []
    document = claim_document(bill, [w["scheme_code"] for w in wanted], use="predetermination")
    r = client.post(f"{FHIR}/Claim/$submit", json=document, headers=ADMIN)
    assert r.status_code == 200, r.text
    bundle = r.json()
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection" and all("fullUrl" not in e for e in bundle["entry"])
    return [e["resource"] for e in bundle["entry"]]


def check_preview(preview: dict[str, Any], rest: dict[str, Any]) -> None:
    """A preview ClaimResponse has the figures the settlement then made, and no identity."""
    ClaimResponse.model_validate(preview)
    assert "id" not in preview and "identifier" not in preview
    assert (preview["use"], preview["status"]) == ("predetermination", "active")
    assert preview["insurance"][0]["sequence"] == rest["sequence"]
    assert preview["insurer"]["identifier"]["value"] == rest["scheme_code"]
    assert amount(preview["payment"]) == Decimal(rest["fund_payment"])
    check_header(preview["adjudication"], rest)
    assert [(coded(t), amount(t)) for t in preview["total"]] == [
        (code, Decimal(rest[field]))
        for code, field in (
            ("submitted", "medical_total"),
            ("eligible", "in_scope"),
            ("benefit", "fund_payment"),
            ("patient-responsibility", "patient_responsibility"),
        )
    ]
    assert [i["itemSequence"] for i in preview["item"]] == [line["line_no"] for line in rest["lines"]]


# --- the resources against the REST settlement ------------------------------------------------


def fhir_get(client: TestClient, path: str) -> dict[str, Any]:
    r = client.get(FHIR + path, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/fhir+json"
    out: dict[str, Any] = r.json()
    return out


def check_lines(
    items: list[dict[str, Any]], rest: dict[str, Any], bill_lines: dict[int, dict[str, Any]], key: str
) -> None:
    assert [i[key] for i in items] == [line["line_no"] for line in rest["lines"]]
    for item, line in zip(items, rest["lines"], strict=True):
        adjudication = by_category(item["adjudication"])
        assert set(adjudication) == LINE_CATEGORIES and all(len(v) == 1 for v in adjudication.values())
        figures = {code: amount(parts[0]) for code, parts in adjudication.items()}
        assert figures["submitted"] == Decimal(bill_lines[line["line_no"]]["amount"])
        assert figures["eligible"] == Decimal(line["in_scope"])
        assert figures["excluded"] == Decimal(line["excluded"])
        assert figures["over-limit"] == Decimal(line["over_limit"])
        assert figures["b-self-pay"] == Decimal(line["b_self_pay"])
        reason = adjudication["excluded"][0].get("reason")
        assert (None if reason is None else reason["coding"][0]) == (
            None if line["reason"] is None else {"system": "urn:settle:cs:reason", "code": line["reason"]}
        )


def check_header(parts: list[dict[str, Any]], rest: dict[str, Any]) -> None:
    """The header adjudication: the settlement's figures, each band, the cap's reason."""
    header = by_category(parts)
    one = {code: amount(v[0]) for code, v in header.items() if code not in ("eligpercent", "benefit")}
    want = {
        "excluded": rest["excluded"],
        "over-limit": rest["over_limit"],
        "b-self-pay": rest["b_self_pay"],
        "deductible": rest["deductible"],
        "computed-benefit": rest["computed_benefit"],
        "benefit-after-cap": rest["benefit_after_cap"],
        "prior-payer-paid": rest["prior_payments"],
        "coordination-reduction": rest["coordination_reduction"],
        "compliant-self-pay": rest["compliant_self_pay"],
        "over-cap": rest["over_cap"],
    }
    assert one == {code: Decimal(v) for code, v in want.items() if v is not None}
    assert all(len(header[code]) == 1 for code in one)
    cut = Decimal(rest["benefit_after_cap"]) < Decimal(rest["computed_benefit"])
    reason = header["benefit-after-cap"][0].get("reason")
    assert reason == (
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adjudication-reason", "code": "ar002"}]}
        if cut
        else None
    )
    ratios, benefits = header.get("eligpercent", []), header.get("benefit", [])
    assert len(ratios) == len(benefits) == len(rest["bands"])
    for ratio, benefit, band in zip(ratios, benefits, rest["bands"], strict=True):
        assert Decimal(str(ratio["value"])) == Decimal(band["ratio"]) and "amount" not in ratio
        assert amount(benefit) == Decimal(band["amount"])
        for part in (ratio, benefit):
            (extension,) = part["extension"]
            assert extension["url"] == "urn:settle:ext:band"
            bounds = {e["url"]: Decimal(str(e["valueMoney"]["value"])) for e in extension["extension"]}
            assert bounds == {
                "lower": Decimal(band["lower"]),
                "base": Decimal(band["base"]),
                **({} if band["upper"] is None else {"upper": Decimal(band["upper"])}),
            }


def check_common(doc: dict[str, Any], rest: dict[str, Any]) -> None:
    assert doc["id"] == rest["settlement_id"]
    assert doc["identifier"] == [{"system": SETTLEMENT, "value": rest["settlement_id"]}]
    assert datetime.fromisoformat(doc["created"]) == datetime.fromisoformat(rest["created_at"])
    assert doc["status"] == {"settled": "active", "reversed": "cancelled"}[rest["status"]]
    assert (doc["use"], doc["outcome"]) == ("claim", "complete")
    if rest["payer_type"] == "employer":
        assert doc["insurer"]["identifier"] == {"system": EMPLOYER, "value": rest["employer"]["code"]}
        assert doc["insurer"]["display"] == rest["employer"]["name"]
    else:
        assert doc["insurer"] == {"identifier": {"system": SCHEME, "value": rest["scheme_code"]}}
    totals = {coded(t): amount(t) for t in doc["total"]}
    assert totals == {
        "submitted": Decimal(rest["medical_total"]),
        "eligible": Decimal(rest["in_scope"]),
        "benefit": Decimal(rest["fund_payment"]),
        "patient-responsibility": Decimal(rest["patient_responsibility"]),
    }
    assert amount(doc["payment"]) == Decimal(rest["fund_payment"])
    check_header(doc["adjudication"], rest)


def check_settlement(client: TestClient, settlement_id: str, caps: dict[tuple[str, int], Decimal]) -> dict[str, Any]:
    rest = client.get(f"/v1/settlements/{settlement_id}", headers=ADMIN).json()
    bill = client.get(f"/v1/bills/{rest['bill_id']}", headers=ADMIN).json()
    lines = {line["line_no"]: line for line in bill["items"]}

    response = fhir_get(client, f"/ClaimResponse/{settlement_id}")
    ClaimResponse.model_validate(response)
    check_common(response, rest)
    assert response["request"] == {"reference": f"Claim/{rest['bill_id']}"}
    assert response["insurance"] == [
        {
            "sequence": rest["sequence"],
            "focal": True,
            "coverage": {"identifier": {"system": SCHEME, "value": rest["scheme_code"]}},
        }
    ]
    assert response["patient"]["display"] == bill["patient"]["name"]
    assert response["patient"]["identifier"]["value"] == bill["patient"]["id_number"]  # masked in both
    check_lines(response["item"], rest, lines, "itemSequence")

    eob = fhir_get(client, f"/ExplanationOfBenefit/{settlement_id}")
    ExplanationOfBenefit.model_validate(eob)
    check_common(eob, rest)
    assert eob["precedence"] == rest["sequence"]
    assert (eob["claim"], eob["claimResponse"]) == (
        {"reference": f"Claim/{rest['bill_id']}"},
        {"reference": f"ClaimResponse/{settlement_id}"},
    )
    assert eob["provider"]["identifier"]["value"] == bill["hospital"]["code"]
    check_lines(eob["item"], rest, lines, "sequence")
    assert [i["productOrService"]["coding"][0]["code"] for i in eob["item"]] == [line["code"] for line in rest["lines"]]
    (balance,) = eob["benefitBalance"]
    (financial,) = balance["financial"]
    cap = caps.setdefault(
        (rest["scheme_code"], rest["policy_year"]),
        Decimal(
            client.get(f"/v1/schemes/{rest['scheme_code']}/policies/{rest['policy_year']}", headers=ADMIN).json()[
                "annual_cap"
            ]
        ),
    )
    assert Decimal(str(financial["allowedMoney"]["value"])) == cap
    assert Decimal(str(financial["usedMoney"]["value"])) == cap - Decimal(rest["cap_remaining"])
    return rest


def check_bill(client: TestClient, bill_id: str, settlements: list[dict[str, Any]]) -> None:
    """The bill as a Claim, and both searches: every settlement, in sequence order."""
    settlements = sorted(settlements, key=lambda s: s["sequence"])
    claim = fhir_get(client, f"/Claim/{bill_id}")
    Claim.model_validate(claim)
    bill = client.get(f"/v1/bills/{bill_id}", headers=ADMIN).json()
    assert claim["id"] == bill_id
    assert claim["identifier"] == [{"system": "urn:settle:sid:bill-no", "value": bill["bill_no"]}]
    assert [
        (i["sequence"], i["coverage"]["identifier"]["value"], i["claimResponse"]["reference"], i["focal"])
        for i in claim["insurance"]
    ] == [
        (s["sequence"], s["scheme_code"], f"ClaimResponse/{s['settlement_id']}", s["status"] == "settled")
        for s in settlements
    ]
    assert [(i["sequence"], Decimal(str(i["net"]["value"]))) for i in claim["item"]] == [
        (line["line_no"], Decimal(line["amount"])) for line in bill["items"]
    ]
    assert Decimal(str(claim["total"]["value"])) == Decimal(bill["medical_total"])
    for path, kind in (
        (f"/ClaimResponse?request=Claim/{bill_id}", ClaimResponse),
        (f"/ExplanationOfBenefit?claim=Claim/{bill_id}", ExplanationOfBenefit),
    ):
        bundle = fhir_get(client, path)
        Bundle.model_validate(bundle)
        assert (bundle["type"], bundle["total"]) == ("searchset", len(settlements))
        assert [e["resource"]["id"] for e in bundle["entry"]] == [s["settlement_id"] for s in settlements]
        assert all(e["fullUrl"].endswith(f"{FHIR}/{kind.__name__}/{e['resource']['id']}") for e in bundle["entry"])
        for entry in bundle["entry"]:
            kind.model_validate(entry["resource"])


def check_all(client: TestClient, ids: list[str]) -> int:
    caps: dict[tuple[str, int], Decimal] = {}
    by_bill: dict[str, list[dict[str, Any]]] = {}
    for sid in ids:
        rest = check_settlement(client, sid, caps)
        by_bill.setdefault(rest["bill_id"], []).append(rest)
    for bill_id, settlements in by_bill.items():
        check_bill(client, bill_id, settlements)
    return len(ids)


def test_v1_scenarios_as_fhir(client: TestClient, db_url: str) -> None:
    n = check_all(client, run_v1(client))
    assert n == sum(len(s["settlements"]) for s in expected_bill_1().values())
    report(f"FHIR v1: {n} settlements as ClaimResponse and ExplanationOfBenefit, figures equal to REST")


def test_v2_scenarios_as_fhir(client: TestClient, db_url: str) -> None:
    ids = run_v2(client)
    n = check_all(client, ids)
    assert n == sum(len(expected_v2()[name]["settlements"]) for name in V2_ORDER)
    writer_matches_library(ids)


def test_v3_scenarios_as_fhir(client: TestClient, db_url: str) -> None:
    n = check_all(client, run_v3(client))
    assert n == sum(len(s["settlements"]) for s in read_v3("expected-v3.json").values())


def writer_matches_library(ids: list[str]) -> None:
    """The service's writer (app.fhir.serialize) writes what the library's own serialisation
    writes, byte for byte, for each settlement's ClaimResponse and ExplanationOfBenefit."""
    from app.db.tx import read_session
    from app.fhir import resources
    from app.fhir.serialize import fhir_json
    from app.ledger.reads import find_settlement_with_parties

    for sid in ids:
        with read_session() as s:
            record, parties = find_settlement_with_parties(s, sid)
        for built in (
            resources.claim_response(record, parties.patient_name),
            resources.explanation_of_benefit(record, parties),
        ):
            assert fhir_json(built) == orjson.dumps(built.model_dump(mode="json")), sid
            assert type(built).model_validate_json(fhir_json(built)) == built


def test_capability_statement_and_code_systems(client: TestClient, db_url: str) -> None:
    """The CapabilityStatement lists every interaction fhir.md names; each CodeSystem its codes,
    among them every code the resources use and every problem the service reports."""
    r = client.get(f"{FHIR}/metadata")  # no token: like the OpenAPI document
    assert r.status_code == 200 and r.headers["content-type"] == "application/fhir+json"
    statement = r.json()
    CapabilityStatement.model_validate(statement)
    assert (statement["fhirVersion"], statement["kind"], statement["format"]) == ("4.0.1", "instance", ["json"])
    (rest,) = statement["rest"]
    listed = {
        x["type"]: (
            {i["code"] for i in x["interaction"]},
            {p["name"] for p in x.get("searchParam", [])},
            {o["name"] for o in x.get("operation", [])},
        )
        for x in rest["resource"]
    }
    assert listed == {
        "ClaimResponse": ({"read", "search-type"}, {"request"}, set()),
        "ExplanationOfBenefit": ({"read", "search-type"}, {"claim"}, set()),
        "Claim": ({"read"}, set(), {"submit"}),
        "CodeSystem": ({"read"}, set(), set()),
    }
    from app.fhir.resources import CATEGORY, REASON

    used = [concept.model_dump(mode="json")["coding"][0] for concept in [*CATEGORY.values(), *REASON.values()]]
    problems = {str(cls.problem) for cls in _subclasses(DomainError)} - {"about:blank"}
    expected = {
        "adjudication": {x["code"] for x in used if x["system"] == OWN},
        "reason": {x["code"] for x in used if x["system"] == "urn:settle:cs:reason"},
        "problem": problems,
    }
    assert (
        len(expected["reason"]) == 6 and {"excluded", "over-cap", "patient-responsibility"} <= expected["adjudication"]
    )
    for system_id, codes in expected.items():
        r = client.get(f"{FHIR}/CodeSystem/{system_id}")
        assert r.status_code == 200, r.text
        system = r.json()
        CodeSystem.model_validate(system)
        assert (system["url"], system["content"]) == (f"urn:settle:cs:{system_id}", "complete")
        assert codes <= {x["code"] for x in system["concept"]}, system_id
        assert system["count"] == len(system["concept"])
    r = client.get(f"{FHIR}/CodeSystem/nothing")
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"


def _subclasses(cls: type[DomainError]) -> set[type[DomainError]]:
    found = set(cls.__subclasses__())
    return found | {s for c in found for s in _subclasses(c)}


def test_the_documented_claim_settles_scenario_a(client: TestClient, db_url: str) -> None:
    """docs/examples/fhir-claim-bill-1.json, as docs/fhir.md sends it: scenario A's payments."""
    from tests.support.paths import REPO

    load_examples_over_http(client)
    document = json.loads((REPO / "docs" / "examples" / "fhir-claim-bill-1.json").read_text(encoding="utf-8"))
    r = client.post(f"{FHIR}/Claim/$submit", json=document, headers={**ADMIN, "Idempotency-Key": "docs-1"})
    assert r.status_code == 201, r.text
    want = expected_bill_1()["A_nrcms_then_uebmi"]["settlements"]
    responses = [e["resource"] for e in r.json()["entry"]]
    assert [(x["insurer"]["identifier"]["value"], amount(x["payment"])) for x in responses] == [
        (s["scheme_code"], Decimal(s["fund_payment"])) for s in want
    ]
