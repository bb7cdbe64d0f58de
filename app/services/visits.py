"""Visits of the national platform's interface (``nhsa.md``): admission (2401) and its
cancellation (2404), fee lines (2301) and their cancellation (2302), discharge (2402) and its
cancellation (2405).  The settlement of a visit is :mod:`app.services.visit_settlements`.

Each entry carries its use case out through the one write entry point
(:func:`app.services.writes.run_write`): one transaction with its answer stored under the
message's ``msgid`` and its audit record.  Every use case on an existing visit first locks the
visit's row (:func:`lock_visit`, the first lock of :mod:`app.ledger.lock_order`), then looks the
``msgid`` up, then checks and writes: a visit's lines change only in transactions holding it, one
at a time.  Field errors are located in the transaction's input (``("feedetail", 0, "pric")``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from sqlalchemy import bindparam, delete, insert, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app import clock
from app.db import tables as db
from app.db.direct import execute, execute_one
from app.db.visit_tables import NhsaFeeLine, NhsaVisit
from app.engine import types as t
from app.engine.catalog import version_in_effect
from app.engine.routes import Route
from app.engine.visit_lines import ClassifiedLine, FeeLine, classify_fee_line, content_hash, plan_upload, setting_of
from app.errors import Conflict, FieldError, Loc, NoCatalog, NotEnrolled, NotFound, ValidationFailed
from app.ledger.inputs import catalogs_for
from app.ledger.references import read_references
from app.ledger.work import LedgerWork
from app.principal import Principal
from app.privacy import mask_id
from app.services import hospitals, idempotency, nhsa_routes
from app.services.idempotency import IdemRequest, Replayed, Reply
from app.services.writes import Audit, run_write

#: The ``feedetl_sn`` of a 2302 that cancels every line of the visit.
ALL_LINES = "0000"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Admission:
    """A 2401 in the services' terms."""

    hospital_code: str
    insuplc_admdvs: str
    insutype: str
    mdtrtarea_admvs: str | None
    psn_no: str
    mdtrt_cert_type: str
    mdtrt_cert_no: str
    med_type: str
    ipt_no: str
    begntime: str
    admission_date: date
    diagnoses: tuple[Diagnosis, ...]


@dataclass(frozen=True, slots=True)
class VisitRef:
    """The visit a transaction names, and the person it names on it."""

    hospital_code: str
    mdtrt_id: str
    psn_no: str
    #: Where the two are in the transaction's input (``("data",)``, ``("dscginfo",)``).
    loc: Loc = ("data",)


@dataclass(frozen=True, slots=True)
class Discharge:
    visit: VisitRef
    insutype: str
    endtime: str
    discharge_date: date
    diagnoses: tuple[Diagnosis, ...]


@dataclass(frozen=True, slots=True)
class SentLine:
    """A 2301 line: the visit and person it names, its ``med_type``, and the line itself."""

    mdtrt_id: str
    psn_no: str
    med_type: str
    line: FeeLine


@dataclass(frozen=True, slots=True)
class Member:
    """The person of a visit: the member of the route's basic scheme."""

    psn_no: str
    id_number: str
    name: str


@dataclass(frozen=True, slots=True)
class Done:
    """A transaction carried out that answers no figures: the visit it was on (None: none)."""

    visit: NhsaVisit | None
    warning: str = ""


@dataclass(frozen=True, slots=True)
class Uploaded:
    visit: NhsaVisit
    lines: tuple[ClassifiedLine, ...]


# --- shared by the visit's transactions -------------------------------------------------------------


def lock_visit(work: LedgerWork, ref: VisitRef) -> NhsaVisit:
    """The visit's row, ``FOR UPDATE`` (the first lock of every transaction on it); ``not-found``
    when there is none, or it is another hospital's."""
    visit = work.session.scalars(
        select(NhsaVisit).where(col(NhsaVisit.id) == ref.mdtrt_id).with_for_update()
    ).one_or_none()
    if visit is None or visit.hospital_code != ref.hospital_code:
        raise NotFound(f"there is no visit {ref.mdtrt_id} of hospital {ref.hospital_code}")
    return visit


def check_person(visit: NhsaVisit, psn_no: str, loc: Loc) -> None:
    if psn_no != visit.psn_no:
        raise ValidationFailed([FieldError((*loc, "psn_no"), f"visit {visit.id} is not person {psn_no}'s")])


def check_open(visit: NhsaVisit, what: str) -> None:
    """A cancelled admission takes nothing more."""
    if visit.status == "cancelled":
        raise Conflict(f"the admission of visit {visit.id} was cancelled (2404): {what} refused")


def check_unsettled(visit: NhsaVisit, what: str) -> None:
    if visit.active_setl_id is not None:
        raise Conflict(
            f"visit {visit.id} is settled ({visit.active_setl_id}): {what} refused; cancel the settlement (2305) first"
        )


_MEMBER_TABLE = db.core_table(db.Member)
_MEMBER = select(_MEMBER_TABLE.c.member_no, _MEMBER_TABLE.c.id_number, _MEMBER_TABLE.c.name).where(
    _MEMBER_TABLE.c.scheme_code == bindparam("scheme_code"), _MEMBER_TABLE.c.member_no == bindparam("member_no")
)


def member_of(session: Session, route: Route, psn_no: str) -> Member:
    """``psn_no`` is the member number in the route's basic scheme (else ``not-enrolled``)."""
    row = execute_one(session, _MEMBER, {"scheme_code": route.basic.scheme_code, "member_no": psn_no})
    if row is None:
        raise NotEnrolled(f"person {psn_no} is no member of {route.basic.scheme_code}, the route's basic scheme")
    return Member(row.member_no, row.id_number, row.name)


def check_certificate(member: Member, cert_type: str, cert_no: str, loc: Loc) -> None:
    """With a resident ID card (``mdtrt_cert_type`` 02) the number must be the member's."""
    if cert_type == "02" and cert_no != member.id_number:
        raise ValidationFailed(
            [
                FieldError(
                    (*loc, "mdtrt_cert_no"),
                    f"certificate number {mask_id(cert_no)} is not the ID number of member {member.psn_no}",
                )
            ]
        )


def visit_route(session: Session, visit: NhsaVisit) -> Route:
    return nhsa_routes.route_for(session, visit.insuplc_admdvs, visit.insutype)


_LINE = db.core_table(NhsaFeeLine)
_LINES = select(
    _LINE.c.feedetl_sn,
    _LINE.c.init_feedetl_sn,
    _LINE.c.med_list_codg,
    _LINE.c.medins_list_codg,
    _LINE.c.fee_ocur_time,
    _LINE.c.service_date,
    _LINE.c.cnt,
    _LINE.c.pric,
    _LINE.c.det_item_fee_sumamt,
    _LINE.c.content_hash,
).where(_LINE.c.visit_id == bindparam("visit_id"))


def visit_lines(session: Session, visit_id: str) -> dict[str, tuple[FeeLine, str]]:
    """The visit's lines by ``feedetl_sn``, each with its content hash (one statement)."""
    return {row[0]: (FeeLine(*row[:9]), row[9]) for row in execute(session, _LINES, {"visit_id": visit_id})}


class Priced(Protocol):
    """A line as :func:`line_window_bill` reads it (a fee line or a net line)."""

    @property
    def code(self) -> str: ...
    @property
    def day(self) -> date: ...
    @property
    def cnt(self) -> Decimal: ...
    @property
    def pric(self) -> Decimal: ...
    @property
    def amount(self) -> Decimal: ...


def line_window_bill(visit: NhsaVisit, member: Member, hospital: t.Hospital, lines: Sequence[Priced]) -> t.Bill:
    """The visit as a bill of these lines, for reading the reference rows over their days (a
    refund is served on its line's day, which ``lines`` give as its own)."""
    last = visit.discharge_date or max([visit.admission_date, *(line.day for line in lines)])
    items = tuple(
        t.BillLine(i, line.code, line.code, "service", abs(line.cnt), line.pric, abs(line.amount), line.day)
        for i, line in enumerate(lines, 1)
    )
    setting = setting_of(visit.med_type) or "inpatient"
    return t.Bill(hospital, visit.id, member.id_number, member.name, setting, visit.admission_date, last, (), items)


def catalog_of(
    work: LedgerWork, route: Route, bill: t.Bill
) -> Callable[[str, date], tuple[t.CatalogVersion, t.CatalogEntry | None]]:
    """The basic scheme's catalog over the bill's days (its reference rows read, and locked while
    unused, as a settlement reads them): for a code and a day, the version in effect (else
    ``no-catalog``) and the code's entry in it."""
    code = route.basic.scheme_code
    read_references(work, bill, [code])
    _, versions = catalogs_for(work, code, bill)

    def lookup(item_code: str, day: date) -> tuple[t.CatalogVersion, t.CatalogEntry | None]:
        version = version_in_effect(versions, day)
        if version is None:
            raise NoCatalog(f"{code} has no catalog version in effect on {day.isoformat()}")
        return version, version.entries.get(item_code)

    return lookup


def _hospital(session: Session, code: str) -> t.Hospital:
    row = hospitals.registered(session, code)
    return t.Hospital(row.code, row.name, row.level, row.region)


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
        replay = idempotency.lookup(work, principal, idem)
        if replay is not None:
            return replay
        session = work.session
        a = admission
        if setting_of(a.med_type) is None:
            raise ValidationFailed(
                [FieldError(("mdtrtinfo", "med_type"), f"med_type {a.med_type!r} is neither 1x (outpatient) nor 2x")]
            )
        route = nhsa_routes.route_for(session, a.insuplc_admdvs, a.insutype)
        member = member_of(session, route, a.psn_no)
        check_certificate(member, a.mdtrt_cert_type, a.mdtrt_cert_no, ("mdtrtinfo",))
        registry = hospitals.registered(session, a.hospital_code)
        hospitals.check_designated(registry, a.admission_date)
        now = clock.now()
        visit = NhsaVisit(
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
            admission_diagnoses=[{"diag_code": d.code, "diag_name": d.name} for d in a.diagnoses],
            status="admitted",
            created_by=principal.client_id,
            created_at=now,
            updated_at=now,
        )
        session.add(visit)
        session.flush()
        return Done(visit)

    return _write("nhsa_admit", use_case, principal=principal, idem=idem, render=render, audit=audit)


def cancel_admission(
    *, principal: Principal, ref: VisitRef, idem: IdemRequest, render: Callable[[Done], Reply], audit: Audit | None
) -> Reply:
    """2404: cancel an admission that has no lines."""

    def use_case(work: LedgerWork) -> Done | Replayed:
        visit = lock_visit(work, ref)
        replay = idempotency.lookup(work, principal, idem)
        if replay is not None:
            return replay
        check_person(visit, ref.psn_no, ref.loc)
        check_open(visit, "cancelling it again")
        if visit_lines(work.session, visit.id):
            raise Conflict(f"visit {visit.id} has fee lines: cancel them (2302) before the admission")
        visit.status, visit.updated_at = "cancelled", clock.now()
        work.session.flush()
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
        visit = lock_visit(work, ref)
        replay = idempotency.lookup(work, principal, idem)
        if replay is not None:
            return replay
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
        plan = plan_upload(visit_lines(session, visit.id), [s.line for s in sent])
        route = visit_route(session, visit)
        member = Member(visit.psn_no, visit.patient_id_number, visit.patient_name)
        hospital = _hospital(session, visit.hospital_code)
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
            work.connection.execute(
                insert(db.core_table(NhsaFeeLine)),
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
            visit.updated_at = now
            session.flush()
        return Uploaded(visit, classified)

    return run_write("nhsa_upload_lines", use_case, render, principal=principal, idem=idem, audit=audit)


def delete_lines(session: Session, visit_id: str, feedetl_sns: Sequence[str]) -> int:
    """Cancel these lines of the visit and every refund of them (a refund of nothing would be
    left); the number of lines deleted."""
    if not feedetl_sns:
        return 0
    table = db.core_table(NhsaFeeLine)
    result = session.execute(
        delete(table).where(
            table.c.visit_id == visit_id,
            or_(table.c.feedetl_sn.in_(feedetl_sns), table.c.init_feedetl_sn.in_(feedetl_sns)),
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


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
        visit = lock_visit(work, ref)
        replay = idempotency.lookup(work, principal, idem)
        if replay is not None:
            return replay
        check_person(visit, ref.psn_no, ref.loc)
        check_open(visit, "cancelling fee lines")
        check_unsettled(visit, "cancelling fee lines")
        session = work.session
        sns = list(visit_lines(session, visit.id))
        if feedetl_sn != ALL_LINES:
            if feedetl_sn not in sns:
                raise ValidationFailed(
                    [FieldError((*ref.loc, "feedetl_sn"), f"visit {visit.id} has no line {feedetl_sn}")]
                )
            sns = [feedetl_sn]
        delete_lines(session, visit.id, sns)
        visit.updated_at = clock.now()
        session.flush()
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
        visit = lock_visit(work, ref)
        replay = idempotency.lookup(work, principal, idem)
        if replay is not None:
            return replay
        check_person(visit, ref.psn_no, ref.loc)
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
        visit.status, visit.endtime, visit.discharge_date = "discharged", discharge.endtime, discharge.discharge_date
        visit.discharge_diagnoses = [{"diag_code": d.code, "diag_name": d.name} for d in discharge.diagnoses]
        visit.updated_at = clock.now()
        work.session.flush()
        return Done(visit)

    return _write("nhsa_discharge", use_case, principal=principal, idem=idem, render=render, audit=audit)


def cancel_discharge(
    *, principal: Principal, ref: VisitRef, idem: IdemRequest, render: Callable[[Done], Reply], audit: Audit | None
) -> Reply:
    """2405: cancel the discharge of a visit not settled."""

    def use_case(work: LedgerWork) -> Done | Replayed:
        visit = lock_visit(work, ref)
        replay = idempotency.lookup(work, principal, idem)
        if replay is not None:
            return replay
        check_person(visit, ref.psn_no, ref.loc)
        check_open(visit, "cancelling its discharge")
        if visit.status != "discharged":
            raise Conflict(f"visit {visit.id} is not discharged")
        check_unsettled(visit, "cancelling its discharge")
        visit.status, visit.endtime, visit.discharge_date, visit.discharge_diagnoses = "admitted", None, None, None
        visit.updated_at = clock.now()
        work.session.flush()
        return Done(visit)

    return _write("nhsa_cancel_discharge", use_case, principal=principal, idem=idem, render=render, audit=audit)
