"""Scenario A over HTTP on each database: post, settle twice, split sheet, reverse both."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient

from tests.support.api import ADMIN, bill_1, expected_bill_1, ledger_state


def test_scenario_a_over_http_then_reverse_everything(loaded: TestClient, db_url: str) -> None:
    client = loaded
    r = client.post("/v1/bills", json=bill_1(), headers=ADMIN)
    assert r.status_code == 201, r.text
    bill = r.json()
    assert bill["medical_total"] == "11700.00"
    assert bill["patient"]["id_number"] == "511623********1234"

    want = expected_bill_1()["A_nrcms_then_uebmi"]["settlements"]
    got = []
    for expected in want:
        r = client.post(
            f"/v1/bills/{bill['bill_id']}/settlements", json={"scheme_code": expected["scheme_code"]}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
        body = r.json()
        for field, value in expected.items():
            if field == "lines":
                assert [{k: line[k] for k in value[0]} for line in body["lines"]] == value
            else:
                assert body[field] == value, field
        assert body["status"] == "settled"
        again = client.get(f"/v1/settlements/{body['settlement_id']}", headers=ADMIN)
        assert again.status_code == 200
        assert again.json() == body
        got.append(body)

    split = client.get(f"/v1/bills/{bill['bill_id']}/split", headers=ADMIN).json()
    assert split == {
        "bill_id": bill["bill_id"],
        "medical_total": "11700.00",
        "payments": [
            {
                "sequence": s["sequence"],
                "payer_type": "scheme",
                "payer": s["scheme_code"],
                "scheme_code": s["scheme_code"],
                "scheme_kind": s["scheme_kind"],
                "employer_code": None,
                "voucher_no": None,
                "amount": s["fund_payment"],
                "settlement_id": s["settlement_id"],
            }
            for s in got
        ],
        "total_paid": "11700.00",
        "patient_responsibility": "0.00",
    }
    state = ledger_state(db_url)
    assert state["bills"] == {bill["bill_id"]: Decimal("11700.00")}
    assert sorted((c, Decimal(f)) for c, f, _di, _do in state["totals"]) == [
        ("NRCMS-511623", Decimal("4815.00")),
        ("UEBMI-321100", Decimal("6885.00")),
    ]

    # Only the latest active settlement may be reversed.
    r = client.post(f"/v1/settlements/{got[0]['settlement_id']}/reversal", headers=ADMIN)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/conflict")
    for s in reversed(got):
        r = client.post(f"/v1/settlements/{s['settlement_id']}/reversal", headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "reversed"
        assert r.json()["fund_payment"] == s["fund_payment"]

    state = ledger_state(db_url)
    assert state["bills"] == {bill["bill_id"]: Decimal("0.00")}
    assert all(Decimal(f) == 0 and Decimal(di) == 0 and Decimal(do) == 0 for _c, f, di, do in state["totals"])
    assert state["active"] == 0
    assert state["reversals"] == 2
    split = client.get(f"/v1/bills/{bill['bill_id']}/split", headers=ADMIN).json()
    assert split["payments"] == []
    assert split["patient_responsibility"] == "11700.00"

    # After the reversals the bill can be settled again, in the other order (scenario B).
    want_b = expected_bill_1()["B_uebmi_then_nrcms"]["settlements"]
    for expected in want_b:
        r = client.post(
            f"/v1/bills/{bill['bill_id']}/settlements", json={"scheme_code": expected["scheme_code"]}, headers=ADMIN
        )
        assert r.status_code == 201
        assert r.json()["fund_payment"] == expected["fund_payment"]
        assert r.json()["sequence"] == expected["sequence"] + 2  # sequence numbers are never reused


def test_claim_is_all_or_nothing(loaded: TestClient, db_url: str) -> None:
    client = loaded
    bad = client.post(
        "/v1/claims", json={"bill": bill_1(), "schemes": ["NRCMS-511623", "NO-SUCH-SCHEME"]}, headers=ADMIN
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"][:3] == ["body", "schemes", 1]
    state = ledger_state(db_url)
    assert state["bills"] == {}
    assert state["totals"] == []

    r = client.post("/v1/claims", json={"bill": bill_1(), "schemes": ["NRCMS-511623", "UEBMI-321100"]}, headers=ADMIN)
    assert r.status_code == 201, r.text
    body = r.json()
    want = expected_bill_1()["A_nrcms_then_uebmi"]["settlements"]
    assert [s["fund_payment"] for s in body["settlements"]] == [w["fund_payment"] for w in want]
    assert body["split"]["total_paid"] == "11700.00"
    assert body["bill"]["paid_total"] == "11700.00"


def test_dry_run_changes_nothing(loaded: TestClient, db_url: str) -> None:
    client = loaded
    bill = client.post("/v1/bills", json=bill_1(), headers=ADMIN).json()
    before = ledger_state(db_url)
    r = client.post(
        f"/v1/bills/{bill['bill_id']}/settlements", json={"scheme_code": "UEBMI-321100", "dry_run": True}, headers=ADMIN
    )
    assert r.status_code == 200
    assert r.json()["status"] == "preview"
    assert r.json()["settlement_id"] is None
    assert r.json()["fund_payment"] == "7524.00"
    assert ledger_state(db_url) == before
    r = client.post("/v1/claims", json={"bill": bill_1(), "schemes": ["UEBMI-321100"], "dry_run": True}, headers=ADMIN)
    assert r.status_code == 200
    assert ledger_state(db_url) == before
