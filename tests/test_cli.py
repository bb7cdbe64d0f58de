"""The command line a newcomer runs: migrate and load-sample, twice, even after a settlement."""

from __future__ import annotations

import json
from typing import get_args

import pytest
from fastapi.testclient import TestClient

from app.__main__ import main
from app.engine.types import SchemeKind
from app.sample import SAMPLE_DIR
from tests.api_helpers import ADMIN, bill_1


def not_yet_supported() -> set[str]:
    """v2's sample schemes of kinds this version does not know (none once rules v2.2 are in)."""
    return {
        s["code"]
        for s in json.loads((SAMPLE_DIR / "v2" / "schemes.json").read_text())
        if s["kind"] not in get_args(SchemeKind)
    }


def test_load_sample_can_run_again_after_a_settlement(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert main(["load-sample"]) == 0
    err = capsys.readouterr().err
    # v1 then v2: three hospitals; v2 replaces Wang Jun's county membership and adds Li Qiang.
    assert "3 hospitals, 2 schemes, 2 catalog versions, 2 policies, 3 members" in err
    skipped = not_yet_supported()
    for code in skipped:
        assert f"not loaded (this version does not support it yet): scheme {code}:" in err
    if not skipped:
        assert "not loaded" not in err
    from app.main import app

    with TestClient(app) as client:
        # v2's entry replaced v1's (same member number), as a PUT does: the August registration.
        wang = client.get("/v1/schemes/NRCMS-511623/members/NC5116230001", headers=ADMIN).json()
        assert wang["offsite_registrations"] == [
            {"destination_region": "510100", "from": "2026-08-01", "to": "2026-12-31"}
        ]
        assert client.get("/v1/hospitals/H510107001", headers=ADMIN).json()["level"] == 3
        r = client.post("/v1/claims", json={"bill": bill_1(), "schemes": ["NRCMS-511623"]}, headers=ADMIN)
        assert r.status_code == 201
        assert r.json()["settlements"][0]["fund_payment"] == "4815.00"  # bill 1 holds unchanged
    assert main(["load-sample"]) == 0
    assert "3 hospitals, 2 schemes, 0 catalog versions, 0 policies, 3 members, 4 kept as they were" in (
        capsys.readouterr().err
    )


def test_example_prints_the_split(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["example"]) == 0
    out = capsys.readouterr().out
    assert "pays   4815.00" in out
    assert "pays   6885.00  patient owes      0.00" in out
