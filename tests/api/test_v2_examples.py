"""``shared/examples/v2/expected-v2.json`` over HTTP on each database: every scenario, every field,
the refusals of F and G, the split sheet, and the one-stop claim (NRCMS, SI, MA in one request)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support.api import ADMIN, expected_v2, ledger_state, load_v2_over_http, v2_bill
from tests.support.examples import ORDER, assert_matches


def problem_name(r: Any) -> str:
    return str(r.json()["type"]).rsplit("/", 1)[-1]


def test_v2_scenarios_over_http(client: TestClient, db_url: str) -> None:
    load_v2_over_http(client)
    scenarios = expected_v2()
    for name in ORDER:
        scenario = scenarios[name]
        r = client.post("/v1/bills", json=v2_bill(scenario["bill"]), headers=ADMIN)
        assert r.status_code == 201, r.text
        bill_id = r.json()["bill_id"]
        path = f"/v1/bills/{bill_id}/settlements"
        request = scenario.get("request", {})
        for refused in scenario.get("refused", []):
            body = {k: v for k, v in request.items() if k != refused.get("without")}
            body["scheme_code"] = refused["scheme_code"]
            for dry_run in (True, False):
                r = client.post(path, json={**body, "dry_run": dry_run}, headers=ADMIN)
                assert (r.status_code, problem_name(r)) == (refused["status"], refused["problem"]), (name, r.text)
        got = []
        for want in sorted(scenario["settlements"], key=lambda s: s["sequence"]):
            body = {**request, "scheme_code": want["scheme_code"]}
            preview = client.post(path, json={**body, "dry_run": True}, headers=ADMIN)
            assert preview.status_code == 200, preview.text
            r = client.post(path, json=body, headers=ADMIN)
            assert r.status_code == 201, (name, r.text)
            out = r.json()
            assert_matches(out, want, f"{name} {want['scheme_code']}")
            assert {k: v for k, v in preview.json().items() if k not in ("settlement_id", "status", "created_at")} == {
                k: v for k, v in out.items() if k not in ("settlement_id", "status", "created_at")
            }
            assert client.get(f"/v1/settlements/{out['settlement_id']}", headers=ADMIN).json() == out
            got.append(out)
        for out in got:
            if out["scheme_kind"] in ("serious_illness", "medical_assistance"):
                assert out["basis_settlement_id"] == got[0]["settlement_id"]
        split = client.get(f"/v1/bills/{bill_id}/split", headers=ADMIN).json()
        assert [
            (p["sequence"], p["payer_type"], p["scheme_code"], p["scheme_kind"], p["amount"]) for p in split["payments"]
        ] == [(s["sequence"], s["payer_type"], s["scheme_code"], s["scheme_kind"], s["fund_payment"]) for s in got]
        assert split["patient_responsibility"] == got[-1]["patient_responsibility"]
        if request.get("employer_liability"):
            employer = request["employer_liability"]["employer"]
            assert split["payments"][0]["payer"] == employer["name"]
            assert split["payments"][0]["employer_code"] == employer["code"]
    ledger_state(db_url)


def test_one_stop_claim_settles_bill_3(client: TestClient, db_url: str) -> None:
    """``POST /v1/claims`` with NRCMS, its serious-illness tier, medical assistance, then UEBMI."""
    load_v2_over_http(client)
    want = expected_v2()["E_one_stop_bill_3"]["settlements"]
    body = {"bill": v2_bill("bill-3.json"), "schemes": [s["scheme_code"] for s in want]}
    preview = client.post("/v1/claims", json={**body, "dry_run": True}, headers=ADMIN)
    assert preview.status_code == 200, preview.text
    r = client.post("/v1/claims", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    out = r.json()
    for ours, theirs in zip(out["settlements"], want, strict=True):
        assert_matches(ours, theirs, theirs["scheme_code"])
    for ours, theirs in zip(preview.json()["settlements"], want, strict=True):
        assert_matches(ours, theirs, theirs["scheme_code"])
    assert out["split"]["total_paid"] == "138560.00"
    assert [p["scheme_kind"] for p in out["split"]["payments"]] == [s["scheme_kind"] for s in want]
    state = ledger_state(db_url)
    assert state["active"] == 4
