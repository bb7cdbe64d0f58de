"""The large-amount tier in the ledger (v3.2): its over-cap axis moves with its settlement and a
reversal restores it exactly, so the same bill settled again pays the same; ``cap_remaining`` on
every settlement, stored with it."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.db import tables as db
from tests.support.api import ADMIN, ledger_state, load_v2_over_http, register_hospitals
from tests.support.paths import examples_dir

V3 = examples_dir() / "v3"


def read(name: str) -> Any:
    return json.loads((V3 / name).read_text(encoding="utf-8"))


def axis(url: str) -> tuple[Any, Any]:
    engine = create_engine(url)
    with Session(engine) as s:
        row = s.scalars(select(db.YearTotal).where(db.YearTotal.scheme_code == "LA-511600")).one()  # type: ignore[arg-type]
        out = (row.fund_paid, row.over_cap)
    engine.dispose()
    return out


def test_a_reversal_restores_the_over_cap_axis_exactly(client: TestClient, db_url: str) -> None:
    load_v2_over_http(client)
    register_hospitals(client, read("hospitals.json"))
    for scheme in read("schemes.json"):
        assert client.put(f"/v1/schemes/{scheme['code']}", json=scheme, headers=ADMIN).status_code == 201
    for code, catalog in read("catalogs.json").items():
        client.put(f"/v1/schemes/{code}/catalogs/{catalog['version']}", json=catalog, headers=ADMIN)
    for code, policy in read("policies.json").items():
        assert (
            client.put(f"/v1/schemes/{code}/policies/{policy['year']}", json=policy, headers=ADMIN).status_code == 201
        )
    for code, members in read("members.json").items():
        for m in members:
            client.put(f"/v1/schemes/{code}/members/{m['member_no']}", json=m, headers=ADMIN)
    want = read("expected-v3.json")
    h, h2 = want["H_large_amount_bill_6"]["settlements"], want["H2_cap_exhausted_bill_7"]["settlements"]
    schemes = {"schemes": ["UEBMI-511600", "LA-511600"]}
    first = client.post("/v1/claims", json={"bill": read("bill-6.json"), **schemes}, headers=ADMIN).json()
    fund_paid, over_cap = axis(db_url)
    assert (str(fund_paid), str(over_cap)) == (first["settlements"][1]["fund_payment"], h[1]["over_cap"])
    second = client.post("/v1/claims", json={"bill": read("bill-7.json"), **schemes}, headers=ADMIN).json()
    assert [s["fund_payment"] for s in second["settlements"]] == [s["fund_payment"] for s in h2]
    # Reverse H2's tier: the axis is back at H's over-cap cost, to the fen.
    la = second["settlements"][1]
    r = client.post(f"/v1/settlements/{la['settlement_id']}/reversal", headers=ADMIN)
    assert r.status_code == 200 and r.json()["cap_remaining"] == h2[1]["cap_remaining"]  # kept as it was made
    fund_paid, over_cap = axis(db_url)
    assert (str(fund_paid), str(over_cap)) == (h[1]["fund_payment"], h[1]["over_cap"])
    # Settled again, it crosses the same band limit and pays the same.
    bill_id = second["bill"]["bill_id"]
    again = client.post(f"/v1/bills/{bill_id}/settlements", json={"scheme_code": "LA-511600"}, headers=ADMIN)
    assert again.status_code == 201, again.text
    got = again.json()
    assert [(b["base"], b["amount"]) for b in got["bands"]] == [(b["base"], b["amount"]) for b in h2[1]["bands"]]
    assert (got["fund_payment"], got["cap_remaining"], got["over_cap"]) == (
        h2[1]["fund_payment"],
        h2[1]["cap_remaining"],
        h2[1]["over_cap"],
    )
    # The basic settlement cannot be reversed while its tier is active.
    basic = second["settlements"][0]["settlement_id"]
    assert client.post(f"/v1/settlements/{basic}/reversal", headers=ADMIN).status_code == 409
    ledger_state(db_url)
