"""Returned vouchers in a batch, over HTTP: a file of 20 bills, two refused at the preview, one
settled by another office between the preview and the confirmation (refused when settled, the
others go on), one not chosen; a double-clicked confirmation pays each row once; a run that
stopped half-way is continued without paying a row twice; the result as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlmodel import col
from starlette.requests import Request

from app import clock
from app.db import tables as db
from app.db.batch_tables import DeskBatch, DeskBatchRow
from app.db.tx import read_session, write_transaction
from app.desk import batch_rows
from app.principal import Principal
from tests.desk.helpers import CLERK, HOSPITAL_CLERK, NRCMS, UEBMI_CLERK, csrf_of, seed, sign_in
from tests.support.api import ADMIN, bill_1

HOSPITAL = "H511623001"


@pytest.fixture
def desk(db_url: str) -> Iterator[tuple[TestClient, list[dict[str, Any]]]]:
    from app.main import app

    with TestClient(app, base_url="http://testserver") as client:
        seed(client)
        bills = []
        for n in range(1, 19):
            r = client.post("/v1/bills", json={**bill_1(), "bill_no": f"ZY-B-{n:02d}"}, headers=ADMIN)
            assert r.status_code == 201, r.text
            bills.append(r.json())
        yield client, bills


def settlements(scheme: str = NRCMS) -> int:
    with read_session() as s:
        stmt = select(func.count()).select_from(db.Settlement).where(col(db.Settlement.scheme_code) == scheme)
        return int(s.scalar(stmt) or 0)


def the_file() -> bytes:
    lines = ["hospital_code,bill_no,vouchers"]
    for n in range(1, 19):
        code = HOSPITAL.lower() if n == 3 else HOSPITAL  # any case
        vouchers = f"中国人寿|CL-B-{n:02d}|{100 * n}.00" if n % 2 else ""
        lines.append(f"{code},ZY-B-{n:02d},{vouchers}")
    lines.insert(10, f"{HOSPITAL},NO-SUCH-BILL,")  # line 11: not found
    lines.append(f"{HOSPITAL},ZY-B-01-X,PICC|P-1|1e3")  # line 21: an amount the API refuses
    return ("\n".join(lines) + "\n").encode("utf-8")


def upload(client: TestClient, data: bytes, name: str = "returned.csv") -> Any:
    page = client.get("/desk/batches")
    return client.post(
        "/desk/batches",
        data={"csrf_token": csrf_of(page.text)},
        files={"file": (name, data, "text/csv")},
        follow_redirects=False,
    )


def batch_rows_of(batch_id: str) -> dict[str, DeskBatchRow]:
    with read_session() as s:
        rows = s.scalars(select(DeskBatchRow).where(col(DeskBatchRow.batch_id) == batch_id)).all()
        return {r.bill_no: r for r in rows}


def test_a_batch_of_twenty_bills(desk) -> None:
    client, bills = desk
    sign_in(client, CLERK)
    r = upload(client, the_file())
    assert r.status_code == 303, r.text
    batch_url = r.headers["location"]
    batch_id = batch_url.rsplit("/", 1)[1]
    page = client.get(batch_url).text
    rows = batch_rows_of(batch_id)
    assert len(rows) == 20
    # Every row previewed: its fund payment is the API's dry run of the same request.
    for n in (1, 2, 3):
        body: dict[str, Any] = {"scheme_code": NRCMS, "dry_run": True, "external_payments": []}
        if n % 2:
            body["external_payments"] = [
                {"payer": "中国人寿", "voucher_no": f"CL-B-{n:02d}", "amount": f"{100 * n}.00"}
            ]
        dry = client.post(f"/v1/bills/{bills[n - 1]['bill_id']}/settlements", json=body, headers=ADMIN).json()
        row = rows[f"ZY-B-{n:02d}"]
        assert row.state == "ready" and row.fund_payment == Decimal(dry["fund_payment"])
        assert f'data-field="row_{row.row_no}" data-value="{dry["fund_payment"]}"' in page
    assert rows["ZY-B-03"].hospital_code == HOSPITAL
    # Two cannot be settled, and say why.
    assert rows["NO-SUCH-BILL"].state == "refused" and "NO-SUCH-BILL" in (rows["NO-SUCH-BILL"].detail or "")
    assert rows["ZY-B-01-X"].state == "refused" and "例如 1,200.50" in (rows["ZY-B-01-X"].detail or "")
    assert page.count('type="checkbox" name="row"') == 18
    assert settlements() == 0

    # Another office settles bill 5 meanwhile.
    other = client.post(f"/v1/bills/{bills[4]['bill_id']}/settlements", json={"scheme_code": NRCMS}, headers=ADMIN)
    assert other.status_code == 201
    chosen = [str(r.row_no) for r in rows.values() if r.state == "ready" and r.bill_no != "ZY-B-18"]
    form = {"csrf_token": csrf_of(page), "row": chosen}
    # A double click: the second confirmation finds the batch confirmed and pays nothing more.
    for _ in range(2):
        r = client.post(f"{batch_url}/confirm", data=form, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == batch_url
    rows = batch_rows_of(batch_id)
    states = {bill_no: row.state for bill_no, row in rows.items()}
    assert sorted(states.values()).count("settled") == 16
    assert states["ZY-B-05"] == "failed" and "已结算本单" in (rows["ZY-B-05"].detail or "")
    assert states["ZY-B-18"] == "skipped"
    assert settlements() == 16 + 1
    for row in rows.values():
        if row.state == "settled":
            paid = client.get(f"/v1/settlements/{row.settlement_id}", headers=ADMIN).json()
            assert Decimal(paid["fund_payment"]) == row.fund_payment
    page = client.get(batch_url).text
    assert 'http-equiv="refresh"' not in page and 'id="result"' in page
    assert "已处理 17 行中的 17 行：16 行已结算，1 行被拒绝，0 行等待中。" in page

    # The result, as CSV: one line per row of the file.
    result = client.get(f"{batch_url}/result.csv")
    assert result.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(result.content.decode("utf-8-sig"))))
    assert len(lines) == 20
    by_bill = {line["bill_no"]: line for line in lines}
    assert by_bill["ZY-B-02"]["state"].startswith("settled") and by_bill["ZY-B-02"]["settlement_id"]
    assert Decimal(by_bill["ZY-B-02"]["fund_payment"]) == rows["ZY-B-02"].fund_payment
    assert by_bill["ZY-B-05"]["state"].startswith("failed") and by_bill["ZY-B-05"]["fund_payment"] == ""
    assert by_bill["NO-SUCH-BILL"]["state"].startswith("refused")

    # Each row's settlement has its audit record, naming the clerk and the settlement.
    audit = client.get("/v1/audit", params={"operation": "deskBatchRow", "limit": 100}, headers=ADMIN).json()["items"]
    assert {a["object_id"] for a in audit} == {r.settlement_id for r in rows.values() if r.state == "settled"}
    assert {a["client_id"] for a in audit} == {f"user:{CLERK}"}


def test_a_stopped_run_is_continued_without_paying_twice(desk, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _bills = desk
    sign_in(client, CLERK)
    data = "hospital_code,bill_no,vouchers\n" + "".join(f"{HOSPITAL},ZY-B-{n:02d},\n" for n in (1, 2, 3))
    batch_url = upload(client, data.encode()).headers["location"]
    batch_id = batch_url.rsplit("/", 1)[1]
    page = client.get(batch_url).text
    form = {"csrf_token": csrf_of(page), "row": ["2", "3", "4"]}
    real_run = batch_rows.run
    # The confirmation queues the rows; its runner settles one row, then its process ends.
    monkeypatch.setattr(batch_rows, "run", lambda *args: None)
    assert client.post(f"{batch_url}/confirm", data=form, follow_redirects=False).status_code == 303

    class Killed(BaseException):
        pass

    real_settle = batch_rows._settle_row
    done: list[int] = []

    def settle_one_then_die(*args: Any) -> None:
        if done:
            raise Killed()
        real_settle(*args)
        done.append(1)

    monkeypatch.setattr(batch_rows, "_settle_row", settle_one_then_die)
    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"", "headers": [], "state": {}}
    clerk = Principal(client_id=f"user:{CLERK}", role="scheme_office", hospital_code=None, scheme_code=NRCMS)
    with pytest.raises(Killed):
        real_run(Request(scope), clerk, batch_id)
    assert settlements() == 1
    # As if the first row's state had not been written either, and the runner long silent.
    long_ago = clock.now() - timedelta(hours=1)

    def stop(work: Any) -> None:
        work.session.execute(update(DeskBatchRow).where(col(DeskBatchRow.batch_id) == batch_id).values(state="queued"))
        work.session.execute(update(DeskBatch).where(col(DeskBatch.id) == batch_id).values(heartbeat_at=long_ago))

    write_transaction(stop, operation="test")
    page = client.get(batch_url).text
    assert 'id="continue"' in page and 'http-equiv="refresh"' not in page
    monkeypatch.setattr(batch_rows, "run", real_run)
    monkeypatch.setattr(batch_rows, "_settle_row", real_settle)
    r = client.post(f"{batch_url}/confirm", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303
    rows = batch_rows_of(batch_id)
    assert {row.state for row in rows.values()} == {"settled"}
    assert settlements() == 3  # the first row's key answered with its settlement: not paid again
    assert len({row.settlement_id for row in rows.values()}) == 3


def test_a_batch_is_its_clerks_alone(desk) -> None:
    client, _bills = desk
    sign_in(client, CLERK)
    batch_url = upload(client, the_file()).headers["location"]
    client.cookies.clear()
    sign_in(client, UEBMI_CLERK)
    assert client.get(batch_url).status_code == 404
    assert client.get(f"{batch_url}/result.csv").status_code == 404
    home = client.get("/desk/")
    r = client.post(f"{batch_url}/confirm", data={"csrf_token": csrf_of(home.text), "row": ["2"]})
    assert r.status_code == 404 and settlements() == 0
    client.cookies.clear()
    sign_in(client, HOSPITAL_CLERK)
    assert client.get("/desk/batches").status_code == 403


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"bill_no,vouchers\nX,\n", "第一行须为列名"),
        (b"hospital_code,bill_no,vouchers\n", "文件中没有费用单"),
        (b"\xff\xfe\x00\x00garbage", "编码"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(desk, data: bytes, said: str) -> None:
    client, _bills = desk
    sign_in(client, CLERK)
    r = upload(client, data)
    assert r.status_code == 422 and said in r.text and 'id="problem"' in r.text
    with read_session() as s:
        assert s.scalar(select(func.count()).select_from(DeskBatch)) == 0


def test_a_spreadsheets_file_in_gb18030_with_chinese_headers(desk) -> None:
    client, _bills = desk
    sign_in(client, CLERK)
    data = "医院编码,费用单号,凭证\nH511623001,ZY-B-01,中国人寿|CL-1|100.00\n".encode("gb18030")
    r = upload(client, data)
    assert r.status_code == 303
    rows = batch_rows_of(r.headers["location"].rsplit("/", 1)[1])
    assert rows["ZY-B-01"].state == "ready" and rows["ZY-B-01"].vouchers == "中国人寿|CL-1|100.00"
