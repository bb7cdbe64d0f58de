"""Reports and lists read from ``SETTLE_DATABASE_READ_URL`` (a standby that may lag) when it is
set; a settlement, and an object read by its id, always from the primary."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.db.migrate import upgrade
from app.sample.loader import load_sample
from app.settings import get_settings
from tests.support.api import ADMIN, bill_1
from tests.support.db import use_database


def test_lists_and_reports_read_the_standby_and_writes_the_primary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    primary = f"sqlite:///{tmp_path / 'primary.db'}"
    standby = f"sqlite:///{tmp_path / 'standby.db'}"  # a standby that has replayed nothing yet
    upgrade(primary)
    upgrade(standby)
    use_database(primary, monkeypatch)
    load_sample()
    monkeypatch.setenv("SETTLE_DATABASE_READ_URL", standby)
    use_database(primary, monkeypatch)  # forgets the cached settings and engines

    from app.main import app

    with TestClient(app) as client:
        r = client.post("/v1/claims", json={"bill": bill_1(), "schemes": ["NRCMS-511623"]}, headers=ADMIN)
        assert r.status_code == 201, r.text
        settlement_id = r.json()["settlements"][0]["settlement_id"]
        period = r.json()["settlements"][0]["created_at"][:7]
        # Read by its id: the primary, which has it.
        assert client.get(f"/v1/settlements/{settlement_id}", headers=ADMIN).json()["fund_payment"] == "4815.00"
        # The lists and the clearing statement: the standby, which has not caught up.
        assert client.get("/v1/settlements", headers=ADMIN).json()["items"] == []
        assert client.get("/v1/bills", headers=ADMIN).json()["items"] == []
        clearing = client.get("/v1/clearing", params={"period": period}, headers=ADMIN).json()
        assert clearing["rows"] == []

    monkeypatch.delenv("SETTLE_DATABASE_READ_URL")
    use_database(primary, monkeypatch)
    assert get_settings().database_read_url is None
    with TestClient(app) as client:
        listed = client.get("/v1/settlements", headers=ADMIN).json()["items"]
        assert [s["settlement_id"] for s in listed] == [settlement_id]
        clearing = client.get("/v1/clearing", params={"period": period}, headers=ADMIN).json()
        assert clearing["totals"]["fund_payment"] == "4815.00"
