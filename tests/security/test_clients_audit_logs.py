"""Clients and tokens, the audit trail, and no raw ID number in any log line."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.logs import configure_logging
from app.main import app
from app.settings import get_settings
from tests.support.api import ADMIN, bill_1, load_examples_over_http

RAW_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_are_random_shown_once_stored_as_hash_and_revocable(client: TestClient, db_url: str) -> None:
    load_examples_over_http(client)
    r = client.post(
        "/v1/clients", json={"name": "Linshui", "role": "hospital", "hospital_code": "H511623001"}, headers=ADMIN
    )
    assert r.status_code == 201
    created = r.json()
    token = created["token"]
    assert len(token) >= 4 + 43  # prefix + 32 random bytes in URL-safe base64
    other = client.post("/v1/clients", json={"name": "x", "role": "admin"}, headers=ADMIN).json()["token"]
    assert other != token
    engine = create_engine(db_url)
    with Session(engine) as s:
        row = s.get(db.Client, created["client_id"])
        assert row is not None
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in json.dumps(row.model_dump(), default=str)
    engine.dispose()
    listed = client.get("/v1/clients", headers=ADMIN).json()
    assert all("token" not in c for c in listed)
    assert {c["client_id"] for c in listed} >= {created["client_id"]}

    assert client.get("/v1/bills/nope", headers=bearer(token)).status_code == 404
    assert client.delete(f"/v1/clients/{created['client_id']}", headers=ADMIN).status_code == 200
    assert client.get("/v1/bills/nope", headers=bearer(token)).status_code == 401

    bad = client.post("/v1/clients", json={"name": "x", "role": "scheme_office"}, headers=ADMIN)
    assert bad.status_code == 422
    unknown = client.post(
        "/v1/clients", json={"name": "x", "role": "scheme_office", "scheme_code": "NOPE"}, headers=ADMIN
    )
    assert unknown.status_code == 422


def test_idempotency_keys_are_scoped_per_client(client: TestClient) -> None:
    load_examples_over_http(client)
    tokens = [
        client.post(
            "/v1/clients", json={"name": f"h{i}", "role": "hospital", "hospital_code": "H511623001"}, headers=ADMIN
        ).json()["token"]
        for i in range(2)
    ]
    bill_id = client.post("/v1/bills", json=bill_1(), headers=bearer(tokens[0])).json()["bill_id"]
    a = client.post(
        f"/v1/bills/{bill_id}/settlements",
        json={"scheme_code": "NRCMS-511623"},
        headers={**bearer(tokens[0]), "Idempotency-Key": "same"},
    )
    b = client.post(
        f"/v1/bills/{bill_id}/settlements",
        json={"scheme_code": "UEBMI-321100"},
        headers={**bearer(tokens[1]), "Idempotency-Key": "same"},
    )
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["settlement_id"] != b.json()["settlement_id"]


def test_audit_records_writes_settlement_reads_and_refusals(client: TestClient) -> None:
    load_examples_over_http(client)
    office = client.post(
        "/v1/clients", json={"name": "o", "role": "scheme_office", "scheme_code": "NRCMS-511623"}, headers=ADMIN
    ).json()
    bill_id = client.post("/v1/bills", json=bill_1(), headers=ADMIN).json()["bill_id"]
    sid = client.post(f"/v1/bills/{bill_id}/settlements", json={"scheme_code": "NRCMS-511623"}, headers=ADMIN).json()[
        "settlement_id"
    ]
    assert client.get(f"/v1/settlements/{sid}", headers=bearer(office["token"])).status_code == 200
    assert (
        client.post(
            f"/v1/bills/{bill_id}/settlements", json={"scheme_code": "UEBMI-321100"}, headers=bearer(office["token"])
        ).status_code
        == 404
    )
    assert client.post("/v1/bills", json=bill_1(), headers=bearer(office["token"])).status_code == 403
    assert client.get(f"/v1/settlements/{sid}", headers=bearer("stl_wrong")).status_code == 401

    page = client.get("/v1/audit", params={"limit": 500}, headers=ADMIN).json()
    items = page["items"]
    by_op = [(i["operation"], i["client_id"], i["object_id"], i["status_code"], i["outcome"]) for i in items]
    assert ("createSettlement", "admin", sid, 201, "ok") in by_op
    assert ("getSettlement", office["client_id"], sid, 200, "ok") in by_op
    assert ("createSettlement", office["client_id"], bill_id, 404, "refused") in by_op
    assert ("submitBill", office["client_id"], None, 403, "refused") in by_op
    assert ("getSettlement", None, sid, 401, "refused") in by_op
    assert ("submitBill", "admin", bill_id, 201, "ok") in by_op
    # Reads other than of settlements are not audited.
    assert not any(i["operation"] == "getBill" for i in items)
    assert all(i["at"] and i["request_id"] for i in items)

    mine = client.get("/v1/audit", params={"client_id": office["client_id"]}, headers=ADMIN).json()["items"]
    assert {i["client_id"] for i in mine} == {office["client_id"]}
    refused = client.get("/v1/audit", params={"outcome": "refused"}, headers=ADMIN).json()["items"]
    assert refused and all(i["outcome"] == "refused" for i in refused)
    first = client.get("/v1/audit", params={"limit": 2}, headers=ADMIN).json()
    assert len(first["items"]) == 2 and first["next_cursor"] == first["items"][-1]["id"]
    second = client.get("/v1/audit", params={"limit": 2, "cursor": first["next_cursor"]}, headers=ADMIN).json()
    assert second["items"][0]["id"] < first["items"][-1]["id"]
    # There is no way to change or delete an audit record through the API.
    spec = app.openapi()["paths"]
    assert set(spec["/v1/audit"]) == {"get"}


def test_a_committed_writes_audit_record_is_in_its_own_transaction(
    client: TestClient, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record of a bill, a claim, a settlement and a reversal commits with the write itself:
    with the separate after-the-response audit write broken, they are all still recorded (and
    only once), while a refusal, which commits nothing, is recorded by that separate write."""
    import app.api.observe

    load_examples_over_http(client)
    late: list[str] = []
    monkeypatch.setattr(app.api.observe, "_write_audit", lambda entry: late.append(entry["operation"]))
    bill_id = client.post("/v1/bills", json=bill_1(), headers=ADMIN).json()["bill_id"]
    settled = client.post(f"/v1/bills/{bill_id}/settlements", json={"scheme_code": "NRCMS-511623"}, headers=ADMIN)
    sid = settled.json()["settlement_id"]
    assert client.post(f"/v1/settlements/{sid}/reversal", json={"reason": "test"}, headers=ADMIN).status_code == 200
    claim = {"bill": {**bill_1(), "bill_no": "AUDIT-CLAIM-1"}, "schemes": ["NRCMS-511623"]}
    claimed = client.post("/v1/claims", json=claim, headers={**ADMIN, "Idempotency-Key": "audit-1"})
    assert claimed.status_code == 201
    replayed = client.post("/v1/claims", json=claim, headers={**ADMIN, "Idempotency-Key": "audit-1"})
    assert replayed.status_code == 201 and replayed.json() == claimed.json()
    refused = client.post(f"/v1/bills/{bill_id}/settlements", json={"scheme_code": "NO-SUCH"}, headers=ADMIN)
    assert refused.status_code in (404, 422)
    assert late == ["createSettlement"]

    with Session(create_engine(db_url)) as s:
        rows = list(s.scalars(select(db.AuditRecord).order_by(col(db.AuditRecord.id))))
    written = [(r.operation, r.object_id, r.status_code, r.outcome) for r in rows if r.operation != "putScheme"]
    claimed_bill = claimed.json()["bill"]["bill_id"]
    assert [w for w in written if w[0] in ("submitBill", "createSettlement", "reverseSettlement", "submitClaim")] == [
        ("submitBill", bill_id, 201, "ok"),
        ("createSettlement", sid, 201, "ok"),
        ("reverseSettlement", sid, 200, "ok"),
        ("submitClaim", claimed_bill, 201, "ok"),
        ("submitClaim", claimed_bill, 201, "ok"),
    ]
    assert all(r.request_id and r.client_id == "admin" for r in rows if r.operation == "submitClaim")


def test_no_raw_id_number_in_logs_errors_or_audit(client: TestClient) -> None:
    stream = io.StringIO()
    handler = configure_logging(get_settings(), stream)
    # The test client's own request lines (httpx, in this process) are not the service's logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        load_examples_over_http(client)
        seen_ids = {bill_1()["patient"]["id_number"]}
        bill = client.post("/v1/bills", json=bill_1(), headers=ADMIN).json()
        client.post("/v1/claims", json={"bill": bill_1(), "schemes": ["NRCMS-511623", "UEBMI-321100"]}, headers=ADMIN)
        client.get(f"/v1/bills/{bill['bill_id']}", headers=ADMIN)
        bad = bill_1()
        bad["bill_no"] = "BAD"
        bad["patient"]["id_number"] = "511623199003071235"  # wrong check character
        seen_ids.add(bad["patient"]["id_number"])
        errors = [client.post("/v1/bills", json=bad, headers=ADMIN)]
        stranger = bill_1()
        stranger["bill_no"] = "STRANGER"
        stranger["patient"]["id_number"] = "11010519491231002X"
        seen_ids.add(stranger["patient"]["id_number"])
        sb = client.post("/v1/bills", json=stranger, headers=ADMIN).json()
        errors.append(
            client.post(f"/v1/bills/{sb['bill_id']}/settlements", json={"scheme_code": "NRCMS-511623"}, headers=ADMIN)
        )
        member = {"id_number": "511623199003071235", "name": "x", "coverage": []}
        errors.append(client.put("/v1/schemes/NRCMS-511623/members/X1", json=member, headers=ADMIN))
        # An ID number in a URL reaches the access log and the audit trail masked.
        errors.append(client.get("/v1/bills/511623199003071234", headers=ADMIN))
        errors.append(
            client.post("/v1/bills/511623199003071234/settlements", json={"scheme_code": "NRCMS-511623"}, headers=ADMIN)
        )
        # ... and so does one in a query string, well-formed or not, and in the lists' answers.
        found = client.get("/v1/bills", params={"patient_id_number": "511623199003071234"}, headers=ADMIN)
        assert found.status_code == 200 and len(found.json()["items"]) == 1
        errors.append(found)
        errors.append(client.get("/v1/bills", params={"patient_id_number": "511623199003071234abc"}, headers=ADMIN))
        errors.append(client.get("/v1/settlements", params={"bill_id": "511623199003071234"}, headers=ADMIN))
        errors.append(client.get("/v1/bills?patient_id_number=511623199003071234&limit=0", headers=ADMIN))
        audit = client.get("/v1/audit", params={"limit": 500}, headers=ADMIN).text
        assert "/v1/settlements?bill_id=511623********1234" in audit
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("httpx").setLevel(logging.NOTSET)
    logs = stream.getvalue()
    lines = [line for line in logs.splitlines() if line.strip()]
    requests = [json.loads(line) for line in lines if '"request"' in line]
    assert len(requests) >= 10
    assert {"query": "patient_id_number=511623********1234"}.items() <= next(
        r for r in requests if r.get("query") and r["route"] == "/v1/bills"
    ).items()
    assert all(r.get("request_id") not in (None, "-") for r in requests)
    for text in [logs, audit, *(e.text for e in errors)]:
        assert not RAW_ID.search(text), RAW_ID.search(text)
        for raw in seen_ids:
            assert raw not in text
    assert errors[0].status_code == 422 and "511623********1235" in errors[0].text
    assert errors[1].status_code == 422
