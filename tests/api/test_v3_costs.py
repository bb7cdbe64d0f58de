"""What v3 adds to a write's cost, counted on PostgreSQL: a large-amount tier adds one accumulator
lock and one write to the claim's transaction; an advance's receivable is written with its
settlement; a recovery and a write-off are one transaction each."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_v3_examples import load_v3_over_http
from tests.support.api import ADMIN
from tests.support.paths import examples_dir
from tests.support.statements import transactions

V3 = examples_dir() / "v3"
UEBMI, LA = "UEBMI-511600", "LA-511600"


def read(name: str) -> Any:
    return json.loads((V3 / name).read_text(encoding="utf-8"))


@pytest.fixture
def v3_loaded(pg_url: str) -> Iterator[TestClient]:
    from app.main import app

    with TestClient(app) as client:
        load_v3_over_http(client)
        yield client


def claimed(client: TestClient, bill: dict[str, Any], schemes: list[str], key: str) -> list[list[str]]:
    """The claim's transactions (after one claim of the same shape warmed the process up)."""
    headers = {**ADMIN, "Idempotency-Key": key}
    with transactions() as seen:
        r = client.post("/v1/claims", json={"bill": bill, "schemes": schemes}, headers=headers)
    assert r.status_code == 201, r.text
    return seen


def test_a_large_amount_tier_adds_one_lock_and_one_write_to_the_claims_transaction(v3_loaded: TestClient) -> None:
    bill = read("bill-6.json")
    for n, schemes in enumerate(([UEBMI], [UEBMI, LA])):
        claimed(v3_loaded, {**bill, "bill_no": f"WARM-{n}"}, schemes, f"warm-{n}")
    (basic,) = claimed(v3_loaded, {**bill, "bill_no": "COST-1"}, [UEBMI], "cost-1")
    (tiered,) = claimed(v3_loaded, {**bill, "bill_no": "COST-2"}, [UEBMI, LA], "cost-2")
    added = Counter(kind(s) for s in tiered) - Counter(kind(s) for s in basic)
    assert added == Counter({"lock year_total": 1, "write settlement": 1}), added
    assert len(basic) == 7  # a claim that uses none of v3 costs what it did


def kind(statement: str) -> str:
    """A statement by what it does (the tier's statements are the basic scheme's, other values)."""
    if statement.startswith("WITH found AS (SELECT") and "FROM year_total" in statement and "FOR UPDATE" in statement:
        return "lock year_total"
    if statement.startswith("WITH settled AS (INSERT INTO settlement"):
        return "write settlement"
    if statement.startswith("SELECT scheme.code"):
        return "read references"  # one statement for all the claim's schemes
    return statement


def test_an_advances_receivable_opens_in_its_settlement_and_a_recovery_is_one_transaction(
    v3_loaded: TestClient,
) -> None:
    case = read("expected-v3.json")["J_advance_employer_not_enrolled_bill_11"]
    bill_id = v3_loaded.post("/v1/bills", json=read(case["bill"]), headers=ADMIN).json()["bill_id"]
    with transactions() as seen:
        r = v3_loaded.post(f"/v1/bills/{bill_id}/settlements", json=case["request"], headers=ADMIN)
    assert r.status_code == 201, r.text
    (settling,) = seen  # the receivable is written in the settlement's own transaction
    assert any("INSERT INTO receivable" in s for s in settling), settling
    receivable_id = r.json()["advance"]["receivable_id"]
    steps = {step["step"]: step for step in case["receivable"]["steps"]}
    path = f"/v1/receivables/{receivable_id}"
    with transactions() as seen:
        r = v3_loaded.post(
            f"{path}/recoveries", json=steps["recovery"]["recovery"], headers={**ADMIN, "Idempotency-Key": "rec-1"}
        )
    assert r.status_code == 201, r.text
    assert (r.json()["recovered"], r.json()["status"]) == (steps["recovery"]["recovered"], "partly_recovered")
    assert len(seen) == 1, seen
    with transactions() as seen:
        r = v3_loaded.post(f"{path}/write-off", json={"reason": steps["write_off"]["write_off_reason"]}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert (r.json()["written_off"], r.json()["status"]) == (steps["write_off"]["written_off"], "written_off")
    assert len(seen) == 1, seen
