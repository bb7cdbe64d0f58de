"""What the OpenAPI document says, the server does: values the document forbids are refused (the
ST201 cases schemathesis found), values it allows in the catalog and deductible unions are taken,
and a 405 names every method of the path."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import ADMIN, bill_1, problem
from tests.support.paths import examples_dir

NRCMS = "NRCMS-511623"


def _catalog() -> dict[str, Any]:
    catalog: dict[str, Any] = json.loads((examples_dir() / "catalogs.json").read_text())[NRCMS]
    return {**catalog, "version": "2027", "effective_from": "2027-01-01"}


def _policy() -> dict[str, Any]:
    policy: dict[str, Any] = json.loads((examples_dir() / "policies.json").read_text())[NRCMS]
    return {**policy, "year": 2027}


def _with(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("items", 0, "quantity"), "", "quantity"),
        (("items", 0, "quantity"), "1e1", "quantity"),
        (("items", 0, "unit_price"), " 50.00", "unit_price"),
        (("items", 0, "amount"), "+500.00", "amount"),
        (("items", 0, "line_no"), "1", "line_no"),
        (("admission_date",), 0, "admission_date"),
        (("admission_date",), "2026-03-02T00:00:00", "admission_date"),
        (("hospital", "level"), 2.0, "level"),
        (("patient", "name"), "Wang\x00Jun", "name"),
    ],
)
def test_bill_values_the_document_forbids_are_refused(
    loaded: TestClient, path: tuple[Any, ...], value: Any, where: str
) -> None:
    body = problem(loaded.post("/v1/bills", json=_with(bill_1(), path, value), headers=ADMIN), 422, "validation")
    assert [e["loc"][-1] for e in body["errors"]] == [where]


def test_query_dates_and_instants_take_their_documented_form_only(loaded: TestClient) -> None:
    for query in ("until=0.5", "since=1700000000", "since=2026-03-01T00:00:00", "since=2026-03-01 00:00:00Z"):
        problem(loaded.get(f"/v1/audit?{query}", headers=ADMIN), 422, "validation")
    for query in ("since=2026-03-01T00:00:00.1234567%2B08:00&until=2099-01-01T00:00:00Z", "until=2099-01-01"):
        assert loaded.get(f"/v1/audit?{query}", headers=ADMIN).is_success, query
    catalog = _catalog()
    url = f"/v1/schemes/{NRCMS}/catalogs/2027"
    problem(loaded.put(f"{url}?effective_to=0", json=catalog, headers=ADMIN), 422, "validation")
    problem(loaded.put(url, json={**catalog, "effective_from": 20270101}, headers=ADMIN), 422, "validation")
    problem(loaded.get("/v1/audit?cursor=2147483648", headers=ADMIN), 422, "validation")


def test_settlement_request_takes_json_types_only(loaded: TestClient) -> None:
    bill_id = loaded.post("/v1/bills", json=bill_1(), headers=ADMIN).json()["bill_id"]
    url = f"/v1/bills/{bill_id}/settlements"
    for dry_run in (0, "true", "yes"):
        r = loaded.post(url, json={"scheme_code": NRCMS, "dry_run": dry_run}, headers=ADMIN)
        assert problem(r, 422, "validation")["errors"][0]["loc"] == ["body", "dry_run"]
    assert loaded.post(url, json={"scheme_code": NRCMS, "dry_run": True}, headers=ADMIN).status_code == 200


def test_catalog_entries_are_a_union_by_class(loaded: TestClient) -> None:
    url = f"/v1/schemes/{NRCMS}/catalogs/2027"
    a_entry = {"code": "X1", "name": "x", "category": "drug", "class": "A"}
    refused = [
        ({**a_entry, "self_pay_ratio": "0.10"}, "only class B entries have a self_pay_ratio"),
        ({**a_entry, "class": "B"}, "Field required"),
        ({**a_entry, "class": "B", "self_pay_ratio": "1"}, "self_pay_ratio must be below 1"),
        ({**a_entry, "class": "D"}, "does not match any of the expected tags"),
    ]
    for entry, message in refused:
        r = loaded.put(url, json={**_catalog(), "entries": [entry]}, headers=ADMIN)
        assert message in problem(r, 422, "validation")["detail"], entry
    nulls = {**a_entry, "class": "C", "self_pay_ratio": None}
    r = loaded.put(url, json={**_catalog(), "entries": [a_entry | {"code": "X0"}, nulls]}, headers=ADMIN)
    assert r.status_code == 201, r.text
    assert [e["class"] for e in r.json()["entries"]] == ["A", "C"]


def test_deductibles_are_a_union_by_basis(loaded: TestClient) -> None:
    url = f"/v1/schemes/{NRCMS}/policies/2027"
    per_admission = _policy()["inpatient"]["deductible"]
    assert per_admission["basis"] == "per_admission"
    refused = [
        ({**per_admission, "amount": "100.00"}, "has by_level, not amount"),
        ({"basis": "per_year", "amount": "100.00", "by_level": per_admission["by_level"]}, "has one amount"),
        ({"basis": "per_year"}, "Field required"),
        ({**per_admission, "by_level": {"1": "100.00"}}, "needs by_level for levels 1, 2 and 3"),
    ]
    for deductible, message in refused:
        body = _with(_policy(), ("inpatient", "deductible"), deductible)
        assert message in problem(loaded.put(url, json=body, headers=ADMIN), 422, "validation")["detail"]
    body = _with(_policy(), ("inpatient", "deductible"), {"basis": "per_year", "amount": "800.00"})
    assert loaded.put(url, json=body, headers=ADMIN).status_code == 201


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/v1/clients", "GET, POST"),
        (f"/v1/schemes/{NRCMS}", "GET, PUT"),
        (f"/v1/schemes/{NRCMS}/members/M1", "GET, PUT"),
        (f"/v1/schemes/{NRCMS}/policies/2026", "GET, PUT"),
        ("/v1/bills", "GET, POST"),
        ("/healthz", "GET"),
    ],
)
def test_405_allow_names_every_method_of_the_path(client: TestClient, path: str, allow: str) -> None:
    r = client.options(path, headers=ADMIN)
    assert r.status_code == 405
    assert r.headers["allow"] == allow
    assert r.headers["allow"].lower().split(", ") == sorted(_documented(path))  # what the document lists


def _documented(path: str) -> list[str]:
    from app.main import app

    paths = app.openapi()["paths"]
    return list(next(paths[p] for p in paths if p.count("/") == path.count("/") and _matches(p, path)))


def _matches(template: str, path: str) -> bool:
    return all(t == p or t.startswith("{") for t, p in zip(template.split("/"), path.split("/"), strict=True))


def test_nul_in_free_text_and_ids_is_422_on_every_database(loaded: TestClient) -> None:
    for url in ("/v1/audit?object_id=%00", "/v1/bills/%00", "/v1/settlements/a%00b"):
        problem(loaded.get(url, headers=ADMIN), 422, "validation")


def test_ratios_have_at_most_six_decimals(loaded: TestClient) -> None:
    url = f"/v1/schemes/{NRCMS}/catalogs/2027"
    entry = {"code": "X1", "name": "x", "category": "drug", "class": "B"}
    for ratio in ("0.1234567", 1.1125369292536007e-308):
        r = loaded.put(url, json={**_catalog(), "entries": [{**entry, "self_pay_ratio": ratio}]}, headers=ADMIN)
        assert "at most 6 decimals" in problem(r, 422, "validation")["detail"]
    r = loaded.put(url, json={**_catalog(), "entries": [{**entry, "self_pay_ratio": "0.1234560"}]}, headers=ADMIN)
    assert r.status_code == 201, r.text
    assert r.json()["entries"][0]["self_pay_ratio"] == "0.123456"
