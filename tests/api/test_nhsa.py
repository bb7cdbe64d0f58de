"""The national platform's interface (``nhsa.md``) end to end: a hospital system runs v2's bill 3
as a visit (admission, its lines in two batches with a refund line, discharge, pre-settlement,
settlement), then cancels, corrects a line and settles again, reverses a settlement whose answer
was lost, and reconciles.  The figures are scenario E's, read from ``expected-v2.json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.db.visit_tables import NhsaFeeLine, NhsaSettlement
from tests.support import nhsa
from tests.support.api import ADMIN, ledger_state, v2_dir
from tests.support.nhsa import (
    HOSPITAL,
    ID_NUMBER,
    INSUPLC,
    INSUTYPE,
    PSN_NO,
    HospitalSystem,
    bill_3,
    ok,
    refused,
    scenario_e,
    setup_bill_3,
)

SETLINFO_FIELDS = [
    "setl_id",
    "mdtrt_id",
    "psn_no",
    "psn_name",
    "psn_cert_type",
    "certno",
    "insutype",
    "setl_time",
    "mdtrt_cert_type",
    "med_type",
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "hifp_pay",
    "hifmi_pay",
    "hifob_pay",
    "maf_pay",
    "cvlserv_pay",
    "oth_pay",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
    "balc",
    "medins_setl_id",
    "clr_optins",
]
SETLDETAIL_FIELDS = [
    "fund_pay_type",
    "fund_pay_type_name",
    "inscp_scp_amt",
    "crt_payb_lmt_amt",
    "fund_payamt",
    "setl_proc_info",
]
LINE_FIELDS = [
    "feedetl_sn",
    "det_item_fee_sumamt",
    "cnt",
    "pric",
    "pric_uplmt_amt",
    "selfpay_prop",
    "fulamt_ownpay_amt",
    "overlmt_amt",
    "preselfpay_amt",
    "inscp_scp_amt",
    "chrgitm_lv",
    "med_chrgitm_type",
    "lmt_used_flag",
    "memo",
]
ENVELOPE_FIELDS = ["infcode", "inf_refmsgid", "refmsg_time", "respond_time", "err_msg", "warn_msg", "output"]
D = Decimal


def money(value: str | Decimal) -> Decimal:
    return D(value).quantize(D("0.01"))


def is_time(value: str) -> bool:
    datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    return True


def check_envelope(answer: dict[str, Any]) -> None:
    """Every answer: the envelope's fields, ``infcode`` a JSON number, the times the platform's."""
    assert list(answer) == ENVELOPE_FIELDS
    assert type(answer["infcode"]) is int
    assert 1 <= len(answer["inf_refmsgid"]) <= 30
    assert is_time(answer["refmsg_time"]) and is_time(answer["respond_time"])


def amount_field(value: Any) -> Decimal:
    """An amount: a JSON number (read exactly) with at most two decimals."""
    assert isinstance(value, (int, Decimal)) and not isinstance(value, bool), value
    d = D(value)
    assert d == d.quantize(D("0.01")), value
    return d


def line_of(sn: str, item: dict[str, Any], day: str, *, cnt: Any = None, amount: Any = None) -> dict[str, Any]:
    return {
        "feedetl_sn": sn,
        "mdtrt_id": None,  # filled in by the visit
        "psn_no": PSN_NO,
        "med_type": "21",
        "fee_ocur_time": f"{day} 10:00:00",
        "med_list_codg": item["code"],
        "medins_list_codg": f"HIS-{item['code']}",
        "det_item_fee_sumamt": D(amount if amount is not None else item["amount"]),
        "cnt": D(cnt if cnt is not None else item["quantity"]),
        "pric": D(item["unit_price"]),
        "bilg_dept_codg": "ONC01",
        "bilg_dr_codg": "D0042",
        "hosp_appr_flag": "1",
    }


def admission(body: dict[str, Any] | None = None) -> dict[str, Any]:
    bill = bill_3()
    return {
        "mdtrtinfo": {
            "psn_no": PSN_NO,
            "insutype": INSUTYPE,
            "begntime": f"{bill['admission_date']} 08:30:00",
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": ID_NUMBER,
            "med_type": "21",
            "ipt_no": "ZY2026090118",
            "atddr_no": "D0042",
            "adm_diag_dscr": "lung cancer",
            **(body or {}),
        },
        "diseinfo": [{"diag_code": d, "diag_name": "Malignant neoplasm", "diag_type": "1"} for d in bill["diagnoses"]],
    }


def settlement_input(mdtrt_id: str, total: Decimal, **more: Any) -> dict[str, Any]:
    return nhsa.settlement_input(mdtrt_id, total, medins_setl_id="MS2026092801", **more)


def policies() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((v2_dir() / "policies.json").read_text())
    return data


def annual_cap(code: str) -> Decimal:
    """The scheme's 2026 annual cap from the shared examples (v2's file, else v1's)."""
    for folder in (v2_dir(), v2_dir().parent):
        doc = json.loads((folder / "policies.json").read_text())
        if code in doc:
            found = doc[code]
            for policy in found if isinstance(found, list) else [found]:
                if policy["year"] == 2026:
                    return D(policy["annual_cap"])
    raise AssertionError(code)


def admit_and_upload(his: HospitalSystem) -> tuple[str, dict[str, Any]]:
    """Bill 3 as a visit: admission; lines 1-3 (line 2 with ten units too many), its answer lost
    and the message sent again; lines 4-6 and a refund of the ten units; discharge."""
    bill = bill_3()
    items = bill["items"]
    admitted = his.send("2401", admission())
    check_envelope(admitted)
    result = ok(admitted)["result"]
    mdtrt_id = result["mdtrt_id"]
    assert set(result) == {"mdtrt_id", "psn_no", "ipt_otp_no"}
    assert 1 <= len(mdtrt_id) <= 30 and result["psn_no"] == PSN_NO and result["ipt_otp_no"] == "ZY2026090118"

    def line(sn: str, item: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return {**line_of(sn, item, "2026-09-02", **kw), "mdtrt_id": mdtrt_id}

    first = [line("1", items[0]), line("2", items[1], cnt="610", amount="128100.00"), line("3", items[2])]
    assert his.send("2301", {"feedetail": first}, lose_answer=True) == {}
    answered = ok(his.resend())["result"]
    again = ok(his.resend())["result"]
    assert answered == again  # the first answer, again
    refund = {**line("7", items[1], cnt="-10", amount="-2100.00"), "init_feedetl_sn": "2"}
    second = ok(
        his.send("2301", {"feedetail": [line("4", items[3]), line("5", items[4]), line("6", items[5]), refund]})
    )
    discharge = {
        "dscginfo": {
            "mdtrt_id": mdtrt_id,
            "psn_no": PSN_NO,
            "insutype": INSUTYPE,
            "endtime": f"{bill['discharge_date']} 16:00:00",
            "dscg_way": "1",
        },
        "diseinfo": [{"diag_code": d, "diag_name": "Malignant neoplasm"} for d in bill["diagnoses"]],
    }
    assert ok(his.send("2402", discharge)) == {}
    return mdtrt_id, {"first": answered, "second": second["result"]}


def check_lines(answers: dict[str, Any]) -> None:
    """Each line answered classified under NRCMS-511623 as scenario E's lines are: the line
    uploaded with 610 units in proportion, the refund of ten units negative."""
    want = {line["line_no"]: line for line in scenario_e()["settlements"][0]["lines"]}
    items = {i["line_no"]: i for i in bill_3()["items"]}
    got = {r["feedetl_sn"]: r for r in answers["first"] + answers["second"]}
    assert list(got) == ["1", "2", "3", "4", "5", "6", "7"]
    for sn, r in got.items():
        assert list(r) == LINE_FIELDS
        for name in ("det_item_fee_sumamt", "pric", "pric_uplmt_amt", "fulamt_ownpay_amt", "overlmt_amt"):
            amount_field(r[name])
        no = 2 if sn == "7" else int(sn)
        units = {"2": D(610), "7": D(-10)}.get(sn, D(items[no]["quantity"]))

        def scale(value: str, no: int = no, units: Decimal = units) -> Decimal:
            return money(D(value) * units / D(items[no]["quantity"]))

        expected = want[no]
        assert D(r["cnt"]) == units
        assert D(r["det_item_fee_sumamt"]) == scale(items[no]["amount"])
        assert D(r["pric"]) == D(items[no]["unit_price"])
        for ours, theirs in (
            ("fulamt_ownpay_amt", "excluded"),
            ("overlmt_amt", "over_limit"),
            ("preselfpay_amt", "b_self_pay"),
            ("inscp_scp_amt", "in_scope"),
        ):
            assert D(r[ours]) == scale(expected[theirs]), (sn, ours)
        assert r["memo"] == (expected["reason"] or "")
        assert r["chrgitm_lv"] in ("01", "02", "03") and r["lmt_used_flag"] in ("0", "1")
        if expected["reason"] in ("class_c", "not_in_catalog"):
            assert r["chrgitm_lv"] == "03" and D(r["selfpay_prop"]) == 1
    assert got["6"]["med_chrgitm_type"] == ""  # not in the catalog
    assert got["2"]["chrgitm_lv"] == "02" and D(got["2"]["selfpay_prop"]) == D("0.2")
    assert got["7"]["chrgitm_lv"] == got["2"]["chrgitm_lv"]


def check_settled(output: dict[str, Any], mdtrt_id: str, *, preview: bool = False) -> dict[str, Any]:
    """``setlinfo`` and ``setldetail`` field by field against scenario E."""
    e = scenario_e()["settlements"]
    nrcms, si, ma = e[0], e[1], e[2]
    assert list(output) == ["setlinfo", "setldetail"]
    info = output["setlinfo"]
    assert list(info) == SETLINFO_FIELDS
    total = D(nrcms["medical_total"])
    fund = D(nrcms["fund_payment"]) + D(si["fund_payment"]) + D(ma["fund_payment"])
    assert (info["setl_id"] == "") if preview else (1 <= len(info["setl_id"]) <= 30)
    assert info["mdtrt_id"] == mdtrt_id and info["psn_no"] == PSN_NO and info["psn_name"] == "Wang Jun"
    assert info["psn_cert_type"] == "01" and info["certno"] == ID_NUMBER
    assert info["insutype"] == INSUTYPE and info["mdtrt_cert_type"] == "02" and info["med_type"] == "21"
    assert is_time(info["setl_time"])
    assert info["medins_setl_id"] == "MS2026092801" and info["clr_optins"] == INSUPLC
    figures = {
        "medfee_sumamt": total,
        "fulamt_ownpay_amt": D(nrcms["excluded"]),
        "overlmt_selfpay": D(nrcms["over_limit"]),
        "preselfpay_amt": D(nrcms["b_self_pay"]),
        "inscp_scp_amt": D(nrcms["in_scope"]),
        "act_pay_dedc": D(nrcms["deductible"]),
        "hifp_pay": D(nrcms["fund_payment"]),
        "hifmi_pay": D(si["fund_payment"]),
        "hifob_pay": D(0),
        "maf_pay": D(ma["fund_payment"]),
        "cvlserv_pay": D(0),
        "oth_pay": D(0),
        "fund_pay_sumamt": fund,
        "psn_part_amt": total - fund,
        "acct_pay": D(0),
        "psn_cash_pay": total - fund,
        "balc": D(0),
    }
    for name, value in figures.items():
        assert amount_field(info[name]) == value, name
    detail = output["setldetail"]
    assert [list(row) for row in detail] == [SETLDETAIL_FIELDS] * 3
    expected = [
        ("390100", nrcms, D(nrcms["in_scope"])),
        ("390200", si, D(si["compliant_self_pay"])),
        ("610100", ma, D(ma["compliant_self_pay"])),
    ]
    for row, (code, settlement, scope) in zip(detail, expected, strict=True):
        assert row["fund_pay_type"] == code
        assert row["fund_pay_type_name"].endswith("(sample)")
        assert amount_field(row["fund_payamt"]) == D(settlement["fund_payment"])
        assert amount_field(row["inscp_scp_amt"]) == scope
        cap = annual_cap(settlement["scheme_code"]) - D(settlement["fund_payment"])
        assert amount_field(row["crt_payb_lmt_amt"]) == cap, settlement["scheme_code"]
        assert f"deductible {settlement['deductible']}" in row["setl_proc_info"]
        for band in settlement["bands"]:
            assert f"{band['base']} x {band['ratio']} = {band['amount']}" in row["setl_proc_info"]
    info_out: dict[str, Any] = info
    return info_out


def test_bill_3_as_a_visit(client: TestClient, db_url: str) -> None:
    his = setup_bill_3(client)
    mdtrt_id, lines = admit_and_upload(his)
    check_lines(lines)
    total = D(scenario_e()["settlements"][0]["medical_total"])

    preview = his.send("2303", settlement_input(mdtrt_id, total))
    check_envelope(preview)
    check_settled(ok(preview), mdtrt_id, preview=True)
    assert client.get("/v1/bills", params={"bill_no": mdtrt_id}, headers=ADMIN).json()["items"] == []

    assert his.send("2304", settlement_input(mdtrt_id, total), lose_answer=True) == {}
    settled = his.resend()
    check_envelope(settled)
    info = check_settled(ok(settled), mdtrt_id)
    assert his.resend() == settled  # the same answer, to the number
    setl_id = info["setl_id"]

    bills = client.get("/v1/bills", params={"bill_no": mdtrt_id}, headers=ADMIN).json()["items"]
    assert len(bills) == 1 and bills[0]["medical_total"] == str(total)
    assert [i["line_no"] for i in bills[0]["items"]] == [i["line_no"] for i in bill_3()["items"]]
    assert [(i["code"], i["quantity"], i["amount"]) for i in bills[0]["items"]] == [
        (i["code"], i["quantity"], i["amount"]) for i in bill_3()["items"]
    ]
    assert bills[0]["hospital"]["code"] == HOSPITAL and bills[0]["admission_date"] == bill_3()["admission_date"]

    # 2305: the cancellation answers its own setl_id and the settlement's figures negated.
    cancel = ok(his.send("2305", {"data": {"mdtrt_id": mdtrt_id, "psn_no": PSN_NO, "setl_id": setl_id}}))
    assert list(cancel) == ["setlinfo"]
    negated = cancel["setlinfo"]
    assert list(negated) == SETLINFO_FIELDS
    assert negated["setl_id"] != setl_id and 1 <= len(negated["setl_id"]) <= 30
    for name in ("medfee_sumamt", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt"):
        assert amount_field(negated[name]) == -amount_field(info[name]), name

    # A line corrected with a refund (five of the twenty zolpidem), and settled again: bill -2.
    zolpidem = bill_3()["items"][4]
    correction = {
        **line_of("8", zolpidem, "2026-09-02", cnt="-5", amount=str(-5 * D(zolpidem["unit_price"]))),
        "mdtrt_id": mdtrt_id,
        "init_feedetl_sn": "5",
    }
    ok(his.send("2301", {"feedetail": [correction]}))
    corrected = total - 5 * D(zolpidem["unit_price"])
    again = ok(his.send("2304", settlement_input(mdtrt_id, corrected)))
    assert amount_field(again["setlinfo"]["medfee_sumamt"]) == corrected
    second = client.get("/v1/bills", params={"bill_no": f"{mdtrt_id}-2"}, headers=ADMIN).json()["items"]
    assert len(second) == 1 and second[0]["medical_total"] == str(corrected)
    assert client.get("/v1/bills", params={"bill_no": mdtrt_id}, headers=ADMIN).json()["items"][0][
        "medical_total"
    ] == str(total)  # the cancelled settlement's bill stays as it was
    state = ledger_state(db_url)
    assert state["active"] == 3 and state["reversals"] == 3

    # 2601 of a settlement whose answer was lost: cancel, settle again (answer lost), reverse it.
    ok(his.send("2305", {"data": {"mdtrt_id": mdtrt_id, "psn_no": PSN_NO, "setl_id": again["setlinfo"]["setl_id"]}}))
    his.send("2304", settlement_input(mdtrt_id, corrected), lose_answer=True)
    lost = his.last_msgid
    reversal = his.send("2601", {"data": {"psn_no": PSN_NO, "omsgid": lost, "oinfno": "2304"}})
    assert ok(reversal) == {}
    assert ledger_state(db_url)["active"] == 0
    nothing = his.send("2601", {"data": {"psn_no": PSN_NO, "omsgid": lost, "oinfno": "2304"}})
    assert ok(nothing) == {} and "nothing to reverse" in nothing["warn_msg"]
    engine = create_engine(db_url)
    with Session(engine) as s:
        made = s.scalars(select(NhsaSettlement).order_by(col(NhsaSettlement.ordinal))).all()
        assert [(m.ordinal, m.status) for m in made] == [(1, "cancelled"), (2, "cancelled"), (3, "cancelled")]
        assert s.scalar(select(col(db.Bill.bill_no)).where(col(db.Bill.id) == made[2].bill_id)) == f"{mdtrt_id}-3"
        assert len(s.scalars(select(NhsaFeeLine)).all()) == 8
    engine.dispose()

    # Settled once more (bill -4), then reconciled: ours net every settlement and reversal of the day.
    final = ok(his.send("2304", settlement_input(mdtrt_id, corrected)))["setlinfo"]
    today = datetime.now(UTC).date().isoformat()
    fund = amount_field(final["fund_pay_sumamt"])
    totals = {
        "insutype": INSUTYPE,
        "clr_type": "21",
        "setl_optins": INSUPLC,
        "stmt_begndate": today,
        "stmt_enddate": today,
        "medfee_sumamt": corrected,
        "fund_pay_sumamt": fund,
        "acct_pay": D("0.00"),
        "fixmedins_setl_cnt": 1,
    }
    match = ok(his.send("3201", {"data": totals}))
    assert match == {"data": {"setl_optins": INSUPLC, "stmt_rslt": "0", "stmt_rslt_dscr": "the totals match"}}
    off = ok(his.send("3201", {"data": {**totals, "fund_pay_sumamt": fund - D("0.01")}}))["data"]
    assert off["stmt_rslt"] == "1" and "fund_pay_sumamt" in off["stmt_rslt_dscr"]

    settlements = []
    with Session(create_engine(db_url)) as s:
        for m in s.scalars(select(NhsaSettlement).order_by(col(NhsaSettlement.ordinal))):
            settlements.append(
                {
                    "setl_id": m.id,
                    "mdtrt_id": mdtrt_id,
                    "psn_no": PSN_NO,
                    "medfee_sumamt": m.medfee_sumamt,
                    "fund_pay_sumamt": m.fund_pay_sumamt,
                    "acct_pay": D("0.00"),
                    "refd_setl_flag": "1" if m.status == "cancelled" else "0",
                }
            )
    assert [r["refd_setl_flag"] for r in settlements] == ["1", "1", "1", "0"]
    detailed = ok(his.send("3202", {"data": {**totals, "detail": settlements}}))["data"]
    assert detailed == {
        "setl_optins": INSUPLC,
        "stmt_rslt": "0",
        "stmt_rslt_dscr": "the totals and every settlement match",
        "detail": [],
    }
    theirs = [{**settlements[0], "refd_setl_flag": "0"}, *settlements[2:]]
    differing = ok(his.send("3202", {"data": {**totals, "detail": theirs}}))["data"]
    assert differing["stmt_rslt"] == "1"
    assert [(d["setl_id"], d["stmt_rslt"]) for d in differing["detail"]] == sorted(
        [(settlements[0]["setl_id"], "1"), (settlements[1]["setl_id"], "1")]
    )
    memos = {d["setl_id"]: d["memo"] for d in differing["detail"]}
    assert memos[settlements[0]["setl_id"]] == "refd_setl_flag 1 here, 0 there"
    assert memos[settlements[1]["setl_id"]].startswith("missing there")
    assert ledger_state(db_url)["active"] == 3


def test_cancellations_of_admission_lines_and_discharge(client: TestClient, db_url: str) -> None:
    """2404 (an admission without lines), 2302 (one line with its refunds; then all: 0000), 2405 (a
    discharge not settled) and 2601 of an upload whose answer was lost."""
    his = setup_bill_3(client)
    items = bill_3()["items"]
    mdtrt_id = ok(his.send("2401", admission()))["result"]["mdtrt_id"]
    visit = {"mdtrt_id": mdtrt_id, "psn_no": PSN_NO}
    assert ok(his.send("2404", {"data": visit})) == {}
    refused(
        his.send("2301", {"feedetail": [{**line_of("1", items[2], "2026-09-02"), "mdtrt_id": mdtrt_id}]}), "conflict"
    )
    refused(his.send("2404", {"data": visit}), "conflict")

    mdtrt_id = ok(his.send("2401", admission()))["result"]["mdtrt_id"]
    visit = {"mdtrt_id": mdtrt_id, "psn_no": PSN_NO}

    def line(sn: str, n: int, **kw: Any) -> dict[str, Any]:
        return {**line_of(sn, items[n], "2026-09-02", **kw), "mdtrt_id": mdtrt_id}

    ok(
        his.send(
            "2301",
            {
                "feedetail": [
                    line("1", 2),
                    line("2", 3),
                    {**line("3", 2, cnt="-1", amount="-300.00"), "init_feedetl_sn": "1"},
                ]
            },
        )
    )
    his.send("2301", {"feedetail": [line("4", 4)]}, lose_answer=True)
    lost = his.last_msgid
    assert ok(his.send("2601", {"data": {"psn_no": PSN_NO, "omsgid": lost, "oinfno": "2301"}})) == {}
    again = his.send("2601", {"data": {"psn_no": PSN_NO, "omsgid": lost, "oinfno": "2301"}})
    assert ok(again) == {} and "nothing to reverse" in again["warn_msg"]
    assert ok(his.send("2302", {"data": {**visit, "feedetl_sn": "1"}})) == {}  # with its refund, line 3

    def stored() -> list[str]:
        engine = create_engine(db_url)
        with Session(engine) as s:
            sns = sorted(s.scalars(select(col(NhsaFeeLine.feedetl_sn))))
        engine.dispose()
        return sns

    assert stored() == ["2"]
    # Line 1 may be uploaded again, with other content, once cancelled.
    ok(his.send("2301", {"feedetail": [line("1", 4)]}))
    discharge = {"dscginfo": {**visit, "insutype": INSUTYPE, "endtime": "2026-09-28 16:00:00"}}
    assert ok(his.send("2402", discharge)) == {}
    refused(his.send("2402", discharge), "conflict")
    assert ok(his.send("2405", {"data": visit})) == {}
    refused(his.send("2405", {"data": visit}), "conflict")
    refused(his.send("2304", settlement_input(mdtrt_id, D("2300.00"))), "conflict")  # not discharged
    assert ok(his.send("2302", {"data": {**visit, "feedetl_sn": "0000"}})) == {}
    assert stored() == []
    assert ok(his.send("2404", {"data": visit})) == {}


def test_the_sample_routes_large_amount_tier_and_a_tier_left_out(client: TestClient, db_url: str) -> None:
    """On the sample as ``load-sample`` loads it (routes included): v3's bill 6 as a visit of He
    Ping under Guang'an's employee route reports the large-amount subsidy in ``hifob_pay``
    (scenario H); Li Qiang, whom medical assistance does not cover, settles under the county's
    route without that tier."""
    from app.sample.loader import load_sample

    load_sample()
    v3 = json.loads((v2_dir().parent / "v3" / "expected-v3.json").read_text())["H_large_amount_bill_6"]
    bill = json.loads((v2_dir().parent / "v3" / "bill-6.json").read_text())
    his = HospitalSystem(client, ADMIN, fixmedins_code=bill["hospital"]["code"], insuplc_admdvs="511600")
    info = {
        **admission()["mdtrtinfo"],
        "psn_no": "GA5116000001",
        "insutype": "310",
        "mdtrt_cert_no": bill["patient"]["id_number"],
        "begntime": f"{bill['admission_date']} 09:00:00",
    }
    mdtrt_id = ok(his.send("2401", {"mdtrtinfo": info}))["result"]["mdtrt_id"]
    lines = [
        {
            **line_of(str(i["line_no"]), i, i.get("service_date") or bill["admission_date"]),
            "mdtrt_id": mdtrt_id,
            "psn_no": "GA5116000001",
        }
        for i in bill["items"]
    ]
    ok(his.send("2301", {"feedetail": lines}))
    dscg = {
        "mdtrt_id": mdtrt_id,
        "psn_no": "GA5116000001",
        "insutype": "310",
        "endtime": f"{bill['discharge_date']} 10:00:00",
    }
    ok(his.send("2402", {"dscginfo": dscg}))
    total = sum((D(i["amount"]) for i in bill["items"]), D("0.00"))
    data = {
        **settlement_input(mdtrt_id, total)["data"],
        "psn_no": "GA5116000001",
        "insutype": "310",
        "mdtrt_cert_no": bill["patient"]["id_number"],
    }
    out = ok(his.send("2304", {"data": data}))
    basic, large = v3["settlements"]
    info_out = out["setlinfo"]
    assert (amount_field(info_out["hifp_pay"]), amount_field(info_out["hifob_pay"])) == (
        D(basic["fund_payment"]),
        D(large["fund_payment"]),
    )
    assert amount_field(info_out["hifmi_pay"]) == 0 and amount_field(info_out["maf_pay"]) == 0
    assert info_out["clr_optins"] == "511600"
    assert [
        (
            r["fund_pay_type"],
            amount_field(r["fund_payamt"]),
            amount_field(r["crt_payb_lmt_amt"]),
            amount_field(r["inscp_scp_amt"]),
        )
        for r in out["setldetail"]
    ] == [
        ("310100", D(basic["fund_payment"]), D(basic["cap_remaining"]), D(basic["in_scope"])),
        ("330100", D(large["fund_payment"]), D(large["cap_remaining"]), D(large["over_cap"])),
    ]

    # Li Qiang is no member of medical assistance: the county's route settles him without it.
    county = HospitalSystem(client, ADMIN, prefix="CTY")  # the same client: msgids of its own
    info = {**admission()["mdtrtinfo"], "psn_no": "NC5116230002", "mdtrt_cert_type": "03", "mdtrt_cert_no": "SSC-1"}
    mdtrt_id = ok(county.send("2401", {"mdtrtinfo": info}))["result"]["mdtrt_id"]
    items = bill_3()["items"]
    lines = [
        {**line_of(str(i["line_no"]), i, "2026-09-02"), "mdtrt_id": mdtrt_id, "psn_no": "NC5116230002"} for i in items
    ]
    ok(county.send("2301", {"feedetail": lines}))
    dscg = {"mdtrt_id": mdtrt_id, "psn_no": "NC5116230002", "insutype": INSUTYPE, "endtime": "2026-09-28 10:00:00"}
    ok(county.send("2402", {"dscginfo": dscg}))
    data = {
        **settlement_input(mdtrt_id, sum((D(i["amount"]) for i in items), D("0.00")))["data"],
        "psn_no": "NC5116230002",
        "mdtrt_cert_type": "03",
        "mdtrt_cert_no": "SSC-1",
    }
    out = ok(county.send("2304", {"data": data}))
    assert [r["fund_pay_type"] for r in out["setldetail"]] == ["390100", "390200"]
    assert amount_field(out["setlinfo"]["maf_pay"]) == 0 and amount_field(out["setlinfo"]["hifmi_pay"]) > 0
