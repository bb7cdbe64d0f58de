"""The command line a newcomer runs: migrate and load-sample, twice, even after a settlement."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.__main__ import main
from tests.api_helpers import ADMIN, bill_1


def test_load_sample_can_run_again_after_a_settlement(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert main(["load-sample"]) == 0
    assert "2 schemes, 2 catalog versions, 2 policies, 2 members" in capsys.readouterr().err
    from app.main import app

    with TestClient(app) as client:
        r = client.post("/v1/claims", json={"bill": bill_1(), "schemes": ["NRCMS-511623"]}, headers=ADMIN)
        assert r.status_code == 201
    assert main(["load-sample"]) == 0
    assert "0 catalog versions, 0 policies, 2 members, 4 kept as they were" in capsys.readouterr().err


def test_example_prints_the_split(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["example"]) == 0
    out = capsys.readouterr().out
    assert "pays   4815.00" in out
    assert "pays   6885.00  patient owes      0.00" in out
