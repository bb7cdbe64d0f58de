"""``shared/examples/v3/expected-v3.json`` over HTTP on each database, run in the file's order on
one ledger: every settlement and field (``cap_remaining``, ``over_cap``, ``advance`` included),
every refusal (dry run and real), each receivable's steps and refused changes; then v1's and v2's
expected files still hold with v3 loaded."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.support.api import (
    ADMIN,
    expected_bill_1,
    expected_v2,
    ledger_state,
    load_v2_over_http,
    register_hospitals,
    v2_bill,
)
from tests.support.api import bill_1 as v1_bill_1
from tests.support.examples import ORDER as V2_ORDER
from tests.support.examples import assert_matches
from tests.support.paths import examples_dir

V3 = examples_dir() / "v3"
#: The receivable's figures each step of the shared file lists.
FIGURES = ("amount", "recovered", "written_off", "outstanding", "status")


def read(name: str) -> Any:
    return json.loads((V3 / name).read_text(encoding="utf-8"))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def load_v3_over_http(client: TestClient) -> None:
    """v1, then v2, then v3's files over them (members merge by member number, as a PUT does)."""
    load_v2_over_http(client)
    register_hospitals(client, read("hospitals.json"))
    for scheme in read("schemes.json"):
        r = client.put(f"/v1/schemes/{scheme['code']}", json=scheme, headers=ADMIN)
        assert r.status_code in (200, 201), r.text
    for code, catalogs in read("catalogs.json").items():
        for catalog in as_list(catalogs):
            r = client.put(f"/v1/schemes/{code}/catalogs/{catalog['version']}", json=catalog, headers=ADMIN)
            assert r.status_code in (200, 201), r.text
    for code, policies in read("policies.json").items():
        for policy in as_list(policies):
            r = client.put(f"/v1/schemes/{code}/policies/{policy['year']}", json=policy, headers=ADMIN)
            assert r.status_code in (200, 201), r.text
    for code, members in read("members.json").items():
        for m in members:
            r = client.put(f"/v1/schemes/{code}/members/{m['member_no']}", json=m, headers=ADMIN)
            assert r.status_code in (200, 201), r.text


def problem(r: Any) -> tuple[int, str]:
    return r.status_code, str(r.json()["type"]).rsplit("/", 1)[-1]


def settle(client: TestClient, bill_id: str, body: dict[str, Any]) -> dict[str, Any]:
    path = f"/v1/bills/{bill_id}/settlements"
    preview = client.post(path, json={**body, "dry_run": True}, headers=ADMIN)
    assert preview.status_code == 200, preview.text
    r = client.post(path, json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    skip = ("settlement_id", "status", "created_at", "advance")
    assert {k: v for k, v in preview.json().items() if k not in skip} == {k: v for k, v in out.items() if k not in skip}
    assert client.get(f"/v1/settlements/{out['settlement_id']}", headers=ADMIN).json() == out
    return out


def check_receivable(client: TestClient, name: str, settled: dict[str, Any], want: dict[str, Any]) -> None:
    receivable_id = settled["advance"]["receivable_id"]
    assert receivable_id is not None, name
    path = f"/v1/receivables/{receivable_id}"
    refusals = want.get("refused", [])
    for step in want["steps"]:
        if step["step"] == "recovery":
            r = client.post(f"{path}/recoveries", json=step["recovery"], headers=ADMIN)
            assert r.status_code == 201, r.text
        elif step["step"] == "write_off":
            r = client.post(f"{path}/write-off", json={"reason": step["write_off_reason"]}, headers=ADMIN)
            assert r.status_code == 200, r.text
        else:
            assert step["step"] == "opened", name
            r = client.get(path, headers=ADMIN)
        got = r.json()
        assert {k: got[k] for k in FIGURES} == {k: step[k] for k in FIGURES}, (name, step["step"])
        assert (got["reason"], got["liable"]) == (want["reason"], want["liable"]), name
        assert (got["settlement_id"], got["scheme_code"]) == (settled["settlement_id"], settled["scheme_code"])
        if step["step"] == "recovery":
            shown = got["recoveries"][-1]
            assert {k: shown[k] for k in step["recovery"]} == step["recovery"], name
        if step["step"] == "write_off":
            assert got["write_off_reason"] == step["write_off_reason"], name
        assert client.get(path, headers=ADMIN).json() == got
        for refused in (x for x in refusals if x["after"] == step["step"]):
            if refused["operation"] == "recovery":
                body = {"amount": refused["amount"], "received_on": "2026-12-01", "reference": "REFUSED-1"}
                r = client.post(f"{path}/recoveries", json=body, headers=ADMIN)
            else:
                assert refused["operation"] == "reversal of the settlement", name
                r = client.post(f"/v1/settlements/{settled['settlement_id']}/reversal", headers=ADMIN)
            assert problem(r) == (refused["status"], refused["problem"]), (name, refused, r.text)
            # A refused change changes nothing.
            assert client.get(path, headers=ADMIN).json() == got, (name, refused)


def run_v3(client: TestClient) -> None:
    scenarios = read("expected-v3.json")
    for name, scenario in scenarios.items():
        r = client.post("/v1/bills", json=read(scenario["bill"]), headers=ADMIN)
        assert r.status_code == 201, r.text
        bill_id = r.json()["bill_id"]
        request = scenario.get("request", {})
        for refused in scenario.get("refused", []):
            body = refused.get("request", request)
            body = {k: v for k, v in body.items() if k != refused.get("without")}
            body["scheme_code"] = refused["scheme_code"]
            for dry_run in (True, False):
                r = client.post(f"/v1/bills/{bill_id}/settlements", json={**body, "dry_run": dry_run}, headers=ADMIN)
                assert problem(r) == (refused["status"], refused["problem"]), (name, refused, r.text)
        got: list[dict[str, Any]] = []
        for want in sorted(scenario["settlements"], key=lambda s: s["sequence"]):
            body = {**request, "scheme_code": want["scheme_code"]}
            out = settle(client, bill_id, body)
            if "advance" in want:
                assert {k: out["advance"][k] for k in want["advance"]} == want["advance"], name
            assert_matches(out, {k: v for k, v in want.items() if k != "advance"}, f"{name} {want['scheme_code']}")
            if out["scheme_kind"] == "large_amount":
                assert out["basis_settlement_id"] == got[0]["settlement_id"]
            got.append(out)
        split = client.get(f"/v1/bills/{bill_id}/split", headers=ADMIN).json()
        assert [p["amount"] for p in split["payments"]] == [s["fund_payment"] for s in got], name
        assert split["patient_responsibility"] == got[-1]["patient_responsibility"], name
        if "receivable" in scenario:
            check_receivable(client, name, got[0], scenario["receivable"])


def test_v3_scenarios_over_http(client: TestClient, db_url: str) -> None:
    load_v3_over_http(client)
    run_v3(client)
    ledger_state(db_url)


def test_v1_and_v2_examples_still_hold_with_v3_loaded(client: TestClient, db_url: str) -> None:
    load_v3_over_http(client)
    r = client.post(
        "/v1/claims", json={"bill": v1_bill_1(), "schemes": ["NRCMS-511623", "UEBMI-321100"]}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    v1 = expected_bill_1()["A_nrcms_then_uebmi"]
    for ours, theirs in zip(r.json()["settlements"], v1["settlements"], strict=True):
        assert_matches(ours, theirs, theirs["scheme_code"])
    scenarios = expected_v2()
    for name in V2_ORDER:
        scenario = scenarios[name]
        r = client.post("/v1/bills", json=v2_bill(scenario["bill"]), headers=ADMIN)
        assert r.status_code == 201, r.text
        bill_id = r.json()["bill_id"]
        request = scenario.get("request", {})
        for want in sorted(scenario["settlements"], key=lambda s: s["sequence"]):
            r = client.post(
                f"/v1/bills/{bill_id}/settlements", json={**request, "scheme_code": want["scheme_code"]}, headers=ADMIN
            )
            assert r.status_code == 201, (name, r.text)
            assert_matches(r.json(), want, f"{name} {want['scheme_code']}")
    ledger_state(db_url)
