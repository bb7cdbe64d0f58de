"""What a visit costs the database on PostgreSQL: each message is one transaction, and each reads
and writes in as few statements as its locks allow (the visit's row with its route, hospital and
member; its last changes with the idempotency and audit records)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_nhsa import admission, line_of, settlement_input
from tests.support.nhsa import HospitalSystem, bill_3, ok, setup_bill_3
from tests.support.statements import transactions


@pytest.fixture
def his(pg_url: str) -> Iterator[HospitalSystem]:
    from app.main import app

    with TestClient(app) as client:
        yield setup_bill_3(client)


def message(his: HospitalSystem, infno: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The message's answer and the statements of the transaction that carried it out (the one that
    stored its answer; a token looked up on the way is a transaction of its own)."""
    with transactions() as seen:
        answer = ok(his.send(infno, body))
    mine = [t for t in seen if any("INSERT INTO idempotency_record" in s for s in t)]
    assert len(mine) == 1, seen
    assert [t for t in seen if t is not mine[0] and not any("FROM client" in s for s in t)] == [], seen
    return answer, mine[0]


def visit(his: HospitalSystem) -> dict[str, int]:
    """Bill 3 as a visit (its lines in one 2301): each message's number of statements."""
    bill = bill_3()
    counts = {}
    admitted, counts["2401"] = message(his, "2401", admission())
    mdtrt_id = admitted["result"]["mdtrt_id"]
    lines = [{**line_of(str(n), item, "2026-09-02"), "mdtrt_id": mdtrt_id} for n, item in enumerate(bill["items"], 1)]
    _, counts["2301"] = message(his, "2301", {"feedetail": lines})
    discharge = {
        "dscginfo": {
            "mdtrt_id": mdtrt_id,
            "psn_no": lines[0]["psn_no"],
            "insutype": admission()["mdtrtinfo"]["insutype"],
            "endtime": f"{bill['discharge_date']} 16:00:00",
            "dscg_way": "1",
        },
        "diseinfo": [{"diag_code": d, "diag_name": "Malignant neoplasm"} for d in bill["diagnoses"]],
    }
    _, counts["2402"] = message(his, "2402", discharge)
    total = sum((Decimal(i["amount"]) for i in bill["items"]), Decimal(0))
    settled, counts["2304"] = message(his, "2304", settlement_input(mdtrt_id, total))
    assert len(settled["setldetail"]) == 3  # the route's three schemes paid
    ok(
        his.send(
            "2305",
            {"data": {"mdtrt_id": mdtrt_id, "psn_no": lines[0]["psn_no"], "setl_id": settled["setlinfo"]["setl_id"]}},
        )
    )
    return {k: len(v) for k, v in counts.items()}


def test_a_visit_is_four_transactions_of_few_statements(his: HospitalSystem) -> None:
    for _ in range(2):  # the first use marks the reference rows used; the second caches them anew
        visit(his)
    # 2401: the msgid's record, the route (with its schemes), member and hospital in one read; the
    # visit inserted with the answer and the audit record.
    # 2301: the visit locked with its route, hospital, member, the msgid's record and whether it has
    # lines (it has none: they are not read); the basic scheme's reference rows; the lines
    # inserted; the visit's change with the records.
    # 2402: the lock with the msgid's record; the discharge with the records.
    # 2304: the lock (as 2301); the lines; the three schemes' reference rows; the bill
    # (checked, then inserted); three accumulators; three settlements; the visit's settlement and
    # change with the records.
    assert visit(his) == {"2401": 2, "2301": 4, "2402": 2, "2304": 12}
