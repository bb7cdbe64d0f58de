"""Every refusal of the national platform's interface (``nhsa.md``): answered ``infcode`` -1 with
``[problem-name] detail`` (HTTP 200), having changed nothing; an unparseable body is 400."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app.db.visit_tables import NhsaFeeLine, NhsaVisit
from tests.support.api import ADMIN, new_client, problem
from tests.support.nhsa import (
    ID_NUMBER,
    INSUPLC,
    INSUTYPE,
    PSN_NO,
    URL,
    HospitalSystem,
    bill_3,
    ok,
    refused,
    settlement_input,
    setup_bill_3,
)

D = Decimal
OTHER_ID = "11010519491231002X"  # a valid resident ID that is not Wang Jun's


def admission(**info: Any) -> dict[str, Any]:
    return {
        "mdtrtinfo": {
            "psn_no": PSN_NO,
            "insutype": INSUTYPE,
            "begntime": "2026-09-01 08:30:00",
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": ID_NUMBER,
            "med_type": "21",
            "ipt_no": "ZY1",
            **info,
        },
        "diseinfo": [{"diag_code": "C34.1", "diag_name": "Malignant neoplasm"}],
    }


def line(mdtrt_id: str, sn: str, item: int = 3, **more: Any) -> dict[str, Any]:
    """A line of bill 3's item ``item`` (1-based), whole unless ``more`` says otherwise."""
    i = bill_3()["items"][item - 1]
    return {
        "feedetl_sn": sn,
        "mdtrt_id": mdtrt_id,
        "psn_no": PSN_NO,
        "med_type": "21",
        "fee_ocur_time": "2026-09-03 09:00:00",
        "med_list_codg": i["code"],
        "medins_list_codg": "HIS-1",
        "det_item_fee_sumamt": D(i["amount"]),
        "cnt": D(i["quantity"]),
        "pric": D(i["unit_price"]),
        **more,
    }


def visit(his: HospitalSystem, *, discharged: bool = True) -> str:
    """An admitted visit with bill 3's CT line (6 x 300.00), discharged unless told otherwise."""
    mdtrt_id: str = ok(his.send("2401", admission()))["result"]["mdtrt_id"]
    ok(his.send("2301", {"feedetail": [line(mdtrt_id, "1")]}))
    if discharged:
        ok(his.send("2402", discharge(mdtrt_id)))
    return mdtrt_id


def discharge(mdtrt_id: str) -> dict[str, Any]:
    return {
        "dscginfo": {"mdtrt_id": mdtrt_id, "psn_no": PSN_NO, "insutype": INSUTYPE, "endtime": "2026-09-10 16:00:00"}
    }


CT_TOTAL = D("1800.00")


def settlement(mdtrt_id: str, total: Decimal = CT_TOTAL, **more: Any) -> dict[str, Any]:
    return settlement_input(mdtrt_id, total, **more)


def counts(db_url: str) -> tuple[int, int]:
    engine = create_engine(db_url)
    with Session(engine) as s:
        found = (
            s.scalar(select(func.count()).select_from(NhsaVisit)) or 0,
            s.scalar(select(func.count()).select_from(NhsaFeeLine)) or 0,
        )
    engine.dispose()
    return found


@pytest.fixture
def his(client: TestClient) -> HospitalSystem:
    return setup_bill_3(client)


def test_admission_refusals(his: HospitalSystem, db_url: str) -> None:
    his.insuplc_admdvs = "511600"  # no route of insurance type 390 insured there
    refused(his.send("2401", admission()), "unknown-route")
    his.insuplc_admdvs = INSUPLC
    refused(his.send("2401", admission(psn_no="NC-NOBODY")), "not-enrolled")
    message = refused(his.send("2401", admission(mdtrt_cert_no=OTHER_ID)), "validation")
    assert "input.mdtrtinfo.mdtrt_cert_no" in message and "110105********002X" in message and OTHER_ID not in message
    message = refused(his.send("2401", admission(psn_no=None)), "validation")
    assert "input.mdtrtinfo.psn_no" in message
    message = refused(his.send("2401", admission(insutype=390)), "validation")  # codes are strings
    assert "input.mdtrtinfo.insutype" in message
    assert counts(db_url) == (0, 0)
    # Another card than the ID card is not compared with the ID number.
    ok(his.send("2401", admission(mdtrt_cert_type="03", mdtrt_cert_no="SSC-0001")))
    envelope = his.envelope("2401", admission())
    del envelope["insuplc_admdvs"]
    message = refused(his.post(envelope), "validation")
    assert message.startswith("[validation] insuplc_admdvs")
    refused(his.send("9999", {}), "validation")


def test_line_refusals(his: HospitalSystem, db_url: str) -> None:
    mdtrt_id = visit(his, discharged=False)
    ct = bill_3()["items"][2]
    # A refund beyond its line (7 of the 6 CT scans) refuses the whole upload, the good line too.
    beyond = line(mdtrt_id, "2", init_feedetl_sn="1", cnt=D(-7), det_item_fee_sumamt=D("-2100.00"))
    message = refused(his.send("2301", {"feedetail": [line(mdtrt_id, "3", item=4), beyond]}), "validation")
    assert "input.feedetail.1.cnt" in message and "beyond" in message
    refused(his.send("2301", {"feedetail": [line(mdtrt_id, "2", init_feedetl_sn="9", cnt=D(-1))]}), "validation")
    assert counts(db_url) == (1, 1)
    # A unit price with six decimals is refused; 12.500000 is 12.50.
    bad = line(mdtrt_id, "3", pric=D("0.333333"), cnt=D(3), det_item_fee_sumamt=D("1.00"))
    message = refused(his.send("2301", {"feedetail": [bad]}), "validation")
    assert "input.feedetail.0.pric" in message
    fine = line(mdtrt_id, "3", item=4, pric=D("12.500000"), det_item_fee_sumamt=D("500.000"))
    answered = ok(his.send("2301", {"feedetail": [fine]}))["result"][0]
    assert answered["pric"] == D("12.50") and str(answered["pric"]) == "12.50"
    assert str(answered["det_item_fee_sumamt"]) == "500.00"
    # The same line again changes nothing; with other content it is a conflict.
    ok(his.send("2301", {"feedetail": [line(mdtrt_id, "1")]}))
    refused(his.send("2301", {"feedetail": [line(mdtrt_id, "1", fee_ocur_time="2026-09-04 09:00:00")]}), "conflict")
    assert counts(db_url) == (1, 2)
    # Amount not cnt x pric, and a line of another person.
    message = refused(
        his.send("2301", {"feedetail": [line(mdtrt_id, "4", det_item_fee_sumamt=D(ct["amount"]) + 1)]}), "validation"
    )
    assert "det_item_fee_sumamt" in message
    refused(his.send("2301", {"feedetail": [line(mdtrt_id, "4", psn_no="NC5116230002")]}), "validation")
    # Before the discharge there is no settlement; a visit with lines is not cancelled.
    refused(his.send("2303", settlement(mdtrt_id, D("2300.00"))), "conflict")
    refused(his.send("2404", {"data": {"mdtrt_id": mdtrt_id, "psn_no": PSN_NO}}), "conflict")
    refused(his.send("2302", {"data": {"mdtrt_id": mdtrt_id, "psn_no": PSN_NO, "feedetl_sn": "77"}}), "validation")
    refused(his.send("2302", {"data": {"mdtrt_id": "no-such-visit", "psn_no": PSN_NO, "feedetl_sn": "1"}}), "not-found")
    assert counts(db_url) == (1, 2)


def test_settlement_refusals(his: HospitalSystem, client: TestClient, db_url: str) -> None:
    mdtrt_id = visit(his)
    # medfee_sumamt one fen off: the two systems disagree on the bill.
    message = refused(his.send("2304", settlement(mdtrt_id, D("1799.99"))), "validation")
    assert "input.data.medfee_sumamt" in message and "1800.00" in message
    message = refused(his.send("2304", settlement(mdtrt_id, mdtrt_cert_no=OTHER_ID)), "validation")
    assert OTHER_ID not in message
    refused(his.send("2304", settlement(mdtrt_id, insutype="310")), "validation")
    assert client.get("/v1/bills", params={"bill_no": mdtrt_id}, headers=ADMIN).json()["items"] == []
    settled = his.send("2304", settlement(mdtrt_id, acct_used_flag="1"))
    info = ok(settled)["setlinfo"]
    assert "personal account" in settled["warn_msg"] and info["acct_pay"] == 0
    # Nothing changes a settled visit's lines or discharge.
    refused(his.send("2301", {"feedetail": [line(mdtrt_id, "2", item=4)]}), "conflict")
    refused(his.send("2302", {"data": {"mdtrt_id": mdtrt_id, "psn_no": PSN_NO, "feedetl_sn": "0000"}}), "conflict")
    refused(his.send("2405", {"data": {"mdtrt_id": mdtrt_id, "psn_no": PSN_NO}}), "conflict")
    refused(his.send("2304", settlement(mdtrt_id)), "conflict")
    first = his.last_msgid
    refused(his.send("2601", {"data": {"psn_no": PSN_NO, "omsgid": first, "oinfno": "2302"}}), "validation")
    cancel = {"data": {"mdtrt_id": mdtrt_id, "psn_no": PSN_NO, "setl_id": "not-a-settlement"}}
    refused(his.send("2305", cancel), "not-found")
    # The visit is another hospital's to another hospital's client.
    other = HospitalSystem(
        his.client, new_client(his.client, {"name": "x", "role": "hospital", "hospital_code": "H511623001"})
    )
    other.fixmedins_code = "H511623001"
    refused(other.send("2305", {"data": {**cancel["data"], "setl_id": info["setl_id"]}}), "not-found")
    # A 2601 of an upload on a settled visit is a conflict.
    uploaded = next(s for s in his.sent if s.infno == "2301").envelope["msgid"]
    refused(his.send("2601", {"data": {"psn_no": PSN_NO, "omsgid": uploaded, "oinfno": "2301"}}), "conflict")


def test_message_refusals(his: HospitalSystem, client: TestClient) -> None:
    # The same msgid with other input: refused; a refused message may be corrected and sent again.
    first = his.envelope("2401", admission(psn_no="NC-NOBODY"))
    refused(his.post(first), "not-enrolled")
    corrected = {**first, "input": admission()}
    mdtrt_id = ok(his.post(corrected))["result"]["mdtrt_id"]
    assert ok(his.post(corrected))["result"]["mdtrt_id"] == mdtrt_id
    message = refused(his.post({**corrected, "input": admission(ipt_no="ZY2")}), "idempotency-mismatch")
    assert "msgid" in message
    cancel = {"data": {"mdtrt_id": mdtrt_id, "psn_no": PSN_NO}}
    refused(his.post({**corrected, "infno": "2404", "input": cancel}), "idempotency-mismatch")
    # Another hospital's fixmedins_code.
    his.fixmedins_code = "H511623001"
    message = refused(his.send("2401", admission()), "forbidden")
    assert "H511623001" in message
    # Unparseable, not an envelope, no token.
    r = client.post(URL, content=b'{"infno": "2401",', headers={**his.headers, "Content-Type": "application/json"})
    problem(r, 400, "malformed")
    problem(client.post(URL, json=[1, 2], headers=his.headers), 400, "malformed")
    problem(client.post(URL, content=b'{"a": NaN}', headers=his.headers), 400, "malformed")
    problem(client.post(URL, json=corrected), 401, "unauthorized")
    # Refusals are audited as their transaction, with the status of their REST counterpart.
    audit = client.get("/v1/audit", params={"operation": "nhsa:2401"}, headers=ADMIN).json()["items"]
    outcomes = sorted((a["outcome"], a["status_code"]) for a in audit)
    assert outcomes == sorted([("refused", 422), ("ok", 200), ("ok", 200), ("refused", 422), ("refused", 403)])
    assert {a["object_id"] for a in audit if a["outcome"] == "ok"} == {mdtrt_id}
