"""The settlement of a visit (``nhsa.md``): pre-settlement (2303) and settlement (2304), its
cancellation (2305), and the reversal of a message whose answer was lost (2601).

2304 is one claim: under the visit's lock, the visit's net lines become a bill (``{mdtrt_id}``,
``{mdtrt_id}-{k}`` for the k-th settlement), settled under the route's schemes in order in the
same transaction, all or nothing (a tier refused for its eligibility is left out), exactly as
``POST /v1/claims`` settles (:func:`app.ledger.settle.settle_locked_bill` after
:func:`app.ledger.lock_order.lock_for_settlements`).  2305 reverses all of it, the last first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import col

from app import clock
from app.db.tables import core_table
from app.db.visit_tables import NhsaFeeLine, NhsaSettlement
from app.engine import types as t
from app.engine.money import ZERO
from app.engine.routes import Route, RouteScheme, SetlinfoField
from app.engine.visit_lines import bill_items, net_lines, net_total, setting_of
from app.errors import BasicNotSettled, Conflict, FieldError, NoPolicy, NotEnrolled, NotFound, ValidationFailed
from app.ledger.accumulators import lock_year_totals
from app.ledger.bill_state import lock_bill_or_404
from app.ledger.lock_order import lock_for_settlements
from app.ledger.reads import bill_settlements
from app.ledger.records import SettlementRecord
from app.ledger.reverse import reverse_locked
from app.ledger.rows import YearKey
from app.ledger.settle import settle_locked_bill
from app.ledger.work import LedgerWork
from app.principal import Principal
from app.schemas.bills import HospitalIn
from app.services import bills, idempotency
from app.services.bills import BillForm
from app.services.idempotency import IdemRequest, Replayed, Reply
from app.services.visit_reads import locked_visit_with
from app.services.visit_state import (
    Done,
    Member,
    Visit,
    VisitRef,
    catalog_of,
    check_certificate,
    check_open,
    check_person,
    check_unsettled,
    delete_lines,
    line_window_bill,
    lock_visit,
    locked_visit,
    save_visit,
)
from app.services.writes import Audit, run_write

#: A tier refused for these is left out of a visit's settlement; any other refusal refuses it all.
LEFT_OUT = (NotEnrolled, BasicNotSettled, NoPolicy)
NO_ACCOUNT = "acct_used_flag 1: no personal accounts are kept here; settled without one (acct_pay 0)"


@dataclass(frozen=True, slots=True)
class SettlementAsk:
    """A 2303 or 2304 in the services' terms."""

    ref: VisitRef
    mdtrt_cert_type: str
    mdtrt_cert_no: str
    medfee_sumamt: Decimal
    insutype: str
    acct_used_flag: bool
    medins_setl_id: str | None
    dry_run: bool


@dataclass(frozen=True, slots=True)
class Paid:
    """One scheme settlement of a visit settlement, with the codes its route reports it under."""

    fund_pay_type: str
    fund_pay_type_name: str
    setlinfo_field: SetlinfoField
    record: SettlementRecord


@dataclass(frozen=True, slots=True)
class VisitSettled:
    """A visit settlement made (or previewed: ``setl_id`` empty), or cancelled (``cancelled``:
    ``setl_id`` is then the cancellation's own, ``at`` its time, and the amounts are the
    cancelled settlement's, to be negated)."""

    visit: Visit
    member: Member
    setl_id: str
    at: datetime
    mdtrt_cert_type: str
    medins_setl_id: str | None
    medfee_sumamt: Decimal
    paid: tuple[Paid, ...]
    warning: str = ""
    cancelled: bool = False

    @property
    def fund_pay_sumamt(self) -> Decimal:
        return sum((p.record.fund_payment for p in self.paid), ZERO)

    @property
    def basic(self) -> SettlementRecord:
        return self.paid[0].record


def _payments_doc(paid: tuple[Paid, ...]) -> list[dict[str, object]]:
    return [
        {
            "settlement_id": p.record.id,
            "scheme_code": p.record.scheme_code,
            "fund_pay_type": p.fund_pay_type,
            "fund_pay_type_name": p.fund_pay_type_name,
            "setlinfo_field": p.setlinfo_field,
        }
        for p in paid
    ]


# --- 2303 and 2304 -----------------------------------------------------------------------------------------


def settle(
    *,
    principal: Principal,
    ask: SettlementAsk,
    msgid: str,
    idem: IdemRequest,
    render: Callable[[VisitSettled], Reply],
    audit: Audit | None,
) -> Reply:
    """2304 (2303: ``dry_run``, rolled back with everything it wrote)."""
    return run_write(
        "nhsa_settle",
        lambda work: _settle(work, principal=principal, ask=ask, msgid=msgid, idem=idem),
        render,
        principal=principal,
        idem=idem,
        dry_run=ask.dry_run,
        audit=audit,
    )


_SETTLEMENT = core_table(NhsaSettlement)


def _settle(
    work: LedgerWork, *, principal: Principal, ask: SettlementAsk, msgid: str, idem: IdemRequest
) -> VisitSettled | Replayed:
    ref = ask.ref
    held = locked_visit_with(work, principal, ref, idem)
    if isinstance(held, Replayed):
        return held
    visit = held.visit
    if ask.insutype != visit.insutype:
        raise ValidationFailed([FieldError((*ref.loc, "insutype"), f"visit {visit.id} has insutype {visit.insutype}")])
    check_open(visit, "a settlement")
    if visit.status != "discharged" or visit.discharge_date is None:
        raise Conflict(f"visit {visit.id} is not discharged: its discharge (2402) comes before a settlement")
    check_unsettled(visit, "a second settlement")
    session = work.session
    route = held.route(session)
    member = held.member(route)
    check_certificate(member, ask.mdtrt_cert_type, ask.mdtrt_cert_no, ref.loc)
    net = net_lines([line for line, _ in held.lines(work).values()])
    total = net_total(net)
    if not net:
        raise ValidationFailed([FieldError((*ref.loc, "mdtrt_id"), f"visit {visit.id} has no fee lines to settle")])
    if ask.medfee_sumamt != total:
        raise ValidationFailed(
            [
                FieldError(
                    (*ref.loc, "medfee_sumamt"),
                    f"medfee_sumamt {ask.medfee_sumamt} is not the visit's total {total} (its net fee lines): "
                    "the two systems disagree on the bill",
                )
            ]
        )
    hospital = held.hospital()
    catalog = catalog_of(work, route, line_window_bill(visit, member, hospital, net), every_scheme=True)
    ordinal = visit.settlement_count + 1
    diagnoses = visit.discharge_diagnoses or visit.admission_diagnoses
    bill = t.Bill(
        hospital=hospital,
        bill_no=visit.id if ordinal == 1 else f"{visit.id}-{ordinal}",
        patient_id_number=member.id_number,
        patient_name=member.name,
        setting=setting_of(visit.med_type) or "inpatient",
        admission_date=visit.admission_date,
        discharge_date=visit.discharge_date,
        diagnoses=tuple(str(d["diag_code"]) for d in diagnoses),
        items=bill_items(net, lambda code, day: catalog(code, day)[1]),
    )
    submitted = bills.submit(work, form=BillForm(bill, HospitalIn(code=hospital.code)), created_by=principal.client_id)
    if not submitted.created:
        raise Conflict(f"hospital {hospital.code} already has a bill {bill.bill_no}, not made by this visit")
    bill_id = submitted.bill.id
    lock_for_settlements(work, bill_id, [s.scheme_code for s in route.schemes])
    paid = tuple(_settle_route(work, route, bill_id, principal.client_id))
    now = clock.now()
    setl_id = "" if ask.dry_run else uuid.uuid4().hex[:30]
    settled = VisitSettled(
        visit=visit,
        member=member,
        setl_id=setl_id,
        at=now,
        mdtrt_cert_type=ask.mdtrt_cert_type,
        medins_setl_id=ask.medins_setl_id,
        medfee_sumamt=total,
        paid=paid,
        warning=NO_ACCOUNT if ask.acct_used_flag else "",
    )
    if not ask.dry_run:
        # With the transaction's last writes: nothing in it reads the row back.
        work.defer_insert(
            _SETTLEMENT,
            {
                "id": setl_id,
                "visit_id": visit.id,
                "bill_id": bill_id,
                "ordinal": ordinal,
                "payments": _payments_doc(paid),
                "hospital_code": visit.hospital_code,
                "insuplc_admdvs": visit.insuplc_admdvs,
                "insutype": visit.insutype,
                "medfee_sumamt": total,
                "fund_pay_sumamt": settled.fund_pay_sumamt,
                "mdtrt_cert_type": ask.mdtrt_cert_type,
                "medins_setl_id": ask.medins_setl_id,
                "status": "settled",
                "client_id": principal.client_id,
                "msgid": msgid,
                "created_at": now,
                "cancel_id": None,
                "cancelled_at": None,
            },
        )
        save_visit(work, visit, settlement_count=ordinal, active_setl_id=setl_id, updated_at=now)
    return settled


def _settle_route(work: LedgerWork, route: Route, bill_id: str, created_by: str) -> list[Paid]:
    """The route's schemes in order on the bill (held by this transaction): the basic scheme, then
    each tier whose eligibility holds."""
    paid = []
    for i, scheme in enumerate(route.schemes):
        try:
            record = settle_locked_bill(
                work, bill_id=bill_id, scheme_code=scheme.scheme_code, external_payments=(), created_by=created_by
            )
        except LEFT_OUT:
            if i == 0:
                raise
            continue
        paid.append(_paid(scheme, record))
    return paid


def _paid(scheme: RouteScheme, record: SettlementRecord) -> Paid:
    return Paid(scheme.fund_pay_type, scheme.scheme_name, scheme.setlinfo_field, record)


# --- 2305 and 2601 -------------------------------------------------------------------------------------------


def _cancel_locked(work: LedgerWork, *, principal: Principal, visit: Visit, settlement: NhsaSettlement) -> VisitSettled:
    """Reverse every scheme settlement of the visit settlement (the visit held), the last first,
    under its bill's lock; the visit's lines may then change, and the next settlement makes a new
    bill."""
    lock_bill_or_404(work, settlement.bill_id)
    by_id = {r.id: r for r in bill_settlements(work.session, settlement.bill_id)}
    records = [by_id[str(p["settlement_id"])] for p in settlement.payments]
    active = [r for r in records if r.status == "settled"]
    # The accumulators in the fixed order (scheme code) before reversing the last first.
    lock_year_totals(work, [YearKey(r.scheme_code, r.patient_id_number, r.policy_year) for r in active])
    for record in reversed(active):
        reverse_locked(work, bill_id=settlement.bill_id, settlement_id=record.id, created_by=principal.client_id)
    now = clock.now()
    settlement.status, settlement.cancel_id, settlement.cancelled_at = "cancelled", uuid.uuid4().hex[:30], now
    work.session.flush()
    if visit.active_setl_id == settlement.id:
        save_visit(work, visit, active_setl_id=None, updated_at=now)
    else:
        save_visit(work, visit, updated_at=now)
    paid = tuple(
        Paid(str(p["fund_pay_type"]), str(p.get("fund_pay_type_name", "")), p["setlinfo_field"], r)
        for p, r in zip(settlement.payments, records, strict=True)
    )
    assert settlement.cancel_id is not None
    return VisitSettled(
        visit=visit,
        member=Member(visit.psn_no, visit.patient_id_number, visit.patient_name),
        setl_id=settlement.cancel_id,
        at=now,
        mdtrt_cert_type=settlement.mdtrt_cert_type,
        medins_setl_id=settlement.medins_setl_id,
        medfee_sumamt=settlement.medfee_sumamt,
        paid=paid,
        cancelled=True,
    )


def _settlement_of(work: LedgerWork, visit_id: str, setl_id: str) -> NhsaSettlement | None:
    return work.session.scalars(
        select(NhsaSettlement)
        .where(col(NhsaSettlement.id) == setl_id, col(NhsaSettlement.visit_id) == visit_id)
        .execution_options(populate_existing=True)
    ).one_or_none()


def cancel(
    *,
    principal: Principal,
    ref: VisitRef,
    setl_id: str,
    idem: IdemRequest,
    render: Callable[[VisitSettled], Reply],
    audit: Audit | None,
) -> Reply:
    """2305: cancel a visit settlement in force; answers the cancellation."""

    def use_case(work: LedgerWork) -> VisitSettled | Replayed:
        visit = locked_visit(work, principal, ref, idem)
        if isinstance(visit, Replayed):
            return visit
        settlement = _settlement_of(work, visit.id, setl_id)
        if settlement is None:
            raise NotFound(f"visit {visit.id} has no settlement {setl_id}")
        if settlement.status != "settled":
            raise Conflict(f"settlement {setl_id} was cancelled already ({settlement.cancel_id})")
        return _cancel_locked(work, principal=principal, visit=visit, settlement=settlement)

    return run_write("nhsa_cancel_settlement", use_case, render, principal=principal, idem=idem, audit=audit)


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A 2601: the message to reverse, by its sender's ``msgid`` and transaction number."""

    hospital_code: str
    psn_no: str
    omsgid: str
    oinfno: str


def reverse_message(
    *,
    principal: Principal,
    message: MessageRef,
    idem: IdemRequest,
    render: Callable[[Done], Reply],
    audit: Audit | None,
) -> Reply:
    """2601: undo what a 2304 (as 2305 would) or a 2301 (its lines) of this client did; a message
    that did nothing, or whose work is undone already, changes nothing."""
    if message.oinfno not in ("2301", "2304"):
        raise ValidationFailed([FieldError(("data", "oinfno"), "2601 reverses a 2301 or a 2304")])

    def use_case(work: LedgerWork) -> Done | Replayed:
        replay = idempotency.lookup(work, principal, idem)
        if replay is not None:
            return replay
        if message.oinfno == "2304":
            return _reverse_settlement_message(work, principal, message)
        return _reverse_upload_message(work, principal, message)

    return run_write("nhsa_reverse_message", use_case, render, principal=principal, idem=idem, audit=audit)


def _nothing(what: str) -> Done:
    return Done(None, warning=f"{what}: nothing to reverse")


def _reverse_settlement_message(work: LedgerWork, principal: Principal, message: MessageRef) -> Done:
    session = work.session
    found = session.scalars(
        select(NhsaSettlement).where(
            col(NhsaSettlement.client_id) == principal.client_id, col(NhsaSettlement.msgid) == message.omsgid
        )
    ).one_or_none()
    if found is None:
        return _nothing(f"message {message.omsgid} made no settlement")
    visit = lock_visit(work, VisitRef(message.hospital_code, found.visit_id, message.psn_no))
    check_person(visit, message.psn_no, ("data",))
    settlement = _settlement_of(work, visit.id, found.id)  # again, under the visit's lock
    assert settlement is not None
    if settlement.status != "settled":
        return Done(visit, warning=f"settlement {settlement.id} was cancelled already: nothing to reverse")
    _cancel_locked(work, principal=principal, visit=visit, settlement=settlement)
    return Done(visit)


def _uploaded_by(work: LedgerWork, principal: Principal, omsgid: str) -> list[NhsaFeeLine]:
    return list(
        work.session.scalars(
            select(NhsaFeeLine)
            .where(col(NhsaFeeLine.upload_client) == principal.client_id, col(NhsaFeeLine.upload_msgid) == omsgid)
            .execution_options(populate_existing=True)
        )
    )


def _reverse_upload_message(work: LedgerWork, principal: Principal, message: MessageRef) -> Done:
    lines = _uploaded_by(work, principal, message.omsgid)
    if not lines:
        return _nothing(f"message {message.omsgid} left no fee lines")
    visit = lock_visit(work, VisitRef(message.hospital_code, lines[0].visit_id, message.psn_no))
    check_person(visit, message.psn_no, ("data",))
    lines = [line for line in _uploaded_by(work, principal, message.omsgid) if line.visit_id == visit.id]
    if not lines:
        return Done(visit, warning=f"the lines of message {message.omsgid} were cancelled already: nothing to reverse")
    check_unsettled(visit, "reversing an upload of fee lines")
    delete_lines(work.session, visit.id, [line.feedetl_sn for line in lines])
    save_visit(work, visit, updated_at=clock.now())
    return Done(visit)
