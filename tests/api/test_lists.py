"""``GET /v1/bills`` and ``GET /v1/settlements``: filters, paging and scope, on both databases."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, update
from sqlalchemy.orm import Session
from sqlmodel import col
from stdnum.cn import ric

from app.db import tables as db
from tests.support.api import ADMIN, bill_1, new_client, problem

NRCMS, UEBMI = "NRCMS-511623", "UEBMI-321100"
LINSHUI, ZHENJIANG = "H511623001", "H321102001"  # both in v2/hospitals.json
WANG = "511623199003071234"  # member of both sample schemes
STRANGER = "11010519491231002X"  # member of UEBMI only (added below)


def valid_id(first17: str) -> str:
    return first17 + ric.calc_check_digit(first17 + "0")


ZHAO = valid_id("44030119900101123")  # a member of NRCMS until the office replaces him


def post_bill(
    client: TestClient, bill_no: str, *, hospital: str = LINSHUI, patient: str = WANG, admitted: str = "2026-03-02"
) -> str:
    b = bill_1()
    b["bill_no"] = bill_no
    b["hospital"] = {"code": hospital}
    b["patient"] = {"id_number": patient, "name": "Patient " + bill_no}
    b["admission_date"] = admitted
    r = client.post("/v1/bills", json=b, headers=ADMIN)
    assert r.status_code == 201, r.text
    bill_id: str = r.json()["bill_id"]
    return bill_id


def settle(client: TestClient, bill_id: str, scheme: str) -> str:
    r = client.post(f"/v1/bills/{bill_id}/settlements", json={"scheme_code": scheme}, headers=ADMIN)
    assert r.status_code == 201, r.text
    settlement_id: str = r.json()["settlement_id"]
    return settlement_id


def member(client: TestClient, scheme: str, member_no: str, id_number: str) -> None:
    body = {"id_number": id_number, "name": member_no, "coverage": [{"from": "2026-01-01", "to": None}]}
    r = client.put(f"/v1/schemes/{scheme}/members/{member_no}", json=body, headers=ADMIN)
    assert r.status_code in (200, 201), r.text


def every_page(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


def bill_nos(items: list[dict[str, Any]]) -> list[str]:
    return [b["bill_no"] for b in items]


@pytest.fixture
def book(loaded: TestClient, db_url: str) -> dict[str, Any]:
    """Bills at two hospitals; settlements made at fixed instants (moved in the database).

    | bill | hospital | patient | admitted | settlements |
    |---|---|---|---|---|
    | L1 | Linshui | Wang | 03-02 | NRCMS 2026-03-10T09:00Z |
    | L2 | Linshui | Wang | 03-05 | NRCMS 2026-03-20T00:00Z, then UEBMI 2026-03-20T12:00Z |
    | L3 | Linshui | Wang | 03-09 | |
    | Z1 | Linshui | Zhao | 03-02 | NRCMS 2026-04-01T00:00Z, reversed; Zhao then leaves NRCMS |
    | F1 | Zhenjiang | stranger | 03-02 | UEBMI 2026-04-02T08:00Z |
    | F2 | Zhenjiang | stranger | 03-03 | |
    """
    client = loaded
    member(client, UEBMI, "ZJ-STRANGER", STRANGER)
    member(client, NRCMS, "M-ZHAO", ZHAO)
    ids = {
        "L1": post_bill(client, "L1"),
        "L2": post_bill(client, "L2", admitted="2026-03-05"),
        "L3": post_bill(client, "L3", admitted="2026-03-09"),
        "Z1": post_bill(client, "Z1", patient=ZHAO),
        "F1": post_bill(client, "F1", hospital=ZHENJIANG, patient=STRANGER),
        "F2": post_bill(client, "F2", hospital=ZHENJIANG, patient=STRANGER, admitted="2026-03-03"),
    }
    settlements = {
        "L1/NRCMS": (settle(client, ids["L1"], NRCMS), "2026-03-10T09:00:00"),
        "L2/NRCMS": (settle(client, ids["L2"], NRCMS), "2026-03-20T00:00:00"),
        "L2/UEBMI": (settle(client, ids["L2"], UEBMI), "2026-03-20T12:00:00"),
        "Z1/NRCMS": (settle(client, ids["Z1"], NRCMS), "2026-04-01T00:00:00"),
        "F1/UEBMI": (settle(client, ids["F1"], UEBMI), "2026-04-02T08:00:00"),
    }
    assert client.post(f"/v1/settlements/{settlements['Z1/NRCMS'][0]}/reversal", headers=ADMIN).status_code == 200
    member(client, NRCMS, "M-ZHAO", valid_id("44030119900101124"))  # Zhao is no NRCMS member any more
    engine = create_engine(db_url)
    with Session(engine) as s, s.begin():
        for sid, when in settlements.values():
            s.execute(
                update(db.Settlement)
                .where(col(db.Settlement.id) == sid)
                .values(created_at=datetime.fromisoformat(when).replace(tzinfo=UTC))
            )
    engine.dispose()
    return {"bills": ids, "settlements": {k: v[0] for k, v in settlements.items()}}


def test_bill_lists_filters_and_scope(loaded: TestClient, book: dict[str, Any]) -> None:
    client = loaded
    newest_first = ["F2", "F1", "Z1", "L3", "L2", "L1"]
    assert bill_nos(every_page(client, "/v1/bills", ADMIN)) == newest_first
    assert bill_nos(every_page(client, "/v1/bills", ADMIN, limit=4)) == newest_first
    for params, want in (
        ({"hospital_code": ZHENJIANG}, ["F2", "F1"]),
        ({"bill_no": "L2"}, ["L2"]),
        ({"patient_id_number": STRANGER}, ["F2", "F1"]),
        ({"patient_id_number": ZHAO, "hospital_code": LINSHUI}, ["Z1"]),
        ({"admitted_from": "2026-03-03"}, ["F2", "L3", "L2"]),
        ({"admitted_to": "2026-03-03"}, ["F2", "F1", "Z1", "L1"]),
        ({"admitted_from": "2026-03-05", "admitted_to": "2026-03-05"}, ["L2"]),
        ({"bill_no": "NONE"}, []),
    ):
        assert bill_nos(every_page(client, "/v1/bills", ADMIN, **params, limit=1)) == want, params
    first = client.get("/v1/bills", params={"bill_no": "L1"}, headers=ADMIN).json()["items"][0]
    assert first == client.get(f"/v1/bills/{book['bills']['L1']}", headers=ADMIN).json()
    assert first["patient"]["id_number"] == "511623********1234"

    # A hospital sees its own bills; naming another hospital gives an empty page.
    hospital = new_client(client, {"name": "Linshui", "role": "hospital", "hospital_code": LINSHUI})
    assert bill_nos(every_page(client, "/v1/bills", hospital, limit=2)) == ["Z1", "L3", "L2", "L1"]
    assert every_page(client, "/v1/bills", hospital, hospital_code=ZHENJIANG) == []
    assert every_page(client, "/v1/bills", hospital, patient_id_number=STRANGER) == []
    # An office: its members' bills and the bills it settled (Z1, reversed, patient no member now).
    nrcms = new_client(client, {"name": "county", "role": "scheme_office", "scheme_code": NRCMS})
    assert bill_nos(every_page(client, "/v1/bills", nrcms)) == ["Z1", "L3", "L2", "L1"]
    assert every_page(client, "/v1/bills", nrcms, hospital_code=ZHENJIANG) == []
    uebmi = new_client(client, {"name": "city", "role": "scheme_office", "scheme_code": UEBMI})
    assert bill_nos(every_page(client, "/v1/bills", uebmi)) == ["F2", "F1", "L3", "L2", "L1"]
    # The list and the reads agree, bill by bill.
    for who in (hospital, nrcms, uebmi):
        listed = set(bill_nos(every_page(client, "/v1/bills", who)))
        for no, bill_id in book["bills"].items():
            assert (client.get(f"/v1/bills/{bill_id}", headers=who).status_code == 200) == (no in listed), no


def test_settlement_lists_filters_and_scope(loaded: TestClient, book: dict[str, Any]) -> None:
    client = loaded
    s = book["settlements"]

    def ids(headers: dict[str, str], **params: Any) -> list[str]:
        return [x["settlement_id"] for x in every_page(client, "/v1/settlements", headers, limit=2, **params)]

    newest_first = [s["F1/UEBMI"], s["Z1/NRCMS"], s["L2/UEBMI"], s["L2/NRCMS"], s["L1/NRCMS"]]
    assert ids(ADMIN) == newest_first
    one = client.get("/v1/settlements", params={"bill_id": book["bills"]["L1"]}, headers=ADMIN).json()["items"]
    assert one == [client.get(f"/v1/settlements/{s['L1/NRCMS']}", headers=ADMIN).json()]
    assert one[0]["created_at"] == "2026-03-10T09:00:00+00:00"
    for params, want in (
        ({"scheme_code": NRCMS}, ["Z1/NRCMS", "L2/NRCMS", "L1/NRCMS"]),
        ({"status": "reversed"}, ["Z1/NRCMS"]),
        ({"status": "settled", "scheme_code": NRCMS}, ["L2/NRCMS", "L1/NRCMS"]),
        ({"bill_id": book["bills"]["L2"]}, ["L2/UEBMI", "L2/NRCMS"]),
        ({"payer_type": "scheme", "scheme_code": UEBMI}, ["F1/UEBMI", "L2/UEBMI"]),
        ({"payer_type": "employer"}, []),
        # since included, until excluded; a date is its 00:00 UTC.
        ({"since": "2026-03-20"}, ["F1/UEBMI", "Z1/NRCMS", "L2/UEBMI", "L2/NRCMS"]),
        ({"until": "2026-03-20"}, ["L1/NRCMS"]),
        ({"since": "2026-03-20T00:00:00Z", "until": "2026-04-01T00:00:00Z"}, ["L2/UEBMI", "L2/NRCMS"]),
        ({"since": "2026-03-20T12:00:00.000001Z"}, ["F1/UEBMI", "Z1/NRCMS"]),
        ({"since": "2026-04-02T09:00:00+01:00"}, ["F1/UEBMI"]),  # 08:00 UTC
        ({"until": "2026-03-10T17:00:00.000001+08:00"}, ["L1/NRCMS"]),  # 09:00:00.000001 UTC
    ):
        assert ids(ADMIN, **params) == [s[k] for k in want], params

    hospital = new_client(client, {"name": "Linshui", "role": "hospital", "hospital_code": LINSHUI})
    assert ids(hospital) == [s["Z1/NRCMS"], s["L2/UEBMI"], s["L2/NRCMS"], s["L1/NRCMS"]]  # every payer's
    assert ids(hospital, bill_id=book["bills"]["F1"]) == []
    nrcms = new_client(client, {"name": "county", "role": "scheme_office", "scheme_code": NRCMS})
    assert ids(nrcms) == [s["Z1/NRCMS"], s["L2/NRCMS"], s["L1/NRCMS"]]
    assert ids(nrcms, scheme_code=UEBMI) == []
    for who in (hospital, nrcms):
        listed = set(ids(who))
        for sid in s.values():
            assert (client.get(f"/v1/settlements/{sid}", headers=who).status_code == 200) == (sid in listed)


def tamper(cursor: str, **changes: Any) -> str:
    doc = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    doc.update(changes)
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def test_cursors_are_refused_elsewhere_and_harmless_when_altered(loaded: TestClient, book: dict[str, Any]) -> None:
    client = loaded
    hospital = new_client(client, {"name": "Linshui", "role": "hospital", "hospital_code": LINSHUI})
    admin_cursor = client.get("/v1/bills", params={"limit": 1}, headers=ADMIN).json()["next_cursor"]
    own = client.get("/v1/bills", params={"limit": 1}, headers=hospital).json()
    assert bill_nos(own["items"]) == ["Z1"]
    cursor = own["next_cursor"]

    def refused(path: str, headers: dict[str, str], **params: Any) -> str:
        body = problem(client.get(path, params=params, headers=headers), 422, "validation")
        assert body["errors"][0]["loc"] == ["query", "cursor"]
        return str(body["errors"][0]["msg"])

    assert "another client" in refused("/v1/bills", hospital, cursor=admin_cursor, limit=1)
    assert "another client" in refused("/v1/bills", ADMIN, cursor=cursor, limit=1)
    assert "another list" in refused("/v1/settlements", hospital, cursor=cursor, limit=1)
    assert "another list" in refused("/v1/hospitals", hospital, cursor=cursor, limit=1)
    assert "other filters" in refused("/v1/bills", hospital, cursor=cursor, limit=1, bill_no="L1")
    for garbage in (
        "x",
        cursor[:-3],
        cursor + "A",
        "eyJ2IjoxfQ",
        tamper(cursor, k=["not a time", "x"]),
        tamper(cursor, v=2),
    ):
        assert "malformed" in refused("/v1/bills", hospital, cursor=garbage)
    # Altered into a well-formed position (or another client's fingerprint put back by hand): the
    # caller's scope still applies, so it reads only its own bills.
    moved = tamper(cursor, k=["2999-01-01T00:00:00+00:00", "zzzz"])
    assert bill_nos(every_page(client, "/v1/bills", hospital, cursor=moved, limit=1)) == ["Z1", "L3", "L2", "L1"]
    # Paging goes on with the cursor as issued.
    assert bill_nos(every_page(client, "/v1/bills", hospital, cursor=cursor, limit=1)) == ["L3", "L2", "L1"]

    for params in (
        {"limit": 0},
        {"limit": 501},
        {"admitted_from": "2026-3-1"},
        {"admitted_to": "2026-02-30"},
        {"patient_id_number": "51162319900307123"},
        {"cursor": ""},
    ):
        problem(client.get("/v1/bills", params=params, headers=ADMIN), 422, "validation")
    for params in ({"since": "2026-03-20T00:00:00"}, {"until": "yesterday"}, {"since": "1773100800"}, {"status": "x"}):
        problem(client.get("/v1/settlements", params=params, headers=ADMIN), 422, "validation")
    assert len(client.get("/v1/bills", params={"limit": 500}, headers=ADMIN).json()["items"]) == 6


def test_paging_is_stable_while_bills_arrive(loaded: TestClient) -> None:
    for n in range(5):
        post_bill(loaded, f"P{n}")
    first = loaded.get("/v1/bills", params={"limit": 2}, headers=ADMIN).json()
    seen = bill_nos(first["items"])
    post_bill(loaded, "NEW-1")  # newer than every bill the client is paging through
    rest = every_page(loaded, "/v1/bills", ADMIN, limit=2, cursor=first["next_cursor"])
    assert seen + bill_nos(rest) == ["P4", "P3", "P2", "P1", "P0"]
