"""Visits under concurrency (PostgreSQL, threads released together by a barrier): two uploads of
the same visit at once, and an upload racing its settlement, never leave a settled bill that
differs from its lines (``app.ledger.visit_invariants``, checked with the ledger's invariants)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, insert, select, text, update
from sqlalchemy.orm import Session

from app.db import tables as db
from app.db.visit_tables import NhsaFeeLine, NhsaSettlement, NhsaVisit
from app.ledger import invariants
from app.nhsa import transactions
from app.principal import ADMIN as ADMIN_PRINCIPAL
from tests.support.api import ADMIN, ledger_state
from tests.support.nhsa import (
    ID_NUMBER,
    INSUTYPE,
    PSN_NO,
    HospitalSystem,
    bill_3,
    exact,
    ok,
    settlement_input,
    setup_bill_3,
)
from tests.support.nhsa import dumps as dumps_exact

D = Decimal


def _item(n: int) -> dict[str, Any]:
    item: dict[str, Any] = bill_3()["items"][n - 1]
    return item


def line(mdtrt_id: str, sn: str, n: int, cnt: int) -> dict[str, Any]:
    i = _item(n)
    return {
        "feedetl_sn": sn,
        "mdtrt_id": mdtrt_id,
        "psn_no": PSN_NO,
        "med_type": "21",
        "fee_ocur_time": "2026-09-05 11:00:00",
        "med_list_codg": i["code"],
        "medins_list_codg": "HIS",
        "det_item_fee_sumamt": D(i["unit_price"]) * cnt,
        "cnt": D(cnt),
        "pric": D(i["unit_price"]),
    }


def open_visit(his: HospitalSystem, lines: list[dict[str, Any]] | None = None) -> str:
    body = {
        "mdtrtinfo": {
            "psn_no": PSN_NO,
            "insutype": INSUTYPE,
            "begntime": "2026-09-01 08:00:00",
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": ID_NUMBER,
            "med_type": "21",
            "ipt_no": "ZY-RACE",
        }
    }
    mdtrt_id: str = ok(his.send("2401", body))["result"]["mdtrt_id"]
    if lines is not None:
        ok(his.send("2301", {"feedetail": [{**x, "mdtrt_id": mdtrt_id} for x in lines]}))
    return mdtrt_id


def discharge(his: HospitalSystem, mdtrt_id: str) -> None:
    info = {"mdtrt_id": mdtrt_id, "psn_no": PSN_NO, "insutype": INSUTYPE, "endtime": "2026-09-20 10:00:00"}
    ok(his.send("2402", {"dscginfo": info}))


def call(his: HospitalSystem, infno: str, body: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """The message, answered in the calling thread straight through the interface's code (the
    admin acting for the hospital), its numbers read exactly as a hospital system reads them."""
    doc = exact(dumps_exact(his.envelope(infno, body)).decode())

    def run() -> dict[str, Any]:
        answer = transactions.answer(ADMIN_PRINCIPAL, doc, received=datetime.now(UTC))
        return exact(dumps_exact(answer.body).decode())

    return run


def race(*calls: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    barrier = threading.Barrier(len(calls))
    results: list[dict[str, Any]] = [{} for _ in calls]

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def problems(results: list[dict[str, Any]]) -> list[str]:
    return sorted("ok" if r["infcode"] == 0 else r["err_msg"].split("]")[0] + "]" for r in results)


@pytest.mark.parametrize("round_", range(4))
def test_two_uploads_of_one_visit_at_once(pg_url: str, round_: int) -> None:
    from app.main import app

    with TestClient(app) as client:
        his = setup_bill_3(client)
        mdtrt_id = open_visit(his)
        # Two uploads naming one feedetl_sn with other content: one is carried out, the other is a
        # conflict; two uploads of different lines both are.
        first = [{**line(mdtrt_id, "1", 1, 10)}, {**line(mdtrt_id, "2", 3, 2)}]
        second = [{**line(mdtrt_id, "2", 3, 3)}, {**line(mdtrt_id, "3", 4, 40)}]
        assert problems(race(call(his, "2301", {"feedetail": first}), call(his, "2301", {"feedetail": second}))) == [
            "[conflict]",
            "ok",
        ]
        third = [{**line(mdtrt_id, "4", 5, 20)}]
        fourth = [{**line(mdtrt_id, "5", 2, 100)}, {**line(mdtrt_id, "6", 6, 1)}]
        assert problems(race(call(his, "2301", {"feedetail": third}), call(his, "2301", {"feedetail": fourth}))) == [
            "ok",
            "ok",
        ]
        discharge(his, mdtrt_id)
        assert client.get("/v1/bills", headers=ADMIN).json()["items"] == []  # nothing billed yet
        # The hospital's total is what it uploaded; whichever of the first two won, the settlement
        # that matches it is carried out, the other refused, and the bill is the lines.
        totals = []
        for winner in (first, second):
            others = [x for u in (winner, third, fourth) for x in u]
            totals.append(sum((x["det_item_fee_sumamt"] for x in others), D("0.00")))
        answers = [call(his, "2304", settlement_input(mdtrt_id, t))() for t in totals]
        assert sorted(a["infcode"] for a in answers) == [-1, 0]
        assert ledger_state(pg_url)["active"] >= 1


@pytest.mark.parametrize("round_", range(4))
def test_an_upload_racing_its_settlement(pg_url: str, round_: int) -> None:
    from app.main import app

    with TestClient(app) as client:
        his = setup_bill_3(client)
        lines = [line("", str(n), n, int(D(_item(n)["quantity"]))) for n in range(1, 7)]
        mdtrt_id = open_visit(his, lines)
        discharge(his, mdtrt_id)
        total = sum((x["det_item_fee_sumamt"] for x in lines), D("0.00"))
        more = [line(mdtrt_id, "7", 3, 1)]
        refund = [{**line(mdtrt_id, "8", 2, -50), "init_feedetl_sn": "2"}]
        settle = call(his, "2304", settlement_input(mdtrt_id, total))
        results = race(settle, call(his, "2301", {"feedetail": more if round_ % 2 else refund}))
        # The settlement first: the upload is refused; the upload first: the settlement's total no
        # longer matches the lines, and it is refused.  Never both.
        assert problems(results) in (["[conflict]", "ok"], ["[validation]", "ok"])
        settled = results[0]["infcode"] == 0
        assert ledger_state(pg_url)["active"] == (3 if settled else 0)
        if settled:
            # Cancelled, the visit takes the upload.
            setl_id = results[0]["output"]["setlinfo"]["setl_id"]
            cancel = {"data": {"mdtrt_id": mdtrt_id, "psn_no": PSN_NO, "setl_id": setl_id}}
            assert call(his, "2305", cancel)()["infcode"] == 0
            assert call(his, "2301", {"feedetail": more if round_ % 2 else refund})()["infcode"] == 0
        # Settled at the new total, on a bill of its own.
        change = more[0]["det_item_fee_sumamt"] if round_ % 2 else refund[0]["det_item_fee_sumamt"]
        again = call(his, "2304", settlement_input(mdtrt_id, total + change))()
        assert again["infcode"] == 0, again
        assert ledger_state(pg_url)["active"] == 3


def _wait_for_lock_waiters(engine: Engine, count: int) -> None:
    """Until ``count`` statements of this database wait for a lock (10 s at most)."""
    waiting = text(
        "SELECT count(*) FROM pg_locks JOIN pg_stat_activity USING (pid)"
        " WHERE NOT granted AND datname = current_database()"
    )
    deadline = time.monotonic() + 10
    with engine.connect() as conn:
        while conn.execute(waiting).scalar_one() < count:
            assert time.monotonic() < deadline, f"{count} statements never waited for a lock"
            time.sleep(0.01)
            conn.rollback()


def queued(pg_url: str, mdtrt_id: str, *calls: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls' answers, each started once the ones before it wait for the visit's lock, which
    is held until all of them wait: each statement begins before the ones ahead of it commit."""
    engine = create_engine(pg_url)
    visit = db.core_table(NhsaVisit)
    results: list[dict[str, Any]] = [{} for _ in calls]
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, calls[i]())) for i in range(len(calls))]
    with engine.connect() as holder:
        holder.execute(select(visit.c.id).where(visit.c.id == mdtrt_id).with_for_update())
        for n, thread in enumerate(threads, 1):
            thread.start()
            _wait_for_lock_waiters(engine, n)
        holder.commit()
    for thread in threads:
        thread.join()
    engine.dispose()
    return results


@pytest.mark.parametrize("infno", ["2402", "2304"])
def test_a_resend_queued_behind_the_first_copy_replays_its_answer(pg_url: str, infno: str) -> None:
    """Two copies of one message (one msgid) queued on the visit's lock, the second behind the
    first: the second's statement began before the first committed, so what it read with the lock
    is older than the visit it locked.  It replays the first's answer, not refusing the visit as
    discharged (2402) or settled (2304) already, which a read of the msgid's record as of its
    statement would do.  2402 locks the visit's row alone, 2304 with its route, hospital and member."""
    from app.main import app

    with TestClient(app) as client:
        his = setup_bill_3(client)
        lines = [line("", str(n), n, int(D(_item(n)["quantity"]))) for n in range(1, 4)]
        mdtrt_id = open_visit(his, lines)
        if infno == "2402":
            info = {"mdtrt_id": mdtrt_id, "psn_no": PSN_NO, "insutype": INSUTYPE, "endtime": "2026-09-20 10:00:00"}
            body: dict[str, Any] = {"dscginfo": info}
        else:
            discharge(his, mdtrt_id)
            body = settlement_input(mdtrt_id, sum((x["det_item_fee_sumamt"] for x in lines), D("0.00")))
        copy = call(his, infno, body)  # one envelope: each call sends it again
        results = queued(pg_url, mdtrt_id, copy, copy)
        assert results[0]["infcode"] == 0, results[0]
        assert results[1] == results[0]
        if infno == "2304":
            assert ledger_state(pg_url)["active"] == 3  # settled once, by the route's three schemes


def test_an_upload_queued_behind_a_visits_first_upload_sees_its_lines(pg_url: str) -> None:
    """A visit's first upload reads no lines when the lock says it has none; an upload that waited
    for the lock behind that first upload began before it committed, so it reads the lines: its
    refund of the first upload's line is taken, not refused as the refund of a line not there."""
    from app.main import app

    with TestClient(app) as client:
        his = setup_bill_3(client)
        mdtrt_id = open_visit(his)
        first = call(his, "2301", {"feedetail": [line(mdtrt_id, "1", 1, 3)]})
        refund = {**line(mdtrt_id, "2", 1, -1), "init_feedetl_sn": "1"}
        second = call(his, "2301", {"feedetail": [refund]})
        results = queued(pg_url, mdtrt_id, first, second)
    assert [r["infcode"] for r in results] == [0, 0], results
    with create_engine(pg_url).connect() as conn:
        fee_line = db.core_table(NhsaFeeLine)
        sent = conn.execute(select(fee_line.c.feedetl_sn).where(fee_line.c.visit_id == mdtrt_id)).scalars()
        assert sorted(sent) == ["1", "2"]


def test_a_bill_that_differs_from_its_lines_is_reported(db_url: str) -> None:
    """The visits' invariants are not vacuous: a line slipped in behind a settled visit's back, or
    a cancelled visit settlement with an active settlement, is a violation."""
    from app.main import app

    with TestClient(app) as client:
        his = setup_bill_3(client)
        lines = [line("", "1", 3, 6)]
        mdtrt_id = open_visit(his, lines)
        discharge(his, mdtrt_id)
        info = ok(his.send("2304", settlement_input(mdtrt_id, D("1800.00"))))["setlinfo"]
    engine = create_engine(db_url)
    with Session(engine) as s, s.begin():
        assert invariants.check(s).violations == []
        row = {**line(mdtrt_id, "9", 4, 1), "feedetl_sn": "9"}
        s.execute(
            insert(db.core_table(NhsaFeeLine)),
            {
                "visit_id": mdtrt_id,
                "feedetl_sn": "9",
                "init_feedetl_sn": None,
                "med_list_codg": row["med_list_codg"],
                "medins_list_codg": "HIS",
                "fee_ocur_time": row["fee_ocur_time"],
                "service_date": datetime(2026, 9, 5, tzinfo=UTC).date(),
                "cnt": row["cnt"],
                "pric": row["pric"],
                "det_item_fee_sumamt": row["det_item_fee_sumamt"],
                "content_hash": "x",
                "upload_client": "x",
                "upload_msgid": "x",
                "created_at": datetime.now(UTC),
            },
        )
        found = invariants.check(s).violations
        assert len(found) == 1 and "differs from the visit's lines" in found[0], found
        s.rollback()
    with Session(engine) as s, s.begin():
        s.execute(update(db.core_table(NhsaSettlement)).values(status="cancelled"))
        found = invariants.check(s).violations
        assert any(f"visit settlement {info['setl_id']} is cancelled but 3 settlements stay active" in v for v in found)
        s.rollback()
    engine.dispose()
