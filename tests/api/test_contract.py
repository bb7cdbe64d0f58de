"""The HTTP contract of api.md, operation by operation, on both databases."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient

from tests.support.api import ADMIN, bill_1, ledger_state, post_bill, problem, settle

NRCMS, UEBMI = "NRCMS-511623", "UEBMI-321100"


def test_bill_repost_same_content_200_other_content_409(loaded: TestClient) -> None:
    first = loaded.post("/v1/bills", json=bill_1(), headers=ADMIN)
    assert first.status_code == 201
    again = loaded.post("/v1/bills", json=bill_1(), headers=ADMIN)
    assert again.status_code == 200
    assert again.json() == first.json()
    # The same money written differently is the same content.
    same = bill_1()
    same["items"][0]["unit_price"] = 50
    same["items"][0]["amount"] = "500.0"
    assert loaded.post("/v1/bills", json=same, headers=ADMIN).status_code == 200
    other = bill_1()
    other["items"][1]["quantity"] = "21"
    other["items"][1]["amount"] = "262.50"
    problem(loaded.post("/v1/bills", json=other, headers=ADMIN), 409, "conflict")
    assert loaded.get(f"/v1/bills/{first.json()['bill_id']}", headers=ADMIN).json() == first.json()


def test_bill_validation_lists_every_error(loaded: TestClient, db_url: str) -> None:
    bad = bill_1()
    bad["hospital"]["region"] = "51162"
    bad["patient"]["id_number"] = "511623199003071235"
    bad["discharge_date"] = "2026-03-01"
    bad["items"][0]["amount"] = "500.02"
    bad["items"][1]["unit_price"] = "12.505"
    bad["items"][2]["quantity"] = "-1"
    bad["items"][3]["line_no"] = 1
    body = problem(loaded.post("/v1/bills", json=bad, headers=ADMIN), 422, "validation")
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert {
        ("body", "hospital", "region"),
        ("body", "patient", "id_number"),
        ("body", "discharge_date"),
        ("body", "items", 0, "amount"),
        ("body", "items", 1, "unit_price"),
        ("body", "items", 2, "quantity"),
        ("body", "items", 3, "line_no"),
    } <= locs
    assert "511623199003071235" not in r_text(body)
    assert ledger_state(db_url)["bills"] == {}


def r_text(body: dict[str, Any]) -> str:
    import json

    return json.dumps(body)


def test_malformed_unknown_and_oversized_bodies(loaded: TestClient) -> None:
    problem(
        loaded.post("/v1/bills", content=b'{"bill_no": ', headers={**ADMIN, "content-type": "application/json"}),
        400,
        "malformed",
    )
    extra = bill_1()
    extra["items"][0]["discount"] = "1.00"
    body = problem(loaded.post("/v1/bills", json=extra, headers=ADMIN), 422, "validation")
    assert body["errors"][0]["loc"] == ["body", "items", 0, "discount"]
    big = b"[" + b" " * (8 * 1024 * 1024 + 10) + b"]"
    problem(
        loaded.post("/v1/bills", content=big, headers={**ADMIN, "content-type": "application/json"}),
        413,
        "payload-too-large",
    )


def test_auth_is_required(client: TestClient) -> None:
    problem(client.get("/v1/schemes/NRCMS-511623"), 401, "unauthorized")
    problem(client.get("/v1/schemes/NRCMS-511623", headers={"Authorization": "Bearer nope"}), 401, "unauthorized")


def test_second_active_settlement_of_a_scheme_is_409(loaded: TestClient) -> None:
    bill_id = post_bill(loaded)
    assert settle(loaded, bill_id, {"scheme_code": NRCMS}).status_code == 201
    problem(settle(loaded, bill_id, {"scheme_code": NRCMS}), 409, "conflict")
    problem(settle(loaded, bill_id, {"scheme_code": NRCMS, "dry_run": True}), 409, "conflict")


def test_idempotency_replay_and_mismatch(loaded: TestClient, db_url: str) -> None:
    bill_id = post_bill(loaded)
    first = settle(loaded, bill_id, {"scheme_code": NRCMS}, key="key-1")
    assert first.status_code == 201
    again = settle(loaded, bill_id, {"scheme_code": NRCMS}, key="key-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    problem(settle(loaded, bill_id, {"scheme_code": UEBMI}, key="key-1"), 422, "idempotency-mismatch")
    assert ledger_state(db_url)["active"] == 1
    # A reversal retried with its key replays too.
    sid = first.json()["settlement_id"]
    r1 = loaded.post(f"/v1/settlements/{sid}/reversal", headers={**ADMIN, "Idempotency-Key": "rev-1"})
    r2 = loaded.post(f"/v1/settlements/{sid}/reversal", headers={**ADMIN, "Idempotency-Key": "rev-1"})
    assert r1.status_code == r2.status_code == 200
    assert r1.json() == r2.json()
    problem(loaded.post(f"/v1/settlements/{sid}/reversal", headers=ADMIN), 409, "conflict")


def test_domain_refusals(loaded: TestClient, db_url: str) -> None:
    stranger = bill_1()
    stranger["bill_no"] = "ZY-STRANGER"
    stranger["patient"] = {"id_number": "11010519491231002X", "name": "Somebody Else"}
    bill_id = post_bill(loaded, stranger)
    problem(settle(loaded, bill_id, {"scheme_code": NRCMS}), 422, "not-enrolled")

    next_year = bill_1()
    next_year["bill_no"] = "ZY-2027"
    next_year["admission_date"], next_year["discharge_date"] = "2026-12-28", "2027-01-03"
    problem(settle(loaded, post_bill(loaded, next_year), {"scheme_code": NRCMS}), 422, "no-policy")

    outpatient = bill_1()
    outpatient["bill_no"] = "MZ-1"
    outpatient["setting"] = "outpatient"
    problem(settle(loaded, post_bill(loaded, outpatient), {"scheme_code": NRCMS}), 422, "not-covered")

    early = bill_1()
    early["bill_no"] = "ZY-EARLY"
    early["items"][0]["service_date"] = "2025-12-31"
    problem(settle(loaded, post_bill(loaded, early), {"scheme_code": NRCMS}), 422, "no-catalog")

    body = problem(settle(loaded, bill_id, {"scheme_code": "NOPE"}), 422, "validation")
    assert body["errors"][0]["loc"] == ["body", "scheme_code"]
    state = ledger_state(db_url)
    assert state["active"] == 0
    assert state["totals"] == []


def test_external_payments_with_vouchers(loaded: TestClient, db_url: str) -> None:
    bill_id = post_bill(loaded)
    ext = {"payer": "Commercial insurer", "voucher_no": "V-1", "amount": "1000.00"}
    r = settle(loaded, bill_id, {"scheme_code": NRCMS, "external_payments": [ext]})
    assert r.status_code == 201, r.text
    assert r.json()["prior_payments"] == "1000.00"
    assert r.json()["fund_payment"] == "4815.00"
    assert r.json()["patient_responsibility"] == "5885.00"
    body = problem(settle(loaded, bill_id, {"scheme_code": UEBMI, "external_payments": [ext]}), 422, "validation")
    assert body["errors"][0]["loc"] == ["body", "external_payments", 0, "voucher_no"]
    too_much = {"payer": "X", "voucher_no": "V-2", "amount": "6000.00"}
    problem(settle(loaded, bill_id, {"scheme_code": UEBMI, "external_payments": [too_much]}), 422, "validation")
    r = settle(loaded, bill_id, {"scheme_code": UEBMI})
    assert r.json()["prior_payments"] == "5815.00"
    assert r.json()["fund_payment"] == "5885.00"
    split = loaded.get(f"/v1/bills/{bill_id}/split", headers=ADMIN).json()
    assert [(p["payer_type"], p["amount"], p["sequence"]) for p in split["payments"]] == [
        ("external", "1000.00", 1),
        ("scheme", "4815.00", 1),
        ("scheme", "5885.00", 2),
    ]
    assert split["total_paid"] == "11700.00"
    # Reversing the settlement that declared the voucher removes it with it.
    loaded.post(f"/v1/settlements/{r.json()['settlement_id']}/reversal", headers=ADMIN)
    first_id = split["payments"][1]["settlement_id"]
    assert loaded.post(f"/v1/settlements/{first_id}/reversal", headers=ADMIN).status_code == 200
    assert ledger_state(db_url)["bills"][bill_id] == 0
    assert settle(loaded, bill_id, {"scheme_code": NRCMS, "external_payments": [ext]}).status_code == 201


def test_reference_data_round_trip_csv_and_used_versions(loaded: TestClient) -> None:
    csv_text = (
        "code,name,category,class,self_pay_ratio,price_cap,settings,min_hospital_level\n"
        "001201000010000,Bed,facility,A,,40.00,,\n"
        "HC-STENT-01,Stent,material,B,0.30,6000.00,inpatient|outpatient,2\n"
    )
    r = loaded.put(
        "/v1/schemes/NRCMS-511623/catalogs/2027?effective_from=2027-01-01",
        content=csv_text.encode(),
        headers={**ADMIN, "content-type": "text/csv"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["entries"][1] == {
        "code": "HC-STENT-01",
        "name": "Stent",
        "category": "material",
        "class": "B",
        "self_pay_ratio": "0.30",
        "price_cap": "6000.00",
        "settings": ["inpatient", "outpatient"],
        "min_hospital_level": 2,
    }
    bad_csv = "code,name\nX,Y\n"
    problem(
        loaded.put(
            "/v1/schemes/NRCMS-511623/catalogs/2028?effective_from=2028-01-01",
            content=bad_csv.encode(),
            headers={**ADMIN, "content-type": "text/csv"},
        ),
        422,
        "validation",
    )
    catalog = loaded.get("/v1/schemes/NRCMS-511623/catalogs/2026", headers=ADMIN).json()
    replacement = {k: v for k, v in catalog.items() if k != "scheme_code"}
    assert loaded.put("/v1/schemes/NRCMS-511623/catalogs/2026", json=replacement, headers=ADMIN).status_code == 200
    policy = loaded.get("/v1/schemes/NRCMS-511623/policies/2026", headers=ADMIN).json()
    policy.pop("scheme_code")
    policy = {k: v for k, v in policy.items() if v is not None}
    assert loaded.put("/v1/schemes/NRCMS-511623/policies/2026", json=policy, headers=ADMIN).status_code == 200
    # Path and body disagree.
    problem(loaded.put("/v1/schemes/NRCMS-511623/policies/2027", json=policy, headers=ADMIN), 422, "validation")

    bill_id = post_bill(loaded)
    assert settle(loaded, bill_id, {"scheme_code": NRCMS}).status_code == 201
    problem(loaded.put("/v1/schemes/NRCMS-511623/catalogs/2026", json=replacement, headers=ADMIN), 409, "conflict")
    problem(loaded.put("/v1/schemes/NRCMS-511623/policies/2026", json=policy, headers=ADMIN), 409, "conflict")
    member = loaded.get("/v1/schemes/NRCMS-511623/members/NC5116230001", headers=ADMIN).json()
    assert member["id_number"] == "511623********1234"
    twin = {"id_number": "511623199003071234", "name": "Wang Jun", "coverage": [{"from": "2026-01-01", "to": None}]}
    problem(loaded.put("/v1/schemes/NRCMS-511623/members/OTHER-NO", json=twin, headers=ADMIN), 409, "conflict")


def test_policy_validation(loaded: TestClient) -> None:
    policy = copy.deepcopy(loaded.get("/v1/schemes/UEBMI-321100/policies/2026", headers=ADMIN).json())
    policy.pop("scheme_code")
    policy = {k: v for k, v in policy.items() if v is not None}
    policy["inpatient"]["bands"].reverse()
    problem(loaded.put("/v1/schemes/UEBMI-321100/policies/2030", json=policy, headers=ADMIN), 422, "validation")


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_field_errors_are_located_in_the_request_part_they_came_from(loaded: TestClient) -> None:
    """The reference services locate errors in what they were given; the routes place them in the
    request: a CSV upload's in the query (effective_from) and the body (its lines, its entries),
    a put's in the body, or in the path when the scheme is the problem."""
    csv_put = "/v1/schemes/NRCMS-511623/catalogs/2029"
    as_csv = {**ADMIN, "content-type": "text/csv"}
    header = "code,name,category,class,self_pay_ratio,price_cap,settings,min_hospital_level\n"

    def errors(r: Any) -> list[tuple[list[Any], str]]:
        return [(e["loc"], e["msg"]) for e in problem(r, 422, "validation")["errors"]]

    # No effective_from (query) and a short line (body, line 2 counting the header as 0) together.
    short_line = header + "001201000010000,Bed,facility,A,,40.00,,\nX,Y\n"
    assert errors(loaded.put(csv_put, content=short_line.encode(), headers=as_csv)) == [
        (["query", "effective_from"], "a CSV catalog needs effective_from as a query parameter"),
        (["body", 2], "CSV line 3 has 2 cells, expected 8"),
    ]
    # A wrong header: the body's line 0, after the query's error.
    assert errors(loaded.put(csv_put, content=b"code,name\nX,Y\n", headers=as_csv)) == [
        (["query", "effective_from"], "a CSV catalog needs effective_from as a query parameter"),
        (["body", 0], "the first CSV line must be the header " + header.strip()),
    ]
    # The catalog the lines make: its fields, in the body.
    bad_entry = header + "001201000010000,Bed,facility,A,,lots,,\n"
    located = errors(loaded.put(csv_put + "?effective_from=2029-01-01", content=bad_entry.encode(), headers=as_csv))
    assert [loc for loc, _ in located] == [["body", "entries", 0, "A", "price_cap"]]
    twice = header + "X1,Bed,facility,A,,,,\nX1,Bed,facility,A,,,,\n"
    assert errors(loaded.put(csv_put + "?effective_from=2029-01-01", content=twice.encode(), headers=as_csv)) == [
        (["body"], "Value error, entry code 'X1' appears twice")
    ]
    # A put's own key differs from the path's: the body; a tier has no catalog: the path.
    catalog = {"version": "2030", "effective_from": "2030-01-01", "entries": []}
    assert errors(loaded.put(csv_put, json=catalog, headers=ADMIN)) == [
        (["body", "version"], "version '2030' in the body differs from '2029' in the path")
    ]
    si = {"name": "Serious illness", "kind": "serious_illness", "pooling_region": "511623"}
    si |= {"coordination": "repeat_capped", "supplements": "NRCMS-511623"}
    assert loaded.put("/v1/schemes/SI-511623", json=si, headers=ADMIN).status_code in (200, 201)
    tier = loaded.put("/v1/schemes/SI-511623/catalogs/2029", json={**catalog, "version": None}, headers=ADMIN)
    assert errors(tier) == [(["path", "scheme_code"], "SI-511623 is a serious_illness tier: a tier has no catalog")]
