"""``PUT/GET /v1/nhsa/routes/{insuplc_admdvs}/{insutype}`` (``nhsa.md``, "Routes"): which schemes
settle a visit, in order, with the platform's codes (the defaults of each kind filled in)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.api import ADMIN, load_v2_over_http, new_client, problem

URL = "/v1/nhsa/routes/511623/390"


def test_put_and_get_a_route(client: TestClient) -> None:
    load_v2_over_http(client)
    body = {"schemes": [{"scheme_code": "NRCMS-511623"}, {"scheme_code": "SI-511623"}, {"scheme_code": "MA-511623"}]}
    r = client.put(URL, json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["insuplc_admdvs"] == "511623" and created["insutype"] == "390"
    assert created["schemes"] == [
        {
            "scheme_code": "NRCMS-511623",
            "scheme_kind": "nrcms",
            "fund_pay_type": "390100",
            "setlinfo_field": "hifp_pay",
        },
        {
            "scheme_code": "SI-511623",
            "scheme_kind": "serious_illness",
            "fund_pay_type": "390200",
            "setlinfo_field": "hifmi_pay",
        },
        {
            "scheme_code": "MA-511623",
            "scheme_kind": "medical_assistance",
            "fund_pay_type": "610100",
            "setlinfo_field": "maf_pay",
        },
    ]
    # A region's own codes replace the defaults; a replacing put answers 200.
    body["schemes"][2] = {"scheme_code": "MA-511623", "fund_pay_type": "510100", "setlinfo_field": "oth_pay"}
    r = client.put(URL, json={**body, "insutype": "390"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    office = new_client(client, {"name": "office", "role": "scheme_office", "scheme_code": "UEBMI-321100"})
    read = client.get(URL, headers=office)
    assert read.status_code == 200
    assert read.json()["schemes"][2] == {
        "scheme_code": "MA-511623",
        "scheme_kind": "medical_assistance",
        "fund_pay_type": "510100",
        "setlinfo_field": "oth_pay",
    }
    problem(client.get("/v1/nhsa/routes/511623/310", headers=ADMIN), 404, "not-found")
    problem(client.put(URL, json=body, headers=office), 403, "forbidden")


def test_a_route_starts_with_a_basic_scheme_and_its_tiers(client: TestClient) -> None:
    load_v2_over_http(client)
    for schemes, where in (
        ([{"scheme_code": "SI-511623"}], 0),  # a tier first
        ([{"scheme_code": "WI-321100"}], 0),  # an injury scheme
        ([{"scheme_code": "UEBMI-321100"}, {"scheme_code": "SI-511623"}], 1),  # not its tier
        ([{"scheme_code": "NRCMS-511623"}, {"scheme_code": "UEBMI-321100"}], 1),  # no tier
        ([{"scheme_code": "NRCMS-511623"}, {"scheme_code": "NRCMS-511623"}], 1),  # twice
        ([{"scheme_code": "NRCMS-511623"}, {"scheme_code": "XX-1"}], 1),  # no such scheme
    ):
        body = problem(client.put(URL, json={"schemes": schemes}, headers=ADMIN), 422, "validation")
        assert ["body", "schemes", where, "scheme_code"] in [e["loc"] for e in body["errors"]], body
    body = problem(
        client.put(URL, json={"insuplc_admdvs": "511600", "schemes": [{"scheme_code": "NRCMS-511623"}]}, headers=ADMIN),
        422,
        "validation",
    )
    assert body["errors"][0]["loc"] == ["body", "insuplc_admdvs"]
    bad = {"schemes": [{"scheme_code": "NRCMS-511623", "fund_pay_type": "39010", "setlinfo_field": "x"}]}
    problem(client.put(URL, json=bad, headers=ADMIN), 422, "validation")
    problem(client.put("/v1/nhsa/routes/5116/390", json={"schemes": []}, headers=ADMIN), 422, "validation")
    problem(client.get(URL, headers=ADMIN), 404, "not-found")
