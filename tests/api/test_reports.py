"""Clearing statements and hospital reconciliation, on both databases.

Every expected figure below is a literal worked out by hand in the comments, never computed by
the code under test.  The settlements are real ones (the sample bill settled through the API);
only their ``created_at`` (and the reversals') are moved to chosen instants afterwards, by an
UPDATE through the table models.

The sample bill (11,700.00, level-2 hospital, patient Wang Jun) pays, as the first payer on it:

* NRCMS-511623 at a 511623 hospital (local): in scope 6720.00 - deductible 300.00 = 6420.00,
  x 0.75 = **4815.00** (``shared/examples``).
* NRCMS-511623 at a 510104 hospital (Chengdu: same province, not registered, delta -0.20):
  6420.00 x (0.75 - 0.20 = 0.55) = **3531.00**.
* UEBMI-321100 at either hospital (out of province, registered for 510000, which contains both):
  in scope 9150.00 - 600.00 = 8550.00, x 0.88 = **7524.00**.
* UEBMI-321100 second, after NRCMS's 4815.00 (repeat_capped): min(7524.00, 11700.00 - 4815.00)
  = **6885.00**.

The ledger (H-A = H511623001 in 511623, H-B = H510104001 in 510104; times UTC):

| bill | hospital | scheme | fund | settled | reversed |
|---|---|---|---|---|---|
| b1 | H-A | NRCMS | 4815.00 | 2026-03-10 09:00 | |
| b2 | H-B | NRCMS | 3531.00 | 2026-03-31 23:59:59 (still March) | |
| b3 | H-B | UEBMI | 7524.00 | 2026-03-15 12:00 | |
| b4 | H-A | UEBMI | 7524.00 | 2026-04-01 00:00 (already April) | 2026-05-02 08:30 |
| b5 | H-A | NRCMS, then UEBMI | 4815.00, 6885.00 | 2026-04-20 10:00 | |
| b6 | H-B | NRCMS | 3531.00 | 2026-05-02 09:00 | 2026-05-02 10:00 |

Every bill's medical total is 11700.00.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, update
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from tests.support.api import ADMIN, bill_1, new_client, register_hospitals

NRCMS, UEBMI = "NRCMS-511623", "UEBMI-321100"
H_A: dict[str, Any] = {"code": "H511623001", "name": "Linshui County People's Hospital", "level": 2, "region": "511623"}
H_B: dict[str, Any] = {
    "code": "H510104001",
    "name": "Chengdu Jinjiang District Hospital",
    "level": 2,
    "region": "510104",
}
HEADER = "scheme_code,insuring_region,treatment_region,settlements,reversals,medical_total,fund_payment"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Ledger:
    """Posts and settles bills over HTTP, then moves their timestamps in the database."""

    def __init__(self, client: TestClient, db_url: str) -> None:
        self.client = client
        self.engine = create_engine(db_url)

    def settle(self, bill_no: str, hospital: dict[str, Any], schemes: list[tuple[str, str]], when: str) -> list[str]:
        bill = bill_1()
        bill["bill_no"] = bill_no
        bill["hospital"] = hospital
        r = self.client.post("/v1/bills", json=bill, headers=ADMIN)
        assert r.status_code == 201, r.text
        bill_id = r.json()["bill_id"]
        ids = []
        for scheme, fund in schemes:
            r = self.client.post(f"/v1/bills/{bill_id}/settlements", json={"scheme_code": scheme}, headers=ADMIN)
            assert r.status_code == 201, r.text
            assert r.json()["fund_payment"] == fund, (bill_no, scheme)  # the hand computation above
            assert r.json()["medical_total"] == "11700.00"
            ids.append(r.json()["settlement_id"])
        with Session(self.engine) as s, s.begin():
            s.execute(update(db.Settlement).where(col(db.Settlement.id).in_(ids)).values(created_at=at(when)))
        return ids

    def reverse(self, settlement_id: str, when: str) -> None:
        r = self.client.post(f"/v1/settlements/{settlement_id}/reversal", headers=ADMIN)
        assert r.status_code == 200, r.text
        with Session(self.engine) as s, s.begin():
            s.execute(
                update(db.Reversal).where(col(db.Reversal.settlement_id) == settlement_id).values(created_at=at(when))
            )

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def ledger(loaded: TestClient, db_url: str) -> TestClient:
    register_hospitals(loaded, [{**H_B, "designated_from": "2020-01-01"}])
    book = Ledger(loaded, db_url)
    book.settle("B1", H_A, [(NRCMS, "4815.00")], "2026-03-10T09:00:00")
    book.settle("B2", H_B, [(NRCMS, "3531.00")], "2026-03-31T23:59:59")
    book.settle("B3", H_B, [(UEBMI, "7524.00")], "2026-03-15T12:00:00")
    (b4,) = book.settle("B4", H_A, [(UEBMI, "7524.00")], "2026-04-01T00:00:00")
    book.settle("B5", H_A, [(NRCMS, "4815.00"), (UEBMI, "6885.00")], "2026-04-20T10:00:00")
    (b6,) = book.settle("B6", H_B, [(NRCMS, "3531.00")], "2026-05-02T09:00:00")
    book.reverse(b4, "2026-05-02T08:30:00")
    book.reverse(b6, "2026-05-02T10:00:00")
    book.close()
    return loaded


def row(scheme: str, insuring: str, treatment: str, n: int, rev: int, total: str, fund: str) -> dict[str, Any]:
    return {
        "scheme_code": scheme,
        "insuring_region": insuring,
        "treatment_region": treatment,
        "settlements": n,
        "reversals": rev,
        "medical_total": total,
        "fund_payment": fund,
    }


def totals(n: int, rev: int, total: str, fund: str) -> dict[str, Any]:
    return {"settlements": n, "reversals": rev, "medical_total": total, "fund_payment": fund}


def clearing(client: TestClient, period: str, headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    r = client.get("/v1/clearing", params={"period": period}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body: dict[str, Any] = r.json()
    return body


def test_clearing_months_with_a_reversal_in_a_later_month(ledger: TestClient) -> None:
    # March: b1 (H-A), b2 (H-B, 23:59:59 on the 31st), b3 (H-B).  Rows ordered by scheme, insuring
    # region, treatment region ("510104" < "511623").
    # Totals: 3 settlements; 3 x 11700.00 = 35100.00; 3531.00 + 4815.00 + 7524.00 = 15870.00.
    assert clearing(ledger, "2026-03") == {
        "period": "2026-03",
        "rows": [
            row(NRCMS, "511623", "510104", 1, 0, "11700.00", "3531.00"),
            row(NRCMS, "511623", "511623", 1, 0, "11700.00", "4815.00"),
            row(UEBMI, "321100", "510104", 1, 0, "11700.00", "7524.00"),
        ],
        "totals": totals(3, 0, "35100.00", "15870.00"),
    }
    # April: b4 (00:00 on the 1st: April, and still positive here although reversed in May) and
    # b5's two settlements.  UEBMI at 511623: b4 7524.00 + b5 6885.00 = 14409.00, 2 x 11700.00.
    # Totals: 3 settlements; 35100.00; 4815.00 + 14409.00 = 19224.00.
    assert clearing(ledger, "2026-04") == {
        "period": "2026-04",
        "rows": [
            row(NRCMS, "511623", "511623", 1, 0, "11700.00", "4815.00"),
            row(UEBMI, "321100", "511623", 2, 0, "23400.00", "14409.00"),
        ],
        "totals": totals(3, 0, "35100.00", "19224.00"),
    }
    # May: b6 settled and reversed in May (+1 -1 reversal, amounts net 0.00); b4's reversal counts
    # here as a negative: -11700.00, -7524.00.  Totals: 1 settlement, 2 reversals,
    # 11700.00 - 11700.00 - 11700.00 = -11700.00; 3531.00 - 3531.00 - 7524.00 = -7524.00.
    assert clearing(ledger, "2026-05") == {
        "period": "2026-05",
        "rows": [
            row(NRCMS, "511623", "510104", 1, 1, "0.00", "0.00"),
            row(UEBMI, "321100", "511623", 0, 1, "-11700.00", "-7524.00"),
        ],
        "totals": totals(1, 2, "-11700.00", "-7524.00"),
    }


@pytest.mark.parametrize("period", ["2026-02", "2026-06", "2025-04", "9999-12", "0001-01"])
def test_clearing_of_an_empty_period(ledger: TestClient, period: str) -> None:
    assert clearing(ledger, period) == {"period": period, "rows": [], "totals": totals(0, 0, "0.00", "0.00")}


@pytest.mark.parametrize(
    "period", ["2026-13", "2026-00", "2026-3", "202603", "2026-03-01", "march", "0000-01", "", "２０２６-03"]
)
def test_clearing_refuses_a_bad_period(loaded: TestClient, period: str) -> None:
    r = loaded.get("/v1/clearing", params={"period": period}, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"].endswith("/validation")
    assert body["status"] == 422
    assert [e["loc"] for e in body["errors"]] == [["query", "period"]]


def test_clearing_needs_a_period(loaded: TestClient) -> None:
    r = loaded.get("/v1/clearing", headers=ADMIN)
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", "period"]


def test_clearing_as_csv(ledger: TestClient) -> None:
    r = ledger.get("/v1/clearing", params={"period": "2026-05"}, headers={**ADMIN, "Accept": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["vary"] == "Accept"
    assert r.headers["content-disposition"] == 'attachment; filename="clearing-2026-05.csv"'
    # The May rows of the JSON test, one CSV line each (RFC 4180: CRLF), no totals line.
    assert (
        r.content
        == (
            HEADER + "\r\n"
            "NRCMS-511623,511623,510104,1,1,0.00,0.00\r\n"
            "UEBMI-321100,321100,511623,0,1,-11700.00,-7524.00\r\n"
        ).encode()
    )
    r = ledger.get("/v1/clearing", params={"period": "2026-04"}, headers={**ADMIN, "Accept": "text/csv"})
    assert r.text == (
        HEADER + "\r\n"
        "NRCMS-511623,511623,511623,1,0,11700.00,4815.00\r\n"
        "UEBMI-321100,321100,511623,2,0,23400.00,14409.00\r\n"
    )
    # An empty month is the header alone.
    r = ledger.get("/v1/clearing", params={"period": "2026-06"}, headers={**ADMIN, "Accept": "text/csv"})
    assert r.text == HEADER + "\r\n"


@pytest.mark.parametrize(
    ("accept", "csv"),
    [
        ("text/csv", True),
        ("text/csv, application/json", True),
        ("application/json;q=0.5, text/csv", True),
        ("text/csv, */*;q=0.1", True),
        ("application/json", False),
        ("application/json, text/csv", False),
        ("text/csv;q=0.5, application/json", False),
        ("text/csv;q=0", False),
        ("*/*", False),
        ("text/html", False),
        ("application/xml", False),
    ],
)
def test_clearing_content_negotiation(loaded: TestClient, accept: str, csv: bool) -> None:
    r = loaded.get("/v1/clearing", params={"period": "2026-03"}, headers={**ADMIN, "Accept": accept})
    assert r.status_code == 200
    if csv:
        assert r.text == HEADER + "\r\n"
    else:
        assert r.json() == {"period": "2026-03", "rows": [], "totals": totals(0, 0, "0.00", "0.00")}


def test_a_scheme_office_clears_only_its_own_scheme(ledger: TestClient) -> None:
    office = new_client(ledger, {"name": "Linshui NRCMS office", "role": "scheme_office", "scheme_code": NRCMS})
    # March, NRCMS rows only: 2 settlements, 2 x 11700.00 = 23400.00, 3531.00 + 4815.00 = 8346.00.
    assert clearing(ledger, "2026-03", office) == {
        "period": "2026-03",
        "rows": [
            row(NRCMS, "511623", "510104", 1, 0, "11700.00", "3531.00"),
            row(NRCMS, "511623", "511623", 1, 0, "11700.00", "4815.00"),
        ],
        "totals": totals(2, 0, "23400.00", "8346.00"),
    }
    # May: b4's UEBMI reversal is not NRCMS's business.
    assert clearing(ledger, "2026-05", office) == {
        "period": "2026-05",
        "rows": [row(NRCMS, "511623", "510104", 1, 1, "0.00", "0.00")],
        "totals": totals(1, 1, "0.00", "0.00"),
    }
    r = ledger.get("/v1/clearing", params={"period": "2026-04"}, headers={**office, "Accept": "text/csv"})
    assert r.text == HEADER + "\r\nNRCMS-511623,511623,511623,1,0,11700.00,4815.00\r\n"
    other = new_client(ledger, {"name": "Zhenjiang UEBMI office", "role": "scheme_office", "scheme_code": UEBMI})
    # April, UEBMI: b4 + b5's second settlement.
    assert clearing(ledger, "2026-04", other)["rows"] == [row(UEBMI, "321100", "511623", 2, 0, "23400.00", "14409.00")]


def test_a_hospital_may_not_read_the_clearing(loaded: TestClient) -> None:
    hospital = new_client(loaded, {"name": "Linshui", "role": "hospital", "hospital_code": H_A["code"]})
    r = loaded.get("/v1/clearing", params={"period": "2026-03"}, headers=hospital)
    assert r.status_code == 403
    assert r.json()["type"].endswith("/forbidden")
    assert loaded.get("/v1/clearing", params={"period": "2026-03"}).status_code == 401


def reconciliation(client: TestClient, hospital: str, day: str, headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    r = client.get("/v1/reconciliation", params={"hospital_code": hospital, "date": day}, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def rec_row(scheme: str, n: int, rev: int, total: str, fund: str) -> dict[str, Any]:
    return {"scheme_code": scheme, "settlements": n, "reversals": rev, "medical_total": total, "fund_payment": fund}


def test_reconciliation_of_a_hospital_day(ledger: TestClient) -> None:
    a, b = H_A["code"], H_B["code"]
    # H-A on 2026-04-20: b5, NRCMS 4815.00 and UEBMI 6885.00; totals 23400.00 and 11700.00.
    assert reconciliation(ledger, a, "2026-04-20") == {
        "hospital_code": a,
        "date": "2026-04-20",
        "rows": [rec_row(NRCMS, 1, 0, "11700.00", "4815.00"), rec_row(UEBMI, 1, 0, "11700.00", "6885.00")],
        "totals": totals(2, 0, "23400.00", "11700.00"),
    }
    # Day bounds: b4 at 00:00 on 2026-04-01 is that day's; b2 at 23:59:59 on 2026-03-31 is that day's.
    assert reconciliation(ledger, a, "2026-04-01")["rows"] == [rec_row(UEBMI, 1, 0, "11700.00", "7524.00")]
    assert reconciliation(ledger, a, "2026-03-31")["rows"] == []
    assert reconciliation(ledger, b, "2026-03-31")["rows"] == [rec_row(NRCMS, 1, 0, "11700.00", "3531.00")]
    assert reconciliation(ledger, b, "2026-04-01")["rows"] == []
    # 2026-05-02: H-A has only b4's reversal (negative); H-B has b6 settled and reversed (net 0).
    assert reconciliation(ledger, a, "2026-05-02") == {
        "hospital_code": a,
        "date": "2026-05-02",
        "rows": [rec_row(UEBMI, 0, 1, "-11700.00", "-7524.00")],
        "totals": totals(0, 1, "-11700.00", "-7524.00"),
    }
    assert reconciliation(ledger, b, "2026-05-02") == {
        "hospital_code": b,
        "date": "2026-05-02",
        "rows": [rec_row(NRCMS, 1, 1, "0.00", "0.00")],
        "totals": totals(1, 1, "0.00", "0.00"),
    }
    # A day or a hospital without activity.
    assert reconciliation(ledger, "H-NOWHERE", "2026-03-10") == {
        "hospital_code": "H-NOWHERE",
        "date": "2026-03-10",
        "rows": [],
        "totals": totals(0, 0, "0.00", "0.00"),
    }
    assert reconciliation(ledger, a, "9999-12-31")["rows"] == []
    assert reconciliation(ledger, a, "0001-01-01")["rows"] == []


def test_reconciliation_scope(ledger: TestClient) -> None:
    a, b = H_A["code"], H_B["code"]
    hospital = new_client(ledger, {"name": "Linshui", "role": "hospital", "hospital_code": a})
    # Its own day (b1 on 2026-03-10): NRCMS 4815.00.
    assert reconciliation(ledger, a, "2026-03-10", hospital) == {
        "hospital_code": a,
        "date": "2026-03-10",
        "rows": [rec_row(NRCMS, 1, 0, "11700.00", "4815.00")],
        "totals": totals(1, 0, "11700.00", "4815.00"),
    }
    # Another hospital's code does not exist for it.
    r = ledger.get("/v1/reconciliation", params={"hospital_code": b, "date": "2026-03-31"}, headers=hospital)
    assert r.status_code == 404
    assert r.json()["type"].endswith("/not-found")
    # A scheme office may not reconcile hospitals.
    office = new_client(ledger, {"name": "office", "role": "scheme_office", "scheme_code": NRCMS})
    r = ledger.get("/v1/reconciliation", params={"hospital_code": a, "date": "2026-03-10"}, headers=office)
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"hospital_code": "H511623001", "date": "2026-02-30"}, ["query", "date"]),
        ({"hospital_code": "H511623001", "date": "yesterday"}, ["query", "date"]),
        ({"hospital_code": "H511623001", "date": "1773100800"}, ["query", "date"]),
        ({"hospital_code": "H511623001", "date": "2026-03-10T00:00:00"}, ["query", "date"]),
        ({"hospital_code": "H511623001", "date": "2026-3-10"}, ["query", "date"]),
        ({"hospital_code": "H511623001"}, ["query", "date"]),
        ({"date": "2026-03-10"}, ["query", "hospital_code"]),
        ({"hospital_code": "", "date": "2026-03-10"}, ["query", "hospital_code"]),
    ],
)
def test_reconciliation_refuses_bad_parameters(loaded: TestClient, params: dict[str, str], loc: list[str]) -> None:
    r = loaded.get("/v1/reconciliation", params=params, headers=ADMIN)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["type"].endswith("/validation")
    assert [e["loc"] for e in body["errors"]] == [loc]
