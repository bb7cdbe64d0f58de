"""What each role reads of v3's objects, beyond the access matrix's status codes (api.md v3).

The matrix (``test_matrix.py``) gives every v3 operation its status per role on an own and a
foreign object.  Here, what the answers hold: a scheme office lists only its own scheme's
receivables, whatever the filters; a hospital reads the ``advance`` (with its receivable's id) on
its bills' settlements but not the receivable; an ``employer_not_enrolled`` advance is requested by
the bill's hospital (the scheme's office cannot see the bill of a worker who is no member), and
once made the scheme's office reads it and its receivable; a hospital's reconciliation check shows
nothing of a settlement it may not read (``missing_here``, as an id nobody made).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_v3_examples import load_v3_over_http
from tests.support.api import ADMIN, bill_1, new_client
from tests.support.paths import examples_dir

NRCMS, WI = "NRCMS-511623", "WI-321100"
THIRD_PARTY = {"reason": "third_party", "liable": {"kind": "third_party", "name": "A motorcyclist"}}


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    from app.main import app

    with TestClient(app) as c:
        yield c


def _ids(page: Any) -> list[str]:
    return [x["receivable_id"] for x in page["items"]]


def test_what_each_role_reads_of_advances_receivables_and_checks(client: TestClient) -> None:
    load_v3_over_http(client)
    expected = json.loads((examples_dir() / "v3" / "expected-v3.json").read_text())
    scenario = expected["J_advance_employer_not_enrolled_bill_11"]
    bill_11 = json.loads((examples_dir() / "v3" / scenario["bill"]).read_text())
    linshui = new_client(client, {"name": "Linshui", "role": "hospital", "hospital_code": "H511623001"})
    injury_hospital = bill_11["hospital"]["code"]
    zhenjiang = new_client(client, {"name": "Zhenjiang", "role": "hospital", "hospital_code": injury_hospital})
    nrcms_office = new_client(client, {"name": "county", "role": "scheme_office", "scheme_code": NRCMS})
    wi_office = new_client(client, {"name": "injury", "role": "scheme_office", "scheme_code": WI})

    # A third party's advance under NRCMS on Linshui's bill 1.
    bill_id = client.post("/v1/bills", json=bill_1(), headers=linshui).json()["bill_id"]
    request = {"scheme_code": NRCMS, "advance": THIRD_PARTY}
    r = client.post(f"/v1/bills/{bill_id}/settlements", json=request, headers=linshui)
    assert r.status_code == 201, r.text
    third = r.json()
    third_receivable = third["advance"]["receivable_id"]
    # An employer's advance under WI-321100 on bill 11: not the office's to request (to it the bill
    # of a worker who is no member does not exist), the bill's hospital's.
    bill_id = client.post("/v1/bills", json=bill_11, headers=zhenjiang).json()["bill_id"]
    path = f"/v1/bills/{bill_id}/settlements"
    assert client.post(path, json=scenario["request"], headers=wi_office).status_code == 404
    r = client.post(path, json=scenario["request"], headers=zhenjiang)
    assert r.status_code == 201, r.text
    employer = r.json()
    employer_receivable = employer["advance"]["receivable_id"]
    assert employer["fund_payment"] == scenario["settlements"][0]["fund_payment"]

    # The hospital reads the advance on its own bill's settlement, not the receivable, and nothing
    # of another hospital's.
    mine = client.get(f"/v1/settlements/{third['settlement_id']}", headers=linshui).json()
    assert mine["advance"] == third["advance"] and mine["advance"]["receivable_id"] == third_receivable
    assert client.get(f"/v1/receivables/{third_receivable}", headers=linshui).status_code == 403
    assert client.get("/v1/receivables", headers=linshui).status_code == 403
    assert client.get(f"/v1/settlements/{employer['settlement_id']}", headers=linshui).status_code == 404

    # Each office reads its own scheme's advanced settlement and receivable, and lists only those,
    # whatever it filters by; the admin lists both.
    for office, own, own_settlement, foreign, foreign_code in (
        (nrcms_office, third_receivable, third["settlement_id"], employer_receivable, WI),
        (wi_office, employer_receivable, employer["settlement_id"], third_receivable, NRCMS),
    ):
        assert client.get(f"/v1/settlements/{own_settlement}", headers=office).json()["advance"]["receivable_id"] == own
        assert client.get(f"/v1/receivables/{own}", headers=office).json()["settlement_id"] == own_settlement
        assert client.get(f"/v1/receivables/{foreign}", headers=office).status_code == 404
        assert _ids(client.get("/v1/receivables", headers=office).json()) == [own]
        assert _ids(client.get(f"/v1/receivables?scheme_code={foreign_code}", headers=office).json()) == []
        code = scenario["request"]["advance"]["liable"]["code"]
        by_liable = _ids(client.get(f"/v1/receivables?liable_code={code}", headers=office).json())
        assert by_liable == ([own] if own == employer_receivable else [])
        recovery = {"amount": "1.00", "received_on": "2026-09-01", "reference": "SCOPE-1"}
        assert client.post(f"/v1/receivables/{foreign}/recoveries", json=recovery, headers=office).status_code == 404
        write_off = {"reason": "not ours"}
        assert client.post(f"/v1/receivables/{foreign}/write-off", json=write_off, headers=office).status_code == 404
    assert sorted(_ids(client.get("/v1/receivables", headers=ADMIN).json())) == sorted(
        [third_receivable, employer_receivable]
    )
    # Nothing was changed by the refused attempts.
    for rid in (third_receivable, employer_receivable):
        assert client.get(f"/v1/receivables/{rid}", headers=ADMIN).json()["recoveries"] == []

    # A hospital's check: another hospital's settlement is missing here, shown as an id nobody made.
    day = third["created_at"][:10]  # its UTC day, as the daily reconciliation counts it
    body = {
        "hospital_code": "H511623001",
        "from": day,
        "to": day,
        "totals": {
            "settlements": 1,
            "reversals": 0,
            "medical_total": third["medical_total"],
            "fund_payment": third["fund_payment"],
        },
        "settlements": [
            {"settlement_id": third["settlement_id"], "status": "settled", "fund_payment": third["fund_payment"]},
            {"settlement_id": employer["settlement_id"], "status": "settled", "fund_payment": "1.00"},
            {"settlement_id": "00000000-made-up", "status": "settled", "fund_payment": "1.00"},
        ],
    }
    r = client.post("/v1/reconciliation/checks", json=body, headers=linshui)
    assert r.status_code == 200, r.text
    checked = r.json()
    assert checked["ours"]["settlements"] == 1 and checked["ours"]["fund_payment"] == third["fund_payment"]
    theirs = {"status": "settled", "fund_payment": "1.00"}
    assert checked["differences"] == sorted(
        [
            {"settlement_id": employer["settlement_id"], "problem": "missing_here", "ours": None, "theirs": theirs},
            {"settlement_id": "00000000-made-up", "problem": "missing_here", "ours": None, "theirs": theirs},
        ],
        key=lambda d: str(d["settlement_id"]),
    )
    assert checked["ours"] == checked["theirs"] and checked["result"] == "mismatch"
    assert client.post("/v1/reconciliation/checks", json=body, headers=ADMIN).json() == checked
