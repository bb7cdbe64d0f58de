"""Helpers for HTTP tests: an authenticated client and the sample data loaded over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.ledger import invariants
from tests.support.db import ADMIN_TOKEN
from tests.support.paths import examples_dir

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def sample_hospitals() -> list[dict[str, Any]]:
    """The designated-hospital registry of the shared examples (bill 1's hospital is in it)."""
    data: list[dict[str, Any]] = json.loads((examples_dir() / "v2" / "hospitals.json").read_text())
    return data


def register_hospitals(client: Any, hospitals: list[dict[str, Any]], headers: dict[str, str] = ADMIN) -> None:
    """Put hospitals into the registry (``client``: a TestClient or an httpx client)."""
    for h in hospitals:
        r = client.put(f"/v1/hospitals/{h['code']}", json=h, headers=headers)
        assert r.status_code in (200, 201), r.text


def load_examples_over_http(client: TestClient, headers: dict[str, str] = ADMIN) -> None:
    """Put the shared example hospitals, schemes, catalogs, policies and members through the API."""
    folder = examples_dir()
    register_hospitals(client, sample_hospitals(), headers)
    for scheme in json.loads((folder / "schemes.json").read_text()):
        r = client.put(f"/v1/schemes/{scheme['code']}", json=scheme, headers=headers)
        assert r.status_code == 201, r.text
    for code, catalog in json.loads((folder / "catalogs.json").read_text()).items():
        r = client.put(f"/v1/schemes/{code}/catalogs/{catalog['version']}", json=catalog, headers=headers)
        assert r.status_code == 201, r.text
    for code, policy in json.loads((folder / "policies.json").read_text()).items():
        r = client.put(f"/v1/schemes/{code}/policies/{policy['year']}", json=policy, headers=headers)
        assert r.status_code == 201, r.text
    for code, members in json.loads((folder / "members.json").read_text()).items():
        for m in members:
            r = client.put(f"/v1/schemes/{code}/members/{m['member_no']}", json=m, headers=headers)
            assert r.status_code == 201, r.text


def bill_1() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((examples_dir() / "bill-1.json").read_text())
    return data


def expected_bill_1() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((examples_dir() / "expected-bill-1.json").read_text())
    return data


# --- v2 (shared/examples/v2, layered over the v1 files) ---------------------------------------


def v2_dir() -> Path:
    return examples_dir() / "v2"


def expected_v2() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((v2_dir() / "expected-v2.json").read_text())
    return data


def v2_bill(name: str, *, fill_hospital: bool = False) -> dict[str, Any]:
    """A v2 bill as shared (bill 4 names its hospital by code only: the registry decides the rest).
    ``fill_hospital``: with the hospital's name, level and region from ``v2/hospitals.json``, as the
    engine needs it (the service takes them from its registry)."""
    bill: dict[str, Any] = json.loads((v2_dir() / name).read_text())
    if fill_hospital:
        registered = next(h for h in sample_hospitals() if h["code"] == bill["hospital"]["code"])
        for key in ("name", "level", "region"):
            bill["hospital"].setdefault(key, registered[key])
    return bill


def load_v2_over_http(client: TestClient, headers: dict[str, str] = ADMIN) -> None:
    """The v1 sample, then v2's files over it: an entry with the same key replaces the earlier."""
    load_examples_over_http(client, headers)
    folder = v2_dir()
    for scheme in json.loads((folder / "schemes.json").read_text()):
        r = client.put(f"/v1/schemes/{scheme['code']}", json=scheme, headers=headers)
        assert r.status_code in (200, 201), r.text
    for code, catalog in json.loads((folder / "catalogs.json").read_text()).items():
        r = client.put(f"/v1/schemes/{code}/catalogs/{catalog['version']}", json=catalog, headers=headers)
        assert r.status_code in (200, 201), r.text
    for code, policy in json.loads((folder / "policies.json").read_text()).items():
        r = client.put(f"/v1/schemes/{code}/policies/{policy['year']}", json=policy, headers=headers)
        assert r.status_code in (200, 201), r.text
    for code, members in json.loads((folder / "members.json").read_text()).items():
        for m in members:
            r = client.put(f"/v1/schemes/{code}/members/{m['member_no']}", json=m, headers=headers)
            assert r.status_code in (200, 201), r.text


def post_bill(client: TestClient, bill: dict[str, Any] | None = None) -> str:
    r = client.post("/v1/bills", json=bill or bill_1(), headers=ADMIN)
    assert r.status_code in (200, 201), r.text
    bill_id: str = r.json()["bill_id"]
    return bill_id


def settle(client: TestClient, bill_id: str, body: dict[str, Any], key: str | None = None):
    headers = {**ADMIN, **({"Idempotency-Key": key} if key else {})}
    return client.post(f"/v1/bills/{bill_id}/settlements", json=body, headers=headers)


def problem(r, status: int, name: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["type"].endswith("/" + name), body
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_client(client: TestClient, body: dict[str, Any]) -> dict[str, str]:
    r = client.post("/v1/clients", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return bearer(r.json()["token"])


def ledger_state(url: str) -> dict[str, Any]:
    """The ledger as stored, read through the table models (money as Decimal on both databases)."""
    engine = create_engine(url)
    with Session(engine) as session:
        bills = dict(session.execute(select(col(db.Bill.id), col(db.Bill.paid_total))).all())
        totals = [
            (t.scheme_code, t.fund_paid, t.deductible_inpatient, t.deductible_outpatient)
            for t in session.scalars(select(db.YearTotal))
        ]
        active = session.scalar(select(func.count()).where(col(db.Settlement.status) == "settled"))
        reversals = session.scalar(select(func.count()).select_from(db.Reversal))
        report = invariants.check(session)
    engine.dispose()
    assert report.violations == []
    return {"bills": bills, "totals": totals, "active": active, "reversals": reversals}
