"""v2 over HTTP on each database: tiers' accumulators moved and restored, employers' liabilities
kept apart per employer and out of clearing, the reference data of tiers, work-injury bills."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.db import tables as db
from tests.support.api import ADMIN, expected_v2, ledger_state, load_v2_over_http, problem, v2_bill

NRCMS, SI, MA, UEBMI, WI = "NRCMS-511623", "SI-511623", "MA-511623", "UEBMI-321100", "WI-321100"
EMPLOYER = {"code": "91321102MA1N7D4Q8W", "name": "Zhenjiang Jianan Construction Co. (sample)"}
OTHER = {"code": "91321102MA1N7D5Q8J", "name": "Zhenjiang Other Works (sample)"}
VOLATILE = ("settlement_id", "sequence", "created_at", "basis_settlement_id", "prior_payments", "status")


def post_bill(client: TestClient, body: dict[str, Any]) -> str:
    r = client.post("/v1/bills", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return str(r.json()["bill_id"])


def settle(client: TestClient, bill_id: str, scheme: str, **extra: Any) -> Any:
    return client.post(f"/v1/bills/{bill_id}/settlements", json={"scheme_code": scheme, **extra}, headers=ADMIN)


def year_totals(url: str) -> dict[str, tuple[Decimal, Decimal]]:
    engine = create_engine(url)
    with Session(engine) as s:
        out = {r.scheme_code: (r.fund_paid, r.compliant_self_pay) for r in s.scalars(select(db.YearTotal))}
    engine.dispose()
    return out


def employer_totals(url: str) -> dict[str, Decimal]:
    engine = create_engine(url)
    with Session(engine) as s:
        out = {r.employer_code: r.fund_paid for r in s.scalars(select(db.EmployerYearTotal))}
    engine.dispose()
    return out


def test_tier_reversal_restores_the_axis_and_resettles_alike(client: TestClient, db_url: str) -> None:
    load_v2_over_http(client)
    bill_id = post_bill(client, v2_bill("bill-3.json"))
    first = {code: settle(client, bill_id, code).json() for code in (NRCMS, SI, MA)}
    assert year_totals(db_url)[SI] == (Decimal("22500.00"), Decimal("50000.00"))
    assert year_totals(db_url)[MA] == (Decimal("18550.00"), Decimal("27500.00"))

    # The basic settlement cannot be reversed while its tiers are active.
    r = client.post(f"/v1/settlements/{first[NRCMS]['settlement_id']}/reversal", headers=ADMIN)
    assert SI in problem(r, 409, "conflict")["detail"]
    for code in (MA, SI):
        r = client.post(f"/v1/settlements/{first[code]['settlement_id']}/reversal", headers=ADMIN)
        assert r.status_code == 200, r.text
    assert year_totals(db_url)[SI] == year_totals(db_url)[MA] == (Decimal("0.00"), Decimal("0.00"))
    ledger_state(db_url)

    again = {code: settle(client, bill_id, code).json() for code in (SI, MA)}
    for code in (SI, MA):
        assert {k: v for k, v in again[code].items() if k not in VOLATILE} == {
            k: v for k, v in first[code].items() if k not in VOLATILE
        }
        assert again[code]["sequence"] == first[code]["sequence"] + 2
        assert again[code]["basis_settlement_id"] == first[NRCMS]["settlement_id"]
    assert year_totals(db_url)[SI] == (Decimal("22500.00"), Decimal("50000.00"))
    ledger_state(db_url)


def test_tier_refusals_over_http(client: TestClient, db_url: str) -> None:
    load_v2_over_http(client)
    bill_id = post_bill(client, v2_bill("bill-3.json"))
    problem(settle(client, bill_id, SI), 422, "basic-not-settled")
    problem(settle(client, bill_id, SI, dry_run=True), 422, "basic-not-settled")
    stranger = v2_bill("bill-5.json")
    stranger["patient"] = {"id_number": "511623198811050015", "name": "Li Qiang"}  # NRCMS member, not MA
    other = post_bill(client, stranger)
    assert settle(client, other, NRCMS).status_code == 201
    problem(settle(client, other, MA), 422, "not-enrolled")
    assert settle(client, other, SI).status_code == 201  # serious illness covers every NRCMS member
    problem(settle(client, other, SI), 409, "conflict")
    ledger_state(db_url)


def test_two_employers_liabilities_for_one_person_kept_apart(client: TestClient, db_url: str) -> None:
    load_v2_over_http(client)
    g = expected_v2()["G_employer_liability_bill_4"]["settlements"][0]
    first = post_bill(client, v2_bill("bill-4.json"))
    second_body = copy.deepcopy(v2_bill("bill-4.json"))
    second_body["bill_no"] = "ZJ-ZY-2026-061999"
    second_body["work_injury"]["employer"] = OTHER
    second = post_bill(client, second_body)
    a = settle(client, first, WI, employer_liability={"employer": EMPLOYER})
    b = settle(client, second, WI, employer_liability={"employer": OTHER})
    assert a.status_code == b.status_code == 201, (a.text, b.text)
    assert a.json()["employer"] == EMPLOYER and b.json()["employer"] == OTHER
    assert a.json()["fund_payment"] == b.json()["fund_payment"] == g["fund_payment"]
    assert employer_totals(db_url) == {EMPLOYER["code"]: Decimal("7575.00"), OTHER["code"]: Decimal("7575.00")}
    assert WI not in year_totals(db_url)  # not a fund payment of the scheme

    # One active settlement per scheme and bill, whoever pays; then reversed like any settlement.
    problem(settle(client, first, WI, employer_liability={"employer": EMPLOYER}), 409, "conflict")
    # Refusals: wrong employer for the bill's work injury, a bad code, a scheme kind without liability.
    # The request's own problems come before the conflict (docs/contract.md, "Several problems in one request").
    problem(settle(client, second, WI, employer_liability={"employer": EMPLOYER}), 422, "validation")
    third_body = copy.deepcopy(second_body)
    third_body["bill_no"] = "ZJ-ZY-2026-062000"
    third = post_bill(client, third_body)
    r = settle(client, third, WI, employer_liability={"employer": EMPLOYER})
    assert problem(r, 422, "validation")["errors"][0]["loc"] == ["body", "employer_liability", "employer", "code"]
    bad = {"code": "91321102MA1N7D5Q8K", "name": "x"}
    problem(settle(client, third, WI, employer_liability={"employer": bad}), 422, "validation")
    problem(settle(client, third, NRCMS, employer_liability={"employer": OTHER}), 422, "validation")
    problem(settle(client, third, UEBMI, employer_liability={"employer": OTHER}), 422, "work-injury")

    listed = client.get("/v1/settlements", params={"payer_type": "employer"}, headers=ADMIN).json()["items"]
    assert {x["settlement_id"] for x in listed} == {a.json()["settlement_id"], b.json()["settlement_id"]}
    assert client.get("/v1/settlements", params={"payer_type": "scheme"}, headers=ADMIN).json()["items"] == []
    r = client.post(f"/v1/settlements/{a.json()['settlement_id']}/reversal", headers=ADMIN)
    assert (r.status_code, r.json()["payer_type"], r.json()["status"]) == (200, "employer", "reversed")
    assert employer_totals(db_url)[EMPLOYER["code"]] == Decimal("0.00")
    assert employer_totals(db_url)[OTHER["code"]] == Decimal("7575.00")

    # Left out of clearing: only fund payments are cleared between schemes.
    period = datetime.now(UTC).strftime("%Y-%m")
    rows = client.get("/v1/clearing", params={"period": period}, headers=ADMIN).json()["rows"]
    assert all(row["scheme_code"] != WI for row in rows)
    ledger_state(db_url)


def test_tier_reference_data_rules(client: TestClient) -> None:
    load_v2_over_http(client)
    tier = {"name": "x", "kind": "serious_illness", "pooling_region": "511623"}
    problem(client.put("/v1/schemes/SI-2", json=tier, headers=ADMIN), 422, "validation")  # no supplements
    problem(client.put("/v1/schemes/SI-2", json={**tier, "supplements": SI}, headers=ADMIN), 422, "validation")
    problem(client.put("/v1/schemes/SI-2", json={**tier, "supplements": "NOPE"}, headers=ADMIN), 422, "validation")
    basic = {"name": "x", "kind": "uebmi", "pooling_region": "321100", "supplements": NRCMS}
    problem(client.put("/v1/schemes/U-2", json=basic, headers=ADMIN), 422, "validation")
    assert client.put("/v1/schemes/SI-2", json={**tier, "supplements": NRCMS}, headers=ADMIN).status_code == 201
    assert client.get(f"/v1/schemes/{SI}", headers=ADMIN).json()["supplements"] == NRCMS

    catalog = {"effective_from": "2026-01-01", "entries": []}
    problem(client.put(f"/v1/schemes/{SI}/catalogs/2026", json=catalog, headers=ADMIN), 422, "validation")
    member = {"id_number": "511623199003071234", "name": "Wang Jun", "coverage": [{"from": "2026-01-01"}]}
    problem(client.put(f"/v1/schemes/{SI}/members/S1", json=member, headers=ADMIN), 422, "validation")
    assert (
        client.put(
            f"/v1/schemes/{MA}/members/MA9", json={**member, "id_number": "511623198811050015"}, headers=ADMIN
        ).status_code
        == 201
    )

    policy = client.get(f"/v1/schemes/{SI}/policies/2026", headers=ADMIN).json()
    assert policy["threshold"] == "15000.00" and policy["bands"][-1] == {"up_to": None, "ratio": "0.80"}
    nrcms_policy = client.get(f"/v1/schemes/{NRCMS}/policies/2026", headers=ADMIN).json()
    nrcms_policy = {k: v for k, v in nrcms_policy.items() if v is not None and k != "scheme_code"}
    problem(client.put(f"/v1/schemes/{SI}/policies/2027", json=nrcms_policy, headers=ADMIN), 422, "validation")
    tier_policy = {k: v for k, v in policy.items() if k != "scheme_code"}
    problem(client.put(f"/v1/schemes/{NRCMS}/policies/2027", json=tier_policy, headers=ADMIN), 422, "validation")
    unordered = {
        **tier_policy,
        "year": 2027,
        "bands": [{"up_to": None, "ratio": "0.5"}, {"up_to": "1.00", "ratio": "0.5"}],
    }
    problem(client.put(f"/v1/schemes/{SI}/policies/2027", json=unordered, headers=ADMIN), 422, "validation")
    assert (
        client.put(f"/v1/schemes/{SI}/policies/2027", json={**tier_policy, "year": 2027}, headers=ADMIN).status_code
        == 201
    )
    # A tier's kind cannot become a scheme's while it has a tier's policies.
    problem(client.put(f"/v1/schemes/{SI}", json={**tier, "kind": "nrcms"}, headers=ADMIN), 409, "conflict")


def test_work_injury_bill_validation(client: TestClient) -> None:
    load_v2_over_http(client)
    body = v2_bill("bill-2.json")
    late = copy.deepcopy(body)
    late["work_injury"]["injury_date"] = "2026-05-07"
    r = client.post("/v1/bills", json=late, headers=ADMIN)
    assert problem(r, 422, "validation")["errors"][0]["loc"] == ["body", "work_injury", "injury_date"]
    bad = copy.deepcopy(body)
    bad["work_injury"]["employer"]["code"] = "91321102MA1N7D4Q8X"
    r = client.post("/v1/bills", json=bad, headers=ADMIN)
    assert problem(r, 422, "validation")["errors"][0]["loc"] == ["body", "work_injury", "employer", "code"]
    r = client.post("/v1/bills", json=body, headers=ADMIN)
    assert r.status_code == 201 and r.json()["work_injury"] == body["work_injury"]
    assert client.post("/v1/bills", json=body, headers=ADMIN).status_code == 200
    other = copy.deepcopy(body)
    other["work_injury"]["determination_no"] = "ZJ-GS-2026-99999"
    problem(client.post("/v1/bills", json=other, headers=ADMIN), 409, "conflict")


def test_serious_illness_office_reads_by_its_basic_schemes_members(client: TestClient) -> None:
    load_v2_over_http(client)
    r = client.post(
        "/v1/clients", json={"name": "SI office", "role": "scheme_office", "scheme_code": SI}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    office = {"Authorization": f"Bearer {r.json()['token']}"}
    member_bill = post_bill(client, v2_bill("bill-3.json"))  # Wang Jun, an NRCMS member
    stranger_bill = post_bill(client, v2_bill("bill-4.json"))  # Zhou Gang, no NRCMS member
    assert client.get(f"/v1/bills/{member_bill}", headers=office).status_code == 200
    problem(client.get(f"/v1/bills/{stranger_bill}", headers=office), 404, "not-found")
    assert settle(client, member_bill, NRCMS).status_code == 201
    r = client.post(f"/v1/bills/{member_bill}/settlements", json={"scheme_code": SI}, headers=office)
    assert r.status_code == 201, r.text
    problem(
        client.post(f"/v1/bills/{member_bill}/settlements", json={"scheme_code": MA}, headers=office), 404, "not-found"
    )


def test_idempotency_bodies_of_v1_requests_hash_as_before() -> None:
    """A key stored before v2 still matches the same request: null v2 fields are not hashed."""
    from app.api.routes_bills import canonical_body
    from app.schemas.settlements import ClaimCreate, SettlementCreate
    from tests.support.api import bill_1

    assert canonical_body(SettlementCreate(scheme_code=NRCMS)) == {
        "scheme_code": NRCMS,
        "dry_run": False,
        "external_payments": [],
    }
    liable = canonical_body(
        SettlementCreate.model_validate({"scheme_code": WI, "employer_liability": {"employer": EMPLOYER}})
    )
    assert liable["employer_liability"] == {"employer": EMPLOYER}
    claim = canonical_body(ClaimCreate.model_validate({"bill": bill_1(), "schemes": [NRCMS]}))
    assert "work_injury" not in claim["bill"]
    injured = canonical_body(ClaimCreate.model_validate({"bill": v2_bill("bill-2.json"), "schemes": [WI]}))
    assert injured["bill"]["work_injury"]["employer"]["code"] == EMPLOYER["code"]
