"""The claim path's cost (issue 13): what a claim reads, locks and writes, and the reference rows
it marks used ahead of its transaction (``app.ledger.mark_ahead``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.ledger import invariants
from tests.support.api import ADMIN, bill_1, expected_v2, load_examples_over_http, load_v2_over_http, problem, v2_bill
from tests.support.statements import transactions

NRCMS = "NRCMS-511623"
UEBMI = "UEBMI-321100"


@pytest.fixture
def pg_loaded(pg_url: str) -> Iterator[TestClient]:
    from app.main import app

    with TestClient(app) as client:
        load_examples_over_http(client)
        yield client


def used_flags(url: str) -> dict[str, bool]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            policies = conn.execute(text("SELECT scheme_code, used FROM policy")).all()
            versions = conn.execute(text("SELECT scheme_code || '/' || version, used FROM catalog_version")).all()
    finally:
        engine.dispose()
    return {**{f"policy {c}": bool(u) for c, u in policies}, **{f"catalog {v}": bool(u) for v, u in versions}}


def replace_policy(client: TestClient, code: str) -> int:
    policy = client.get(f"/v1/schemes/{code}/policies/2026", headers=ADMIN).json()
    policy.pop("scheme_code")
    policy = {k: v for k, v in policy.items() if v is not None}
    return client.put(f"/v1/schemes/{code}/policies/2026", json=policy, headers=ADMIN).status_code


def test_a_claim_marks_its_reference_rows_used_before_its_transaction_and_locks_none(
    pg_loaded: TestClient, pg_url: str
) -> None:
    loaded = pg_loaded
    from app.ledger import used_hint

    used_hint.forget()  # this process has not seen the (freshly loaded) rows used
    assert used_flags(pg_url)[f"policy {NRCMS}"] is False
    with transactions() as seen:
        r = loaded.post("/v1/claims", json={"bill": bill_1(), "schemes": [NRCMS]}, headers=ADMIN)
    assert r.status_code == 201, r.text
    ahead, claim = seen
    # A short transaction ahead marked the policy and the versions the bill's days use (3
    # statements); the claim's own transaction then found them used.
    assert len(ahead) == 3, ahead
    flags = used_flags(pg_url)
    assert flags[f"policy {NRCMS}"] is True
    assert flags[f"catalog {NRCMS}/2026"] is True
    assert flags[f"policy {UEBMI}"] is False  # another scheme's rows are untouched
    problem(loaded.put(f"/v1/schemes/{NRCMS}/policies/2026", json={}, headers=ADMIN), 422, "validation")
    assert replace_policy(loaded, NRCMS) == 409
    assert replace_policy(loaded, UEBMI) == 200

    # Seen used by this process, the next claim under the scheme costs no transaction ahead.
    # It takes no lock on them either: with another transaction holding the scheme's policy and
    # catalog versions as an administrator's replacement would, the claim still goes through.
    second = {**bill_1(), "bill_no": "LEAN-2"}
    answers: list[Any] = []
    holder = create_engine(pg_url)
    try:
        with holder.connect() as conn, conn.begin():
            for table in ("policy", "catalog_version"):
                locked = f"SELECT id FROM {table} WHERE scheme_code = :code FOR NO KEY UPDATE"
                assert conn.execute(text(locked), {"code": NRCMS}).all()
            with transactions() as seen:
                claiming = threading.Thread(
                    target=lambda: answers.append(
                        loaded.post(
                            "/v1/claims",
                            json={"bill": second, "schemes": [NRCMS]},
                            headers={**ADMIN, "Idempotency-Key": "lean-2"},
                        )
                    )
                )
                claiming.start()
                claiming.join(timeout=20)
                assert not claiming.is_alive(), "the claim waited for a reference row's lock"
    finally:
        holder.dispose()
    (r,) = answers
    assert r.status_code == 201, r.text
    # A claim of a new bill under one scheme (the admin's token needs no lookup): one transaction of
    # 7 statements: the key's record, the registry with the bill number, the bill's insert, the
    # references, the accumulator, the settlement with the bill's totals and the accumulator's, then
    # the idempotency and audit records.
    (claim,) = seen
    assert len(claim) == 7, claim
    again = loaded.post(
        "/v1/claims", json={"bill": second, "schemes": [NRCMS]}, headers={**ADMIN, "Idempotency-Key": "lean-2"}
    )
    assert (again.status_code, again.json()) == (201, r.json())  # the record was written


def test_the_conservative_side_of_marking_ahead(pg_loaded: TestClient, pg_url: str) -> None:
    """A member's claim that is then refused has still marked its rows used (the choice of
    docs/decisions/0003-mark-references-used-ahead.md: the administrator's PUT answers 409 from
    then on); a dry run, or a claim about someone who is no member of the scheme, marks nothing."""
    loaded = pg_loaded
    from app.ledger import used_hint

    used_hint.forget()
    dry = loaded.post("/v1/claims", json={"bill": bill_1(), "schemes": [UEBMI], "dry_run": True}, headers=ADMIN)
    assert dry.status_code == 200, dry.text
    assert used_flags(pg_url)[f"policy {UEBMI}"] is False
    stranger = bill_1()
    stranger["patient"] = {**stranger["patient"], "id_number": "11010519491231002X"}
    refused = loaded.post("/v1/claims", json={"bill": stranger, "schemes": [UEBMI]}, headers=ADMIN)
    problem(refused, 422, "not-enrolled")
    flags = used_flags(pg_url)
    assert (flags[f"policy {UEBMI}"], flags[f"catalog {UEBMI}/2026"]) == (False, False)
    assert replace_policy(loaded, UEBMI) == 200
    # The member's own claim, refused for a scheme that does not exist, has marked UEBMI's rows.
    refused = loaded.post("/v1/claims", json={"bill": bill_1(), "schemes": [UEBMI, "NO-SUCH"]}, headers=ADMIN)
    problem(refused, 422, "validation")
    flags = used_flags(pg_url)
    assert (flags[f"policy {UEBMI}"], flags[f"catalog {UEBMI}/2026"]) == (True, True)
    assert replace_policy(loaded, UEBMI) == 409


def test_a_claims_split_is_the_bills_split(loaded: TestClient) -> None:
    """The claim's split sheet is built from what it just settled, not read back: it must be the
    very sheet the bill's split endpoint reads."""
    r = loaded.post("/v1/claims", json={"bill": bill_1(), "schemes": [NRCMS, UEBMI]}, headers=ADMIN)
    assert r.status_code == 201, r.text
    body = r.json()
    split = loaded.get(f"/v1/bills/{body['bill']['bill_id']}/split", headers=ADMIN)
    assert split.status_code == 200
    assert body["split"] == split.json()
    assert [p["sequence"] for p in body["split"]["payments"]] == [1, 2]
    assert body["split"]["total_paid"] == "11700.00"


def test_a_one_stop_claim_reads_the_bills_payments_never(pg_url: str) -> None:
    """A one-stop claim (v2: NRCMS, its serious-illness tier, medical assistance, then UEBMI) on a
    new bill reads none of the bill's settlements or external payments back: each settlement
    knows the ones this transaction made before it, and a tier its basis.  Its statements: the
    registry with the bill number, the bill, the references, one accumulator per scheme, one
    write per settlement and the audit record (no ``Idempotency-Key``)."""
    from app.main import app

    with TestClient(app) as client:
        load_v2_over_http(client)
        schemes = ["NRCMS-511623", "SI-511623", "MA-511623", "UEBMI-321100"]
        bill = v2_bill("bill-3.json", fill_hospital=True)
        with transactions() as seen:
            r = client.post("/v1/claims", json={"bill": bill, "schemes": schemes}, headers=ADMIN)
        assert r.status_code == 201, r.text
        want = expected_v2()["E_one_stop_bill_3"]["settlements"]
        assert [s["fund_payment"] for s in r.json()["settlements"]] == [s["fund_payment"] for s in want]
    # This worker's first claim under these schemes also reads their policies and catalog entries
    # once, into its cache (app.ledger.inputs); every later claim finds them there.
    claim = [s for s in seen[-1] if not s.startswith(("SELECT policy.body", "SELECT catalog_entry"))]
    assert not [s for s in claim if "FROM settlement" in s or "FROM external_payment" in s], claim
    assert len(claim) == 3 + 2 * len(schemes) + 1, claim


def test_a_claims_large_values_are_stored_lz4_compressed(pg_loaded: TestClient, pg_url: str) -> None:
    """The values a claim writes past PostgreSQL's compression threshold (the bill's lines, the
    settlement's detail, the key's stored answer) are compressed with lz4 (migration 0009), and
    read back whole."""
    bill = bill_1()
    lines = bill["items"]
    bill["items"] = [{**lines[i % len(lines)], "line_no": i + 1} for i in range(6 * len(lines))]
    headers = {**ADMIN, "Idempotency-Key": "lz4-1"}
    r = pg_loaded.post("/v1/claims", json={"bill": bill, "schemes": [NRCMS]}, headers=headers)
    assert r.status_code == 201, r.text
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            methods = conn.execute(
                text(
                    "SELECT pg_column_compression(b.items), pg_column_compression(s.detail),"
                    " pg_column_compression(i.response_body)"
                    " FROM bill b JOIN settlement s ON s.bill_id = b.id, idempotency_record i"
                    " WHERE b.bill_no = :no AND i.key = 'lz4-1'"
                ),
                {"no": bill["bill_no"]},
            ).one()
    finally:
        engine.dispose()
    assert tuple(methods) == ("lz4", "lz4", "lz4")
    (settlement,) = r.json()["settlements"]
    read = pg_loaded.get(f"/v1/settlements/{settlement['settlement_id']}", headers=ADMIN)
    assert read.json()["lines"] == settlement["lines"] and len(settlement["lines"]) == 42
    again = pg_loaded.post("/v1/claims", json={"bill": bill, "schemes": [NRCMS]}, headers=headers)
    assert (again.status_code, again.json()) == (201, r.json())


def test_a_reversal_reads_its_settlement_once_under_the_lock_and_writes_in_one_statement(
    pg_loaded: TestClient, pg_url: str
) -> None:
    """A reversal: the settlement's bill (before the lock), the bill locked, the key's record, the
    settlement with the bill's active ones (one statement, under the lock), the accumulator, then
    every write in one statement (settlement, external payments, reversal record, bill and
    accumulator) and the idempotency and audit records."""
    loaded = pg_loaded
    r = loaded.post("/v1/claims", json={"bill": bill_1(), "schemes": [NRCMS, UEBMI]}, headers=ADMIN)
    assert r.status_code == 201, r.text
    body = r.json()
    second = body["settlements"][1]
    with transactions() as seen:
        rev = loaded.post(
            f"/v1/settlements/{second['settlement_id']}/reversal", headers={**ADMIN, "Idempotency-Key": "rev-1"}
        )
    assert rev.status_code == 200, rev.text
    assert rev.json()["status"] == "reversed"
    assert {k: v for k, v in rev.json().items() if k not in ("status", "reversed_at")} == {
        k: v for k, v in second.items() if k not in ("status", "reversed_at")
    }
    (reversal,) = seen
    assert len(reversal) == 7, reversal
    assert len([s for s in reversal if "FROM settlement" in s]) == 2  # the peek, then under the lock
    # Everything the reversal moved (settlement, reversal record, bill, accumulator) agrees.
    engine = create_engine(pg_url)
    try:
        report = invariants.check_database(engine)
    finally:
        engine.dispose()
    assert report.checks > 0 and report.violations == []
    bill = loaded.get(f"/v1/bills/{body['bill']['bill_id']}", headers=ADMIN).json()
    assert bill["paid_total"] == body["settlements"][0]["fund_payment"]
    again = loaded.post(
        f"/v1/settlements/{second['settlement_id']}/reversal", headers={**ADMIN, "Idempotency-Key": "rev-1"}
    )
    assert (again.status_code, again.json()) == (200, rev.json())
