"""Visits of the national platform's interface (``nhsa.md``): admission (2401) and its
cancellation (2404), fee lines (2301) and their cancellation (2302), discharge (2402) and its
cancellation (2405).  The settlement of a visit is :mod:`app.services.visit_settlements`; what
both share is :mod:`app.services.visit_state`.

Each entry carries its use case out through the one write entry point
(:func:`app.services.writes.run_write`): one transaction with its answer stored under the
message's ``msgid`` and its audit record.  Every use case on an existing visit first locks the
visit's row (:func:`app.services.visit_state.lock_visit`, the first lock of
:mod:`app.ledger.lock_order`), then looks the ``msgid`` up, then checks and writes: a visit's
lines change only in transactions holding it, one at a time.  Field errors are located in the
transaction's input (``("feedetail", 0, "pric")``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from app import clock
from app.db import tables as db
from app.db.direct import insert_many
from app.db.visit_tables import NhsaFeeLine
from app.engine.visit_lines import classify_fee_line, content_hash, plan_upload, setting_of
from app.errors import Conflict, FieldError, ValidationFailed
from app.ledger.work import LedgerWork
from app.principal import Principal
from app.services import hospitals
from app.services.idempotency import IdemRequest, Replayed, Reply
from app.services.visit_reads import admitting, locked_visit_with
from app.services.visit_state import (
    ALL_LINES,
    Admission,
    Discharge,
    Done,
    Member,
    SentLine,
    Uploaded,
    Visit,
    VisitRef,
    catalog_of,
    check_certificate,
    check_open,
    check_unsettled,
    delete_lines,
    insert_visit,
    line_window_bill,
    locked_visit,
    save_visit,
    visit_lines,
)
from app.services.writes import Audit, run_write

_LINE = db.core_table(NhsaFeeLine)


def _write(
    operation: str,
    use_case: Callable[[LedgerWork], Done | Replayed],
    *,
    principal: Principal,
    idem: IdemRequest,
    render: Callable[[Done], Reply],
    audit: Audit | None,
) -> Reply:
    return run_write(operation, use_case, render, principal=principal, idem=idem, audit=audit)


# --- 2401 and 2404: admission ---------------------------------------------------------------------------


def admit(
    *,
    principal: Principal,
    admission: Admission,
    idem: IdemRequest,
    render: Callable[[Done], Reply],
    audit: Audit | None,
) -> Reply:
    """2401: open a visit bound to the route of its insuring region and insurance type."""

    def use_case(work: LedgerWork) -> Done | Replayed:
        session = work.session
        a = admission
        read = admitting(work, principal, a, idem)
        replay = read.replayed(idem)
        if replay is not None:
            return replay
        if setting_of(a.med_type) is None:
            raise ValidationFailed(
                [FieldError(("mdtrtinfo", "med_type"), f"med_type {a.med_type!r} is neither 1x (outpatient) nor 2x")]
            )
        route = read.route(session)
        member = read.member(route)
        check_certificate(member, a.mdtrt_cert_type, a.mdtrt_cert_no, ("mdtrtinfo",))
        hospitals.check_designated(read.registry(), a.admission_date)
        now = clock.now()
        visit = Visit(
            id=uuid.uuid4().hex[:30],
            hospital_code=a.hospital_code,
            insuplc_admdvs=a.insuplc_admdvs,
            insutype=a.insutype,
            mdtrtarea_admvs=a.mdtrtarea_admvs,
            psn_no=member.psn_no,
            patient_id_number=member.id_number,
            patient_name=member.name,
            med_type=a.med_type,
            mdtrt_cert_type=a.mdtrt_cert_type,
            ipt_no=a.ipt_no,
            begntime=a.begntime,
            admission_date=a.admission_date,
            endtime=None,
            discharge_date=None,
            admission_diagnoses=[{"diag_code": d.code, "diag_name": d.name} for d in a.diagnoses],
            discharge_diagnoses=None,
            status="admitted",
            settlement_count=0,
            active_setl_id=None,
            created_by=principal.client_id,
            created_at=now,
            updated_at=now,
        )
        insert_visit(work, visit)
        return Done(visit)

    return _write("nhsa_admit", use_case, principal=principal, idem=idem, render=render, audit=audit)


def cancel_admission(
    *, principal: Principal, ref: VisitRef, idem: IdemRequest, render: Callable[[Done], Reply], audit: Audit | None
) -> Reply:
    """2404: cancel an admission that has no lines."""

    def use_case(work: LedgerWork) -> Done | Replayed:
        visit = locked_visit(work, principal, ref, idem)
        if isinstance(visit, Replayed):
            return visit
        check_open(visit, "cancelling it again")
        if visit_lines(work, visit.id):
            raise Conflict(f"visit {visit.id} has fee lines: cancel them (2302) before the admission")
        save_visit(work, visit, status="cancelled", updated_at=clock.now())
        return Done(visit)

    return _write("nhsa_cancel_admission", use_case, principal=principal, idem=idem, render=render, audit=audit)


# --- 2301 and 2302: fee lines ----------------------------------------------------------------------------


def upload_lines(
    *,
    principal: Principal,
    hospital_code: str,
    sent: Sequence[SentLine],
    msgid: str,
    idem: IdemRequest,
    render: Callable[[Uploaded], Reply],
    audit: Audit | None,
) -> Reply:
    """2301: add fee lines to a visit, all or nothing, each answered classified under the route's
    basic scheme on its (original line's) day."""
    first = sent[0]
    ref = VisitRef(hospital_code, first.mdtrt_id, first.psn_no, ("feedetail", 0))
    mixed = [
        FieldError(("feedetail", i, "mdtrt_id"), f"one upload is of one visit ({first.mdtrt_id})")
        for i, s in enumerate(sent)
        if s.mdtrt_id != first.mdtrt_id
    ]
    if mixed:
        raise ValidationFailed(mixed)

    def use_case(work: LedgerWork) -> Uploaded | Replayed:
        held = locked_visit_with(work, principal, ref, idem, person=False)
        if isinstance(held, Replayed):
            return held
        visit = held.visit
        errors = [
            FieldError(("feedetail", i, field), f"visit {visit.id} has {field} {getattr(visit, field)}")
            for i, s in enumerate(sent)
            for field, value in (("psn_no", s.psn_no), ("med_type", s.med_type))
            if value != getattr(visit, field)
        ]
        if errors:
            raise ValidationFailed(errors)
        check_open(visit, "an upload of fee lines")
        check_unsettled(visit, "an upload of fee lines")
        session = work.session
        plan = plan_upload(held.lines(work), [s.line for s in sent])
        route = held.route(session)
        member = Member(visit.psn_no, visit.patient_id_number, visit.patient_name)
        hospital = held.hospital()
        originals = [original for _, original in plan.answered]
        catalog = catalog_of(work, route, line_window_bill(visit, member, hospital, originals))
        setting = setting_of(visit.med_type) or "inpatient"
        classified = tuple(
            classify_fee_line(
                line,
                original,
                catalog(original.code, original.day)[0],
                setting=setting,
                hospital_level=hospital.level,
            )
            for line, original in plan.answered
        )
        now = clock.now()
        if plan.new:
            insert_many(
                work.connection,
                _LINE,
                [
                    {
                        "visit_id": visit.id,
                        "feedetl_sn": line.feedetl_sn,
                        "init_feedetl_sn": line.init_feedetl_sn,
                        "med_list_codg": line.code,
                        "medins_list_codg": line.own_code,
                        "fee_ocur_time": line.occurred,
                        "service_date": line.day,
                        "cnt": line.cnt,
                        "pric": line.pric,
                        "det_item_fee_sumamt": line.amount,
                        "content_hash": content_hash(line),
                        "upload_client": principal.client_id,
                        "upload_msgid": msgid,
                        "created_at": now,
                    }
                    for line in plan.new
                ],
            )
            save_visit(work, visit, updated_at=now)
        return Uploaded(visit, classified)

    return run_write("nhsa_upload_lines", use_case, render, principal=principal, idem=idem, audit=audit)


def cancel_lines(
    *,
    principal: Principal,
    ref: VisitRef,
    feedetl_sn: str,
    idem: IdemRequest,
    render: Callable[[Done], Reply],
    audit: Audit | None,
) -> Reply:
    """2302: cancel one line (with its refunds), or every line (``0000``), of an unsettled visit."""

    def use_case(work: LedgerWork) -> Done | Replayed:
        visit = locked_visit(work, principal, ref, idem)
        if isinstance(visit, Replayed):
            return visit
        check_open(visit, "cancelling fee lines")
        check_unsettled(visit, "cancelling fee lines")
        session = work.session
        sns = list(visit_lines(work, visit.id))
        if feedetl_sn != ALL_LINES:
            if feedetl_sn not in sns:
                raise ValidationFailed(
                    [FieldError((*ref.loc, "feedetl_sn"), f"visit {visit.id} has no line {feedetl_sn}")]
                )
            sns = [feedetl_sn]
        delete_lines(session, visit.id, sns)
        save_visit(work, visit, updated_at=clock.now())
        return Done(visit)

    return _write("nhsa_cancel_lines", use_case, principal=principal, idem=idem, render=render, audit=audit)


# --- 2402 and 2405: discharge ----------------------------------------------------------------------------


def discharge(
    *,
    principal: Principal,
    discharge: Discharge,
    idem: IdemRequest,
    render: Callable[[Done], Reply],
    audit: Audit | None,
) -> Reply:
    """2402: the visit's discharge (its end and the diagnoses the bill will carry)."""
    ref = discharge.visit

    def use_case(work: LedgerWork) -> Done | Replayed:
        visit = locked_visit(work, principal, ref, idem)
        if isinstance(visit, Replayed):
            return visit
        if discharge.insutype != visit.insutype:
            raise ValidationFailed(
                [FieldError((*ref.loc, "insutype"), f"visit {visit.id} has insutype {visit.insutype}")]
            )
        check_open(visit, "a discharge")
        if visit.status == "discharged":
            raise Conflict(f"visit {visit.id} is discharged already; cancel the discharge (2405) to change it")
        if discharge.discharge_date < visit.admission_date:
            raise ValidationFailed(
                [FieldError((*ref.loc, "endtime"), f"endtime {discharge.endtime} is before begntime {visit.begntime}")]
            )
        save_visit(
            work,
            visit,
            status="discharged",
            endtime=discharge.endtime,
            discharge_date=discharge.discharge_date,
            discharge_diagnoses=[{"diag_code": d.code, "diag_name": d.name} for d in discharge.diagnoses],
            updated_at=clock.now(),
        )
        return Done(visit)

    return _write("nhsa_discharge", use_case, principal=principal, idem=idem, render=render, audit=audit)


def cancel_discharge(
    *, principal: Principal, ref: VisitRef, idem: IdemRequest, render: Callable[[Done], Reply], audit: Audit | None
) -> Reply:
    """2405: cancel the discharge of a visit not settled."""

    def use_case(work: LedgerWork) -> Done | Replayed:
        visit = locked_visit(work, principal, ref, idem)
        if isinstance(visit, Replayed):
            return visit
        check_open(visit, "cancelling its discharge")
        if visit.status != "discharged":
            raise Conflict(f"visit {visit.id} is not discharged")
        check_unsettled(visit, "cancelling its discharge")
        save_visit(
            work,
            visit,
            status="admitted",
            endtime=None,
            discharge_date=None,
            discharge_diagnoses=None,
            updated_at=clock.now(),
        )
        return Done(visit)

    return _write("nhsa_cancel_discharge", use_case, principal=principal, idem=idem, render=render, audit=audit)
