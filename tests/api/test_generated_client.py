"""A client generated from ``openapi/openapi.json`` with openapi-python-client, as an integrator
would generate it, settles bill 1 (scenario A of the shared examples) and v2's one-stop bill 3
(scenario E) to the cent.

The generator runs into a temporary folder with ``openapi/openapi-python-client.yaml`` (which maps
the CSV catalog upload to a binary body); the reference data goes in through the generated client,
one catalog as ``text/csv``, and every amount of scenario A is compared.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import ADMIN, bill_1, expected_bill_1, expected_v2, load_v2_over_http, sample_hospitals, v2_bill
from tests.support.examples import assert_matches
from tests.support.paths import REPO, examples_dir

PACKAGE = "settle_generated_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ModuleType]]:
    folder = tmp_path_factory.mktemp("generated")
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--path",
            str(REPO / "openapi" / "openapi.json"),
            "--config",
            str(REPO / "openapi" / "openapi-python-client.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(folder / PACKAGE),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        check=False,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Warning" not in output, output  # nothing skipped: every operation was generated
    sys.path.insert(0, str(folder))
    try:
        names = [
            "api.designated_hospitals.put_hospital",
            "api.reference_data.put_scheme",
            "api.reference_data.put_catalog_version",
            "api.reference_data.get_catalog_version",
            "api.reference_data.put_policy",
            "api.reference_data.put_member",
            "api.bills_and_settlements.submit_bill",
            "api.bills_and_settlements.create_settlement",
            "api.bills_and_settlements.get_split",
            "api.bills_and_settlements.submit_claim",
            "models",
            "types",
            "client",
        ]
        yield {name: importlib.import_module(f"{PACKAGE}.{name}") for name in names}
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _catalog_csv(catalog: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["code", "name", "category", "class", "self_pay_ratio", "price_cap", "settings", "min_hospital_level"]
    )
    for e in catalog["entries"]:
        writer.writerow(
            [
                e["code"],
                e["name"],
                e["category"],
                e["class"],
                e.get("self_pay_ratio") or "",
                e.get("price_cap") or "",
                "|".join(e.get("settings") or []),
                e.get("min_hospital_level") or "",
            ]
        )
    return out.getvalue().encode("utf-8")


def _ok(response: Any, *statuses: int) -> Any:
    assert response.status_code in statuses, (response.status_code, response.content)
    return response.parsed


def test_generated_client_settles_scenario_a(generated: dict[str, ModuleType], client: TestClient) -> None:
    api, models, types = generated, generated["models"], generated["types"]
    client.headers.update(ADMIN)
    sdk = api["client"].Client(base_url="http://testserver")
    sdk.set_httpx_client(client)  # the real app in process, on this test's database

    folder = examples_dir()
    for hospital in sample_hospitals():
        body = models.HospitalCreate.from_dict(hospital)
        put_hospital = api["api.designated_hospitals.put_hospital"]
        _ok(put_hospital.sync_detailed(hospital["code"], client=sdk, body=body), 201)
    for scheme in json.loads((folder / "schemes.json").read_text()):
        body = models.SchemeCreate.from_dict(scheme)
        _ok(api["api.reference_data.put_scheme"].sync_detailed(scheme["code"], client=sdk, body=body), 201)
    catalogs = json.loads((folder / "catalogs.json").read_text())
    for n, (code, catalog) in enumerate(catalogs.items()):
        put = api["api.reference_data.put_catalog_version"]
        if n == 0:  # the CSV upload
            upload = types.File(payload=io.BytesIO(_catalog_csv(catalog)), mime_type="text/csv")
            created = _ok(
                put.sync_detailed(
                    code,
                    catalog["version"],
                    client=sdk,
                    body=upload,
                    effective_from=_date(catalog["effective_from"]),
                ),
                201,
            )
            as_json = {k: v for k, v in catalog.items() if k != "version"}
            assert {k: created.to_dict()[k] for k in as_json if k != "entries"} == {
                k: v for k, v in as_json.items() if k != "entries"
            }
            read_back = [{k: v for k, v in e.items() if v is not None} for e in created.to_dict()["entries"]]
            assert read_back == sorted(catalog["entries"], key=lambda e: e["code"])  # by code
        else:
            body = models.CatalogCreate.from_dict(catalog)
            assert {type(e).__name__ for e in body.entries} <= {"CatalogEntryA", "CatalogEntryB", "CatalogEntryC"}
            _ok(put.sync_detailed(code, catalog["version"], client=sdk, body=body), 201)
    for code, policy in json.loads((folder / "policies.json").read_text()).items():
        body = models.PolicyCreate.from_dict(policy)
        _ok(api["api.reference_data.put_policy"].sync_detailed(code, policy["year"], client=sdk, body=body), 201)
    for code, members in json.loads((folder / "members.json").read_text()).items():
        for member in members:
            body = models.MemberCreate.from_dict(member)
            put_member = api["api.reference_data.put_member"]
            _ok(put_member.sync_detailed(code, member["member_no"], client=sdk, body=body), 201)

    bill = _ok(
        api["api.bills_and_settlements.submit_bill"].sync_detailed(
            client=sdk, body=models.BillCreate.from_dict(bill_1())
        ),
        201,
    )
    assert bill.medical_total == "11700.00"

    want = expected_bill_1()["A_nrcms_then_uebmi"]["settlements"]
    settled = []
    for expected in want:
        request = models.SettlementCreate(scheme_code=expected["scheme_code"])
        create = api["api.bills_and_settlements.create_settlement"]
        got = _ok(create.sync_detailed(bill.bill_id, client=sdk, body=request), 201).to_dict()
        for field, value in expected.items():
            if field == "lines":
                assert [{k: line[k] for k in value[0]} for line in got["lines"]] == value
            else:
                assert got[field] == value, field
        settled.append(got)

    split = _ok(api["api.bills_and_settlements.get_split"].sync_detailed(bill.bill_id, client=sdk), 200).to_dict()
    assert [(p["scheme_code"], p["amount"], p["settlement_id"]) for p in split["payments"]] == [
        (s["scheme_code"], s["fund_payment"], s["settlement_id"]) for s in settled
    ]
    assert (split["total_paid"], split["patient_responsibility"]) == ("11700.00", "0.00")


def test_generated_client_one_stop_claim_of_v2(generated: dict[str, ModuleType], client: TestClient) -> None:
    """v2's one-stop bill (scenario E, bill 3): NRCMS, its serious-illness tier, medical
    assistance and UEBMI in one claim, through the generated client."""
    load_v2_over_http(client)
    client.headers.update(ADMIN)
    sdk = generated["client"].Client(base_url="http://testserver")
    sdk.set_httpx_client(client)
    want = expected_v2()["E_one_stop_bill_3"]["settlements"]
    body = generated["models"].ClaimCreate.from_dict(
        {"bill": v2_bill("bill-3.json"), "schemes": [s["scheme_code"] for s in want]}
    )
    out = _ok(generated["api.bills_and_settlements.submit_claim"].sync_detailed(client=sdk, body=body), 201)
    got = out.to_dict()
    for ours, theirs in zip(got["settlements"], want, strict=True):
        assert_matches(ours, theirs, theirs["scheme_code"])
    assert got["split"]["total_paid"] == "138560.00"
    assert [p["scheme_kind"] for p in got["split"]["payments"]] == [s["scheme_kind"] for s in want]


def _date(text: str) -> Any:
    import datetime as dt

    return dt.date.fromisoformat(text)
