"""Idempotency (api.md v2), dry runs, ``created_at`` and quantities as sent, on both databases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.support.api import ADMIN, bill_1, ledger_state, post_bill, problem, settle

NRCMS, UEBMI = "NRCMS-511623", "UEBMI-321100"


def other_bill(bill_no: str) -> dict[str, Any]:
    b = bill_1()
    b["bill_no"] = bill_no
    return b


def test_bodies_are_compared_after_defaults_and_dry_run_counts(loaded: TestClient, db_url: str) -> None:
    client = loaded
    bill_id = post_bill(client)
    first = settle(client, bill_id, {"scheme_code": NRCMS}, key="k")
    assert first.status_code == 201, first.text
    # Left-out dry_run is false and left-out external_payments is []: the same body.
    for same in ({"scheme_code": NRCMS, "dry_run": False}, {"scheme_code": NRCMS, "external_payments": []}):
        again = settle(client, bill_id, same, key="k")
        assert (again.status_code, again.json()) == (201, first.json())
    # A body differing in dry_run alone is another body.
    problem(settle(client, bill_id, {"scheme_code": NRCMS, "dry_run": True}, key="k"), 422, "idempotency-mismatch")
    ext = {"payer": "insurer", "voucher_no": "V1", "amount": "1.00"}
    problem(
        settle(client, bill_id, {"scheme_code": NRCMS, "external_payments": [ext]}, key="k"),
        422,
        "idempotency-mismatch",
    )
    assert ledger_state(db_url)["active"] == 1


def test_a_key_belongs_to_its_client_and_operation(loaded: TestClient, db_url: str) -> None:
    client = loaded
    a, b = post_bill(client, other_bill("A")), post_bill(client, other_bill("B"))
    on_a = settle(client, a, {"scheme_code": NRCMS}, key="same")
    on_b = settle(client, b, {"scheme_code": NRCMS}, key="same")  # another path: another operation
    assert on_a.status_code == on_b.status_code == 201
    assert on_a.json()["settlement_id"] != on_b.json()["settlement_id"]
    claim = client.post(
        "/v1/claims", json={"bill": other_bill("C"), "schemes": [NRCMS]}, headers={**ADMIN, "Idempotency-Key": "same"}
    )
    assert claim.status_code == 201, claim.text
    reversal = client.post(
        f"/v1/settlements/{on_b.json()['settlement_id']}/reversal", headers={**ADMIN, "Idempotency-Key": "same"}
    )
    assert reversal.status_code == 200, reversal.text
    # Another client with the same key and body: its own request, refused on its own merits.
    r = client.post(
        "/v1/clients", json={"name": "Linshui", "role": "hospital", "hospital_code": "H511623001"}, headers=ADMIN
    )
    hospital = {"Authorization": f"Bearer {r.json()['token']}", "Idempotency-Key": "same"}
    problem(client.post(f"/v1/bills/{a}/settlements", json={"scheme_code": NRCMS}, headers=hospital), 409, "conflict")
    state = ledger_state(db_url)
    assert (state["active"], state["reversals"]) == (2, 1)


def test_only_carried_out_requests_are_remembered(loaded: TestClient, db_url: str) -> None:
    client = loaded
    stranger = other_bill("S")
    stranger["patient"] = {"id_number": "11010519491231002X", "name": "Li Na"}
    s = post_bill(client, stranger)
    problem(settle(client, s, {"scheme_code": NRCMS}, key="fix-me"), 422, "not-enrolled")
    problem(settle(client, s, {"scheme_code": NRCMS}, key="fix-me"), 422, "not-enrolled")  # evaluated afresh
    bill_id = post_bill(client)
    assert settle(client, bill_id, {"scheme_code": NRCMS}).status_code == 201
    problem(settle(client, bill_id, {"scheme_code": NRCMS}, key="retry"), 409, "conflict")
    # Corrected (another scheme) and sent again with the same key: carried out, then replayed.
    corrected = settle(client, bill_id, {"scheme_code": UEBMI}, key="retry")
    assert corrected.status_code == 201, corrected.text
    assert settle(client, bill_id, {"scheme_code": UEBMI}, key="retry").json() == corrected.json()
    # A dry run is never remembered: the same key then carries the real request out.
    third = post_bill(client, other_bill("T"))
    preview = settle(client, third, {"scheme_code": NRCMS, "dry_run": True}, key="look-first")
    assert (preview.status_code, preview.json()["status"]) == (200, "preview")
    real = settle(client, third, {"scheme_code": NRCMS}, key="look-first")
    assert (real.status_code, real.json()["status"]) == (201, "settled")
    assert ledger_state(db_url)["active"] == 3


def test_a_dry_run_answers_what_the_request_would(loaded: TestClient, db_url: str) -> None:
    client = loaded
    bill_id = post_bill(client)
    before = datetime.now(UTC)
    preview = settle(client, bill_id, {"scheme_code": NRCMS, "dry_run": True})
    assert preview.status_code == 200
    real = settle(client, bill_id, {"scheme_code": NRCMS})
    assert real.status_code == 201
    p, r = preview.json(), real.json()
    assert p["status"] == "preview" and r["status"] == "settled"
    assert p["settlement_id"] is None and p["created_at"] is None
    assert {k: v for k, v in p.items() if k not in ("status", "settlement_id", "created_at")} == {
        k: v for k, v in r.items() if k not in ("status", "settlement_id", "created_at")
    }
    # created_at: RFC 3339 in UTC, the moment it was made.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", r["created_at"])
    made = datetime.fromisoformat(r["created_at"])
    assert before <= made <= datetime.now(UTC) + timedelta(seconds=1)
    # The scheme now holds an active settlement: a dry run is refused as the request would be.
    problem(settle(client, bill_id, {"scheme_code": NRCMS, "dry_run": True}), 409, "conflict")
    claim = {"bill": bill_1(), "schemes": [UEBMI, NRCMS], "dry_run": True}
    problem(client.post("/v1/claims", json=claim, headers=ADMIN), 409, "conflict")
    assert ledger_state(db_url)["active"] == 1


def test_quantities_come_back_as_sent(loaded: TestClient) -> None:
    b = other_bill("Q")
    b["items"][0].update({"quantity": "10", "unit_price": "50.00", "amount": "500.00"})
    b["items"][1].update({"quantity": "2.5", "unit_price": "100.00", "amount": "250.00"})
    b["items"][2].update({"quantity": "1.50", "unit_price": "200.00", "amount": "300.00"})
    b["items"][3].update({"quantity": 20, "unit_price": "125.00", "amount": "2500.00"})
    # A decimal string is plain digits ("1e0" is refused, as the document's pattern says); a JSON
    # number is a number.
    b["items"][4].update({"quantity": 1, "unit_price": "8000.00", "amount": "8000.00"})
    want = ["10", "2.5", "1.50", "20", "1", "10", "1"]
    r = loaded.post("/v1/bills", json=b, headers=ADMIN)
    assert r.status_code == 201, r.text
    assert [i["quantity"] for i in r.json()["items"]] == want
    bill_id = r.json()["bill_id"]
    assert [i["quantity"] for i in loaded.get(f"/v1/bills/{bill_id}", headers=ADMIN).json()["items"]] == want
    listed = loaded.get("/v1/bills", params={"bill_no": "Q"}, headers=ADMIN).json()["items"][0]
    assert [i["quantity"] for i in listed["items"]] == want
    # The same quantities written another way are the same bill.
    b["items"][0]["quantity"] = "10.000"
    again = loaded.post("/v1/bills", json=b, headers=ADMIN)
    assert again.status_code == 200
    assert [i["quantity"] for i in again.json()["items"]] == want
    claim = loaded.post("/v1/claims", json={"bill": bill_1(), "schemes": [NRCMS]}, headers=ADMIN)
    assert [i["quantity"] for i in claim.json()["bill"]["items"]] == ["10", "20", "1", "10", "1", "10", "1"]


def test_order_of_problems(loaded: TestClient, db_url: str) -> None:
    """One request breaking several rules gets the first problem in the order of docs/contract.md
    ("Several problems in one request")."""
    client = loaded
    bill_id = post_bill(client)
    assert settle(client, bill_id, {"scheme_code": NRCMS}, key="first").status_code == 201
    too_much = {"payer": "X", "voucher_no": "V9", "amount": "99999.00"}
    # The key's mismatch before the second active settlement (409) and the vouchers (validation).
    mismatch = {"scheme_code": NRCMS, "external_payments": [too_much]}
    problem(settle(client, bill_id, mismatch, key="first"), 422, "idempotency-mismatch")
    # The second active settlement before the vouchers.
    problem(settle(client, bill_id, mismatch), 409, "conflict")
    # An unknown scheme before everything the settlement itself would check.
    body = problem(settle(client, bill_id, {"scheme_code": "NOPE", "external_payments": [too_much]}), 422, "validation")
    assert [e["loc"] for e in body["errors"]] == [["body", "scheme_code"]]
    # The vouchers (every error together) before membership: a stranger's bill under NRCMS.
    stranger = other_bill("ORDER")
    stranger["patient"] = {"id_number": "11010519491231002X", "name": "Li Na"}
    stranger_id = post_bill(client, stranger)
    twice = {"payer": "X", "voucher_no": "V1", "amount": "1.00"}
    body = problem(
        settle(client, stranger_id, {"scheme_code": NRCMS, "external_payments": [twice, twice, too_much]}),
        422,
        "validation",
    )
    assert [e["loc"] for e in body["errors"]] == [
        ["body", "external_payments", 1, "voucher_no"],
        ["body", "external_payments"],
    ]
    # Membership before the policy year: a stranger discharged in 2027.
    stranger["bill_no"], stranger["discharge_date"] = "ORDER-2027", "2027-01-03"
    problem(settle(client, post_bill(client, stranger), {"scheme_code": NRCMS}), 422, "not-enrolled")
    # A claim: its key before its bill, its bill before its settlements.
    claim = {"bill": other_bill("CLAIMED"), "schemes": [NRCMS]}
    headers = {**ADMIN, "Idempotency-Key": "claim"}
    assert client.post("/v1/claims", json=claim, headers=headers).status_code == 201
    changed = {"bill": {**other_bill("CLAIMED"), "setting": "outpatient"}, "schemes": [NRCMS]}
    problem(client.post("/v1/claims", json=changed, headers=headers), 422, "idempotency-mismatch")
    problem(client.post("/v1/claims", json=changed, headers=ADMIN), 409, "conflict")
    assert ledger_state(db_url)["active"] == 2
