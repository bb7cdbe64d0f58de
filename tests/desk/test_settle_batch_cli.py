"""``python -m app settle-batch FILE``: the same file as the desk's batch, settled over the API
with a client token; each row once, however often the command runs; a progress bar."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import col

from app.__main__ import main
from app.cli.settle_batch import run
from app.db import tables as db
from app.db.tx import read_session
from tests.desk.helpers import NRCMS, seed
from tests.support.api import ADMIN, bill_1

FILE = (
    "hospital_code,bill_no,vouchers\n"
    + "".join(
        f"H511623001,ZY-C-{n},{'PICC|P-' + str(n) + '|' + str(50 * n) + '.00' if n % 2 else ''}\n" for n in range(1, 6)
    )
    + "H511623001,NO-SUCH-BILL,\n"
).encode()


@pytest.fixture
def api(db_url: str) -> Iterator[TestClient]:
    from app.main import app

    with TestClient(app, base_url="http://testserver") as client:
        seed(client)
        for n in range(1, 6):
            r = client.post("/v1/bills", json={**bill_1(), "bill_no": f"ZY-C-{n}"}, headers=ADMIN)
            assert r.status_code == 201, r.text
        r = client.post(
            "/v1/clients", json={"name": "NRCMS batch", "role": "scheme_office", "scheme_code": NRCMS}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
        client.headers["Authorization"] = f"Bearer {r.json()['token']}"
        yield client


def settlements() -> int:
    with read_session() as s:
        return int(
            s.scalar(select(func.count()).select_from(db.Settlement).where(col(db.Settlement.scheme_code) == NRCMS))
            or 0
        )


def batch(client: TestClient, *, dry_run: bool) -> tuple[int, list[dict[str, Any]], str]:
    result, progress = io.StringIO(), io.StringIO()
    code = run(FILE, client, scheme=NRCMS, dry_run=dry_run, result=result, progress=progress)
    return code, list(csv.DictReader(io.StringIO(result.getvalue()))), progress.getvalue()


def test_the_command_settles_each_row_once(api: TestClient) -> None:
    code, rows, progress = batch(api, dry_run=True)
    assert code == 1 and settlements() == 0
    assert [r["state"] for r in rows] == ["previewed"] * 5 + ["refused"]
    previewed = {r["bill_no"]: r["fund_payment"] for r in rows[:5]}
    assert "NO-SUCH-BILL" in rows[5]["message"]

    code, rows, progress = batch(api, dry_run=False)
    assert code == 1 and settlements() == 5
    assert [r["state"] for r in rows] == ["settled"] * 5 + ["refused"]
    assert {r["bill_no"]: r["fund_payment"] for r in rows[:5]} == previewed
    first = [r["settlement_id"] for r in rows[:5]]
    assert all(first) and "6/6" in progress and "[" + "#" * 30 + "]" in progress
    # The same file again (a crash, a retry): every row answered by its first settlement.
    code, rows, _progress = batch(api, dry_run=False)
    assert settlements() == 5 and [r["settlement_id"] for r in rows[:5]] == first
    for r in rows[:5]:
        settled = api.get(f"/v1/settlements/{r['settlement_id']}").json()
        assert settled["fund_payment"] == r["fund_payment"]


def test_a_token_the_service_refuses(api: TestClient) -> None:
    api.headers["Authorization"] = "Bearer not-a-token"
    code, rows, progress = batch(api, dry_run=False)
    assert code == 2 and rows == [] and "refuses this token" in progress and settlements() == 0


def test_the_command_line(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "returned.csv"
    path.write_bytes(FILE)
    monkeypatch.delenv("SETTLE_TOKEN", raising=False)
    assert main(["settle-batch", str(path), "--scheme", NRCMS]) == 2
    assert "SETTLE_TOKEN" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["settle-batch", str(path)])  # --scheme is required
