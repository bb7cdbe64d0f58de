"""The answers of the national platform's interface, rendered in one place (``nhsa.md``): the
envelope out and each transaction's ``output``, with the platform's field names and its numbers
(:mod:`app.nhsa.numbers`).  Where this service has no figure for a field it sends ``0`` (amounts)
or ``""`` (text)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TypedDict

from app.engine.money import ZERO, format_money
from app.engine.routes import SETLINFO_FIELDS
from app.engine.visit_lines import ClassifiedLine
from app.engine.visit_statements import Statement
from app.errors import DomainError
from app.ledger.records import SettlementRecord
from app.nhsa.numbers import ZERO_NUM, Num, amount, quantity, ratio
from app.privacy import mask_ids_in
from app.services.visit_settlements import Paid, VisitSettled

#: The platform's times are Beijing time.
BEIJING = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: ``chrgitm_lv`` by catalog class; a code not in the catalog is class C's ``03``.
CHARGE_LEVEL = {"A": "01", "B": "02", "C": "03"}


def platform_time(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime(TIME_FORMAT)


class EnvelopeOut(TypedDict):
    infcode: int
    inf_refmsgid: str
    refmsg_time: str
    respond_time: str
    err_msg: str
    warn_msg: str
    output: Mapping[str, object]


def envelope(received: datetime, answered: datetime, output: Mapping[str, object], *, warning: str = "") -> EnvelopeOut:
    """A transaction carried out (``infcode`` 0)."""
    return EnvelopeOut(
        infcode=0,
        inf_refmsgid=uuid.uuid4().hex[:30],
        refmsg_time=platform_time(received),
        respond_time=platform_time(answered),
        err_msg="",
        warn_msg=warning,
        output=output,
    )


def refusal(exc: DomainError, received: datetime, answered: datetime) -> EnvelopeOut:
    """A refused message (``infcode`` -1): ``err_msg`` is ``[problem-name] detail``."""
    return EnvelopeOut(
        infcode=-1,
        inf_refmsgid=uuid.uuid4().hex[:30],
        refmsg_time=platform_time(received),
        respond_time=platform_time(answered),
        err_msg=f"[{exc.problem}] {mask_ids_in(exc.detail)}",
        warn_msg="",
        output={},
    )


# --- 2401 ---------------------------------------------------------------------------------------------


class AdmissionResult(TypedDict):
    mdtrt_id: str
    psn_no: str
    ipt_otp_no: str


def admission(mdtrt_id: str, psn_no: str, ipt_no: str) -> dict[str, AdmissionResult]:
    return {"result": AdmissionResult(mdtrt_id=mdtrt_id, psn_no=psn_no, ipt_otp_no=ipt_no)}


# --- 2301 ---------------------------------------------------------------------------------------------


class LineOut(TypedDict):
    feedetl_sn: str
    det_item_fee_sumamt: Num
    cnt: Num
    pric: Num
    pric_uplmt_amt: Num
    selfpay_prop: Num
    fulamt_ownpay_amt: Num
    overlmt_amt: Num
    preselfpay_amt: Num
    inscp_scp_amt: Num
    chrgitm_lv: str
    med_chrgitm_type: str
    lmt_used_flag: str
    memo: str


def fee_line(c: ClassifiedLine) -> LineOut:
    entry, r = c.entry, c.result
    klass = r.klass or "C"
    if klass == "A":
        prop = Decimal(0)
    elif klass == "B":
        prop = entry.self_pay_ratio if entry is not None and entry.self_pay_ratio is not None else Decimal(0)
    else:
        prop = Decimal(1)
    cap = entry.price_cap if entry is not None else None
    restricted = entry is not None and (entry.settings is not None or entry.min_hospital_level is not None)
    return LineOut(
        feedetl_sn=c.line.feedetl_sn,
        det_item_fee_sumamt=amount(c.line.amount),
        cnt=quantity(c.line.cnt),
        pric=amount(c.line.pric),
        pric_uplmt_amt=ZERO_NUM if cap is None else amount(cap),
        selfpay_prop=ratio(prop),
        fulamt_ownpay_amt=amount(r.excluded),
        overlmt_amt=amount(r.over_limit),
        preselfpay_amt=amount(r.b_self_pay),
        inscp_scp_amt=amount(r.in_scope),
        chrgitm_lv=CHARGE_LEVEL[klass],
        med_chrgitm_type=entry.category if entry is not None else "",
        lmt_used_flag="1" if restricted else "0",
        memo=r.reason or "",
    )


def fee_lines(lines: Sequence[ClassifiedLine]) -> dict[str, list[LineOut]]:
    return {"result": [fee_line(c) for c in lines]}


# --- 2303, 2304, 2305 ---------------------------------------------------------------------------------


class SetlInfo(TypedDict):
    setl_id: str
    mdtrt_id: str
    psn_no: str
    psn_name: str
    psn_cert_type: str
    certno: str
    insutype: str
    setl_time: str
    mdtrt_cert_type: str
    med_type: str
    medfee_sumamt: Num
    fulamt_ownpay_amt: Num
    overlmt_selfpay: Num
    preselfpay_amt: Num
    inscp_scp_amt: Num
    act_pay_dedc: Num
    hifp_pay: Num
    hifmi_pay: Num
    hifob_pay: Num
    maf_pay: Num
    cvlserv_pay: Num
    oth_pay: Num
    fund_pay_sumamt: Num
    psn_part_amt: Num
    acct_pay: Num
    psn_cash_pay: Num
    balc: Num
    medins_setl_id: str
    clr_optins: str


class SetlDetail(TypedDict):
    fund_pay_type: str
    fund_pay_type_name: str
    inscp_scp_amt: Num
    crt_payb_lmt_amt: Num
    fund_payamt: Num
    setl_proc_info: str


def setlinfo(s: VisitSettled) -> SetlInfo:
    """The visit settlement's figures (a cancellation's: the cancelled settlement's, negated)."""

    def money(value: Decimal) -> Num:
        return amount(ZERO - value if s.cancelled else value)

    basic = s.basic
    by_field = dict.fromkeys(SETLINFO_FIELDS, ZERO)
    for p in s.paid:
        by_field[p.setlinfo_field] += p.record.fund_payment
    fund = s.fund_pay_sumamt
    visit = s.visit
    return SetlInfo(
        setl_id=s.setl_id,
        mdtrt_id=visit.id,
        psn_no=s.member.psn_no,
        psn_name=s.member.name,
        psn_cert_type="01",
        certno=s.member.id_number,
        insutype=visit.insutype,
        setl_time=platform_time(s.at),
        mdtrt_cert_type=s.mdtrt_cert_type,
        med_type=visit.med_type,
        medfee_sumamt=money(s.medfee_sumamt),
        fulamt_ownpay_amt=money(basic.excluded),
        overlmt_selfpay=money(basic.over_limit),
        preselfpay_amt=money(basic.b_self_pay),
        inscp_scp_amt=money(basic.in_scope),
        act_pay_dedc=money(basic.deductible),
        hifp_pay=money(by_field["hifp_pay"]),
        hifmi_pay=money(by_field["hifmi_pay"]),
        hifob_pay=money(by_field["hifob_pay"]),
        maf_pay=money(by_field["maf_pay"]),
        cvlserv_pay=money(by_field["cvlserv_pay"]),
        oth_pay=money(by_field["oth_pay"]),
        fund_pay_sumamt=money(fund),
        psn_part_amt=money(s.medfee_sumamt - fund),
        acct_pay=ZERO_NUM,
        psn_cash_pay=money(s.medfee_sumamt - fund),
        balc=ZERO_NUM,
        medins_setl_id=s.medins_setl_id or "",
        clr_optins=visit.insuplc_admdvs,
    )


def _process(r: SettlementRecord) -> str:
    """``setl_proc_info``: the deductible, each band's base x ratio = amount, the cap, the prior
    payments, in one line."""
    bands = [f"{b['base']} x {b['ratio']} = {b['amount']}" for b in r.detail["bands"]] or ["no band reached"]
    cap = "" if r.cap_remaining is None else f", cap remaining {format_money(r.cap_remaining)}"
    return (
        f"deductible {format_money(r.deductible)}; {'; '.join(bands)}; "
        f"after the cap {format_money(r.benefit_after_cap)}{cap}; prior payments {format_money(r.prior_payments)}"
    )


def setldetail_row(p: Paid) -> SetlDetail:
    r = p.record
    if r.over_cap is not None:
        scope = r.over_cap
    elif r.compliant_self_pay is not None:
        scope = r.compliant_self_pay
    else:
        scope = r.in_scope
    return SetlDetail(
        fund_pay_type=p.fund_pay_type,
        fund_pay_type_name=p.fund_pay_type_name,
        inscp_scp_amt=amount(scope),
        crt_payb_lmt_amt=ZERO_NUM if r.cap_remaining is None else amount(r.cap_remaining),
        fund_payamt=amount(r.fund_payment),
        setl_proc_info=_process(r),
    )


class Settled(TypedDict):
    setlinfo: SetlInfo
    setldetail: list[SetlDetail]


class Cancelled(TypedDict):
    setlinfo: SetlInfo


def settled(s: VisitSettled) -> Settled:
    return Settled(setlinfo=setlinfo(s), setldetail=[setldetail_row(p) for p in s.paid])


def cancelled(s: VisitSettled) -> Cancelled:
    return Cancelled(setlinfo=setlinfo(s))


# --- 3201, 3202 -----------------------------------------------------------------------------------------


class DetailOut(TypedDict):
    setl_id: str
    stmt_rslt: str
    memo: str


class StatementOut(TypedDict, total=False):
    setl_optins: str
    stmt_rslt: str
    stmt_rslt_dscr: str
    detail: list[DetailOut]


def statement(setl_optins: str, s: Statement) -> dict[str, StatementOut]:
    data = StatementOut(setl_optins=setl_optins, stmt_rslt="0" if s.match else "1", stmt_rslt_dscr=s.description())
    if s.detailed:
        data["detail"] = [DetailOut(setl_id=d.setl_id, stmt_rslt="1", memo=d.memo) for d in s.differences]
    return {"data": data}
