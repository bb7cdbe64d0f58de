"""The designated-hospital registry (rules v2.1) and bills checked against it, on both databases."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient

from tests.support.api import ADMIN, bill_1, problem, sample_hospitals

LINSHUI = "H511623001"  # level 2 in 511623, designated from 2019-01-01 (v2/hospitals.json)


def bill(bill_no: str, **hospital: Any) -> dict[str, Any]:
    """Bill 1 (admitted 2026-03-02) under another number, its hospital changed by ``hospital``
    (a value of None leaves the field out)."""
    b = bill_1()
    b["bill_no"] = bill_no
    for field, value in hospital.items():
        if value is None:
            b["hospital"].pop(field, None)
        else:
            b["hospital"][field] = value
    return b


def put_hospital(client: TestClient, code: str, body: dict[str, Any], headers: dict[str, str] = ADMIN):
    return client.put(f"/v1/hospitals/{code}", json=body, headers=headers)


def test_registry_put_get_and_path_key(client: TestClient) -> None:
    entry = {"name": "Wusheng County Hospital", "level": 1, "region": "511622", "designated_from": "2021-07-01"}
    r = put_hospital(client, "H511622001", entry)
    assert r.status_code == 201, r.text
    assert r.json() == {"code": "H511622001", **entry, "designated_to": None}
    replaced = {**entry, "code": "H511622001", "level": 2, "designated_to": "2026-06-30"}
    r = put_hospital(client, "H511622001", replaced)
    assert r.status_code == 200, r.text
    assert client.get("/v1/hospitals/H511622001", headers=ADMIN).json() == replaced
    body = problem(put_hospital(client, "H511622001", {**entry, "code": "H0"}), 422, "validation")
    assert body["errors"][0]["loc"] == ["body", "code"]
    for bad, loc in (
        ({**entry, "level": 4}, ["body", "level"]),
        ({**entry, "region": "51162"}, ["body", "region"]),
        ({**entry, "designated_to": "2021-06-30"}, ["body"]),
        ({**entry, "designated_from": "2021-02-30"}, ["body", "designated_from"]),
        ({k: v for k, v in entry.items() if k != "name"}, ["body", "name"]),
        ({**entry, "beds": 300}, ["body", "beds"]),
    ):
        errors = problem(put_hospital(client, "H511622002", bad), 422, "validation")["errors"]
        assert errors[0]["loc"] == loc, (bad, errors)
    assert client.get("/v1/hospitals/H511622002", headers=ADMIN).status_code == 404
    problem(client.get("/v1/hospitals/NOWHERE", headers=ADMIN), 404, "not-found")


def test_hospital_list_by_code_region_and_pages(client: TestClient) -> None:
    entries = [
        ("H510107001", "510107"),
        ("H511623001", "511623"),
        ("H511623002", "511623"),
        ("H511602001", "511602"),
        ("H321102001", "321102"),
    ]
    for code, region in entries:
        body = {"name": code, "level": 2, "region": region, "designated_from": "2020-01-01"}
        assert put_hospital(client, code, body).status_code == 201

    def codes(query: str) -> list[str]:
        r = client.get(f"/v1/hospitals{query}", headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["next_cursor"] is None
        return [h["code"] for h in r.json()["items"]]

    assert codes("") == sorted(code for code, _ in entries)
    assert codes("?region=510000") == ["H510107001", "H511602001", "H511623001", "H511623002"]
    assert codes("?region=511600") == ["H511602001", "H511623001", "H511623002"]
    assert codes("?region=511623") == ["H511623001", "H511623002"]
    assert codes("?region=440000") == []
    problem(client.get("/v1/hospitals?region=51", headers=ADMIN), 422, "validation")
    # Two at a time, by code.
    seen, cursor = [], None
    while True:
        r = client.get("/v1/hospitals", params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=ADMIN)
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [h["code"] for h in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(code for code, _ in entries)


def test_each_registry_refusal_and_fill_in(loaded: TestClient) -> None:
    """One case per rule of v2.1; the problem and where it points, and nothing written."""
    client = loaded
    assert (
        put_hospital(
            client,
            "H511623009",
            {
                "name": "Closed",
                "level": 1,
                "region": "511623",
                "designated_from": "2026-03-02",
                "designated_to": "2026-03-02",
            },
        ).status_code
        == 201
    )
    assert (
        put_hospital(
            client, "H511623010", {"name": "Late", "level": 1, "region": "511623", "designated_from": "2026-03-03"}
        ).status_code
        == 201
    )
    assert (
        put_hospital(
            client,
            "H511623011",
            {
                "name": "Ended",
                "level": 1,
                "region": "511623",
                "designated_from": "2020-01-01",
                "designated_to": "2026-03-01",
            },
        ).status_code
        == 201
    )
    refusals: list[tuple[dict[str, Any], str, list[list[Any]]]] = [
        (bill("R1", code="H000000000"), "unknown-hospital", []),
        (bill("R2", level=3), "validation", [["body", "hospital", "level"]]),
        (bill("R3", region="511600"), "validation", [["body", "hospital", "region"]]),
        (bill("R4", region="5116"), "validation", [["body", "hospital", "region"]]),
        # The registry's mismatches come in one problem with the bill's other field errors.
        (
            {**bill("R5", level=1, region="510107"), "discharge_date": "2026-03-01"},
            "validation",
            [["body", "hospital", "level"], ["body", "hospital", "region"], ["body", "discharge_date"]],
        ),
        (bill("R6", code="H511623010", level=None), "not-designated", []),  # admitted the day before
        (bill("R7", code="H511623011", level=None), "not-designated", []),  # admitted the day after
        # An unknown hospital is reported before the bill's own field errors.
        ({**bill("R8", code="H000000000"), "discharge_date": "2026-03-01"}, "unknown-hospital", []),
    ]
    for body, name, locs in refusals:
        p = problem(client.post("/v1/bills", json=body, headers=ADMIN), 422, name)
        assert [e["loc"] for e in p.get("errors") or []] == locs, (body["bill_no"], p)
    claim = {"bill": bill("R9", code="H511623010", level=None), "schemes": ["NRCMS-511623"]}
    problem(client.post("/v1/claims", json=claim, headers=ADMIN), 422, "not-designated")
    claim = {"bill": bill("R10", level=3), "schemes": ["NRCMS-511623"]}
    p = problem(client.post("/v1/claims", json=claim, headers=ADMIN), 422, "validation")
    assert p["errors"][0]["loc"] == ["body", "bill", "hospital", "level"]
    assert client.get("/v1/bills", headers=ADMIN).json()["items"] == []

    # Accepted: a one-day designation includes its day; level, region and name from the registry.
    accepted = [
        (bill("A1", code="H511623009", name="Whatever we call it", level=None, region=None), "Closed", 1),
        (bill("A2", name=None, level=None, region=None), "Linshui County People's Hospital", 2),
        (bill("A3", level=2, region="511623"), "Linshui County People's Hospital", 2),
    ]
    for body, name, level in accepted:
        r = client.post("/v1/bills", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        assert r.json()["hospital"] == {
            "code": body["hospital"]["code"],
            "name": name,
            "level": level,
            "region": "511623",
        }


def test_a_bill_keeps_what_it_was_accepted_with(loaded: TestClient) -> None:
    client = loaded
    first = client.post("/v1/bills", json=bill("K1", level=None, region=None), headers=ADMIN)
    assert first.status_code == 201
    # The registry changes: the hospital moves up to level 3 and its designation ends.
    moved = {**next(h for h in sample_hospitals() if h["code"] == LINSHUI), "level": 3, "designated_to": "2026-01-31"}
    assert put_hospital(client, LINSHUI, moved).status_code == 200
    stored = client.get(f"/v1/bills/{first.json()['bill_id']}", headers=ADMIN).json()
    assert stored == first.json()
    assert stored["hospital"]["level"] == 2
    # A re-post is compared with the bill as accepted, not checked against the registry again.
    for same in (bill("K1", level=None, region=None), bill("K1"), bill("K1", name="Another name", level=2)):
        again = client.post("/v1/bills", json=same, headers=ADMIN)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
    problem(client.post("/v1/bills", json=bill("K1", level=3), headers=ADMIN), 409, "conflict")
    other = copy.deepcopy(bill("K1"))
    other["items"][0]["quantity"] = "11"
    other["items"][0]["amount"] = "550.00"
    problem(client.post("/v1/bills", json=other, headers=ADMIN), 409, "conflict")
    # A new bill now meets the new entry.
    problem(client.post("/v1/bills", json=bill("K2", level=None), headers=ADMIN), 422, "not-designated")
    # Settling the accepted bill uses its level as accepted: level 2, local (expected-bill-1).
    r = client.post(
        f"/v1/bills/{first.json()['bill_id']}/settlements", json={"scheme_code": "NRCMS-511623"}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    assert r.json()["fund_payment"] == "4815.00"


def test_hospital_clients_need_a_registered_code(loaded: TestClient) -> None:
    r = loaded.post("/v1/clients", json={"name": "ghost", "role": "hospital", "hospital_code": "H999"}, headers=ADMIN)
    assert problem(r, 422, "validation")["errors"][0]["loc"] == ["body", "hospital_code"]
    r = loaded.post(
        "/v1/clients", json={"name": "Linshui", "role": "hospital", "hospital_code": LINSHUI}, headers=ADMIN
    )
    assert r.status_code == 201
    token = {"Authorization": f"Bearer {r.json()['token']}"}
    # Every role reads the registry; only an admin writes it.
    assert loaded.get(f"/v1/hospitals/{LINSHUI}", headers=token).json()["level"] == 2
    assert [h["code"] for h in loaded.get("/v1/hospitals", headers=token).json()["items"]] == sorted(
        h["code"] for h in sample_hospitals()
    )
    problem(put_hospital(loaded, LINSHUI, sample_hospitals()[0], token), 403, "forbidden")
