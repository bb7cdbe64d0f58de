"""``POST /v1/reconciliation/checks`` (v3.4): ours by the daily reconciliation's netting over a
span, the list comparison and each kind of difference, the span's limits, and a check writes
nothing but its audit record."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.support.api import ADMIN, bill_1, ledger_state, load_examples_over_http

NRCMS, UEBMI, HOSPITAL = "NRCMS-511623", "UEBMI-321100", "H511623001"


def check(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post("/v1/reconciliation/checks", json=body, headers=ADMIN)


def test_totals_lists_and_differences(client: TestClient, db_url: str) -> None:
    load_examples_over_http(client)
    r = client.post("/v1/claims", json={"bill": bill_1(), "schemes": [NRCMS, UEBMI]}, headers=ADMIN)
    assert r.status_code == 201, r.text
    nrcms, uebmi = r.json()["settlements"]
    assert client.post(f"/v1/settlements/{uebmi['settlement_id']}/reversal", headers=ADMIN).status_code == 200
    day = date.fromisoformat(nrcms["created_at"][:10])
    ours = {"settlements": 2, "reversals": 1, "medical_total": "11700.00", "fund_payment": nrcms["fund_payment"]}
    listed = [
        {"settlement_id": nrcms["settlement_id"], "status": "settled", "fund_payment": nrcms["fund_payment"]},
        {"settlement_id": uebmi["settlement_id"], "status": "reversed", "fund_payment": uebmi["fund_payment"]},
    ]
    span = {"hospital_code": HOSPITAL, "from": (day - timedelta(days=3)).isoformat(), "to": day.isoformat()}
    audits = len(client.get("/v1/audit?limit=500", headers=ADMIN).json()["items"])
    r = check(client, {**span, "totals": ours, "settlements": listed})
    assert r.status_code == 200, r.text
    assert r.json() == {
        **span,
        "scheme_code": None,
        "result": "match",
        "ours": ours,
        "theirs": ours,
        "differences": [],
    }
    # Nothing written but the audit record of the check itself.
    assert len(client.get("/v1/audit?limit=500", headers=ADMIN).json()["items"]) == audits + 1

    # One scheme only: the NRCMS settlement.
    one = {"settlements": 1, "reversals": 0, "medical_total": "11700.00", "fund_payment": nrcms["fund_payment"]}
    r = check(client, {**span, "scheme_code": NRCMS, "totals": one}).json()
    assert (r["result"], r["ours"]) == ("match", one)

    # Each kind of difference, ordered by settlement_id.
    theirs = [
        {"settlement_id": nrcms["settlement_id"], "status": "settled", "fund_payment": "1.00"},
        {"settlement_id": "00000000-not-ours", "status": "settled", "fund_payment": "5.00"},
    ]
    r = check(client, {**span, "totals": {**ours, "settlements": 3}, "settlements": theirs}).json()
    assert r["result"] == "mismatch" and r["theirs"]["settlements"] == 3
    got = {d["settlement_id"]: (d["problem"], d["ours"], d["theirs"]) for d in r["differences"]}
    assert got == {
        nrcms["settlement_id"]: (
            "amount",
            {"status": "settled", "fund_payment": nrcms["fund_payment"]},
            {"status": "settled", "fund_payment": "1.00"},
        ),
        "00000000-not-ours": ("missing_here", None, {"status": "settled", "fund_payment": "5.00"}),
        uebmi["settlement_id"]: (
            "missing_there",
            {"status": "reversed", "fund_payment": uebmi["fund_payment"]},
            None,
        ),
    }
    assert [d["settlement_id"] for d in r["differences"]] == sorted(got)
    status = [{**listed[0]}, {**listed[1], "status": "settled"}]
    r = check(client, {**span, "totals": ours, "settlements": status}).json()
    assert [(d["settlement_id"], d["problem"]) for d in r["differences"]] == [(uebmi["settlement_id"], "status")]

    # A span in the past holds nothing of ours.
    past = {"hospital_code": HOSPITAL, "from": "2020-01-01", "to": "2020-01-31"}
    zero = {"settlements": 0, "reversals": 0, "medical_total": "0.00", "fund_payment": "0.00"}
    assert check(client, {**past, "totals": zero}).json()["result"] == "match"
    # The span's limits: to before from, more than 31 days.
    for bad in ({"from": "2020-01-02", "to": "2020-01-01"}, {"from": "2020-01-01", "to": "2020-02-01"}):
        r = check(client, {**past, **bad, "totals": zero})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "to"], r.text
    ledger_state(db_url)
