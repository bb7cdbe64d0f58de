"""A write made at the desk has its audit record in the write's own transaction, as the API's
writes do: the ledger never holds a desk settlement or reversal the audit trail misses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.desk.helpers import CLERK, PASSWORD, csrf_of, hidden_fields, seed
from tests.support.api import ADMIN
from tests.support.statements import transactions


@pytest.fixture
def desk(db_url: str) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    from app.main import app

    with TestClient(app, base_url="http://testserver") as client:
        yield client, seed(client)


def written_together(seen: list[list[str]], write: str) -> bool:
    return any(any(write in s for s in tx) and any("INSERT INTO audit_record" in s for s in tx) for tx in seen)


def test_a_desk_settlement_and_reversal_carry_their_audit_records_in_their_transactions(desk: Any) -> None:
    client, bill = desk
    page = client.get("/desk/sign-in")
    form = {"csrf_token": csrf_of(page.text), "username": CLERK, "password": PASSWORD, "next": "/desk/"}
    assert client.post("/desk/sign-in", data=form, follow_redirects=False).status_code == 303
    page = client.get(f"/desk/bills/{bill['bill_id']}")
    shown = client.post(f"/desk/bills/{bill['bill_id']}/preview", data={"csrf_token": csrf_of(page.text), "rows": "1"})
    settle = hidden_fields(shown.text, "confirm-form")
    with transactions() as seen:
        done = client.post(f"/desk/bills/{bill['bill_id']}/settle", data=settle, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert written_together(seen, "INSERT INTO settlement") or written_together(seen, "WITH settled AS")
    audit = client.get("/v1/audit", params={"operation": "deskSettle"}, headers=ADMIN).json()["items"]
    settlement_id = client.get(f"/v1/bills/{bill['bill_id']}/split", headers=ADMIN).json()["payments"][0][
        "settlement_id"
    ]
    # One record (none added after the response), of the answer the clerk got: the redirect.
    assert [(a["object_id"], a["status_code"], a["outcome"]) for a in audit] == [(settlement_id, 303, "ok")]

    page = client.get(f"/desk/bills/{bill['bill_id']}")
    reverse = {"csrf_token": csrf_of(page.text), "settlement_id": settlement_id, "idempotency_key": "desk-audit-2"}
    with transactions() as seen:
        done = client.post(f"/desk/bills/{bill['bill_id']}/reverse", data=reverse, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert written_together(seen, "INSERT INTO reversal") or written_together(seen, "WITH totals AS")
    audit = client.get("/v1/audit", params={"operation": "deskReverse"}, headers=ADMIN).json()["items"]
    assert [(a["object_id"], a["status_code"]) for a in audit] == [(settlement_id, 303)]
