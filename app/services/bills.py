"""Bills: submission (idempotent on hospital code + bill number) and reads."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

import orjson
from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app import clock
from app.db import tables as db
from app.db.direct import execute, execute_one
from app.engine import types as t
from app.engine.money import CENT, ONE, ZERO, as_money
from app.engine.validate import bill_errors, plain
from app.errors import Conflict, FieldError, NotFound, ValidationFailed
from app.ledger.bill_state import bill_by_number, hold_new_bill
from app.ledger.conversions import work_injury_document
from app.ledger.rows import BillRow
from app.ledger.stored import StoredLine
from app.ledger.work import LedgerWork
from app.principal import Principal
from app.privacy import mask_id
from app.schemas.bills import BillCreate, HospitalIn
from app.schemas.common import money
from app.services import hospitals, paging
from app.services.scope import bill_scope


def stored_form(bill: t.Bill) -> t.Bill:
    """The bill as it is stored, and read back (:func:`app.ledger.conversions.bill_to_engine`): each
    quantity as the plain decimal sent (:func:`~app.engine.validate.plain`), money with exactly two
    places (:func:`~app.engine.money.as_money`), a line marked as the injury's (``injury_related:
    true``) as one left unmarked (v3.1: the same line).  A valid line already in that form (a
    whole quantity, money sent as yuan.fen: the usual case) is kept as it is."""
    items = tuple(_stored_line(i) for i in bill.items)
    if all(a is b for a, b in zip(items, bill.items, strict=True)):
        return bill
    return replace(bill, items=items)


def _stored_line(line: t.BillLine) -> t.BillLine:
    if line.injury_related is True:
        line = replace(line, injury_related=None)
    q, price, amount = line.quantity, line.unit_price, line.amount
    if q.same_quantum(ONE) and not q.is_signed() and price.same_quantum(CENT) and amount.same_quantum(CENT):
        return line
    return replace(line, quantity=Decimal(plain(q)), unit_price=as_money(price), amount=as_money(amount))


def canonical_items(stored: t.Bill) -> list[StoredLine]:
    """The lines of a bill in its :func:`stored_form` as stored and shown: the quantity as sent,
    money with two decimals; on a bill with a work injury, each line's ``injury_related`` mark
    (left out: true, v3.1)."""
    items: list[StoredLine] = [
        {
            "line_no": i.line_no,
            "code": i.code,
            "name": i.name,
            "category": i.category,
            "quantity": plain(i.quantity),
            "unit_price": money(i.unit_price),
            "amount": money(i.amount),
            "service_date": i.service_date.isoformat() if i.service_date else None,
        }
        for i in stored.items
    ]
    if stored.work_injury is not None:
        for item, line in zip(items, stored.items, strict=True):
            item["injury_related"] = line.is_injury_line
    return items


def _content_hash(bill: t.Bill, items: list[StoredLine]) -> str:
    """What makes two posts of a bill the same bill: the quantities compared as numbers
    (``10`` and ``10.0`` are the same), the hospital as accepted (registry level, region, name)."""
    h = bill.hospital
    # A line marked as the injury's is the line left unmarked (v3.1): the mark counts only when
    # false, so a work-injury bill accepted before v3 keeps its hash.
    lines = [
        {
            **{k: v for k, v in line.items() if k != "injury_related" or v is False},
            "quantity": str(i.quantity.normalize()) if i.quantity else "0",
        }
        for line, i in zip(items, bill.items, strict=True)
    ]
    doc: dict[str, object] = {
        "hospital": [h.code, h.name, h.level, h.region],
        "bill_no": bill.bill_no,
        "patient": [bill.patient_id_number, bill.patient_name],
        "setting": bill.setting,
        "dates": [bill.admission_date.isoformat(), bill.discharge_date.isoformat()],
        "diagnoses": list(bill.diagnoses),
        "items": lines,
    }
    if bill.work_injury is not None:  # absent otherwise, so v1 bills keep their hash
        doc["work_injury"] = work_injury_document(bill.work_injury)
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()


def bill_row(
    bill: t.Bill, *, bill_id: str, created_by: str, created_at: datetime, items: list[StoredLine] | None = None
) -> BillRow:
    """The new row of ``bill`` (in its :func:`stored_form`) in the bill table: nothing paid yet.
    ``items``: its :func:`canonical_items`, when the caller has them already."""
    items = canonical_items(bill) if items is None else items
    return BillRow(
        id=bill_id,
        hospital_code=bill.hospital.code,
        bill_no=bill.bill_no,
        hospital_name=bill.hospital.name,
        hospital_level=bill.hospital.level,
        hospital_region=bill.hospital.region,
        patient_id_number=bill.patient_id_number,
        patient_name=bill.patient_name,
        setting=bill.setting,
        admission_date=bill.admission_date,
        discharge_date=bill.discharge_date,
        diagnoses=list(bill.diagnoses),
        items=items,
        work_injury=work_injury_document(bill.work_injury),
        medical_total=bill.medical_total,
        content_hash=_content_hash(bill, items),
        paid_total=ZERO,
        last_sequence=0,
        created_by=created_by,
        created_at=created_at,
    )


@dataclass(frozen=True, slots=True)
class BillForm:
    """A bill as a request gave it, converted once into the engine's form: ``bill`` at the hospital
    as the request described it (the registry decides the rest: :func:`submit` puts the accepted
    hospital in), and the hospital as given, which the registry's must match."""

    bill: t.Bill
    given: HospitalIn

    @classmethod
    def of(cls, body: BillCreate) -> BillForm:
        h = body.hospital
        as_given = t.Hospital(h.code, h.name or "", h.level or 0, h.region or "")
        return cls(body.to_engine(as_given), h)

    def at(self, hospital: t.Hospital) -> t.Bill:
        return replace(self.bill, hospital=hospital)


def validated(body: BillCreate, hospital: t.Hospital | None = None, more_errors: Sequence[FieldError] = ()) -> t.Bill:
    """The engine's bill at ``hospital``, or 422 ``validation`` listing every field error
    (located in the bill: ``("items", 0, "amount")``)."""
    return checked(body.to_engine(hospital), more_errors)


def checked(bill: t.Bill, more_errors: Sequence[FieldError] = ()) -> t.Bill:
    """``bill``, or 422 ``validation`` listing ``more_errors`` and every field error of the bill."""
    errors = [*more_errors, *bill_errors(bill)]
    if errors:
        raise ValidationFailed(errors)
    return bill


def _hospital_mismatches(given: HospitalIn, accepted: t.Hospital, against: str) -> list[FieldError]:
    """A level or region the bill gives must equal ``accepted``'s (the registry's, or the bill's
    as first accepted)."""
    return [
        FieldError(
            ("hospital", field),
            f"hospital {accepted.code} has {field} {getattr(accepted, field)!r} in {against}, not "
            f"{getattr(given, field)!r}; leave the {field} out or send the registry's",
        )
        for field in ("level", "region")
        if getattr(given, field) is not None and getattr(given, field) != getattr(accepted, field)
    ]


@dataclass(frozen=True, slots=True)
class Submitted:
    """A submitted bill's row, and whether this request created it (else the same bill was there)."""

    bill: BillRow
    created: bool


_INSERT_BILL = insert(db.core_table(db.Bill))
_HOSPITAL = db.core_table(db.Hospital)
_REGISTRY_AND_BILL = select(
    *_HOSPITAL.columns,
    select(_INSERT_BILL.table.c.id)
    .where(
        _INSERT_BILL.table.c.hospital_code == bindparam("code"), _INSERT_BILL.table.c.bill_no == bindparam("bill_no")
    )
    .scalar_subquery()
    .label("bill_id"),
).where(_HOSPITAL.c.code == bindparam("code"))


def submit(work: LedgerWork, *, form: BillForm, created_by: str) -> Submitted:
    """Record a bill; the same (hospital code, bill_no) with the same content returns the first.

    A new bill is checked against the designated-hospital registry, in this order:
    ``unknown-hospital``; then one ``validation`` problem with every field error (a level or
    region that differs from the registry's included); then ``not-designated``.  A bill already
    accepted is compared with the bill as accepted (its level, region and name), not with the
    registry: field errors first (``validation``), then any difference (409 ``conflict``).
    Field errors are located in the bill (``("hospital", "level")``).  A new bill is held by this
    transaction (:func:`app.ledger.bill_state.hold_new_bill`) with its engine form.
    """
    code, bill_no = form.given.code, form.bill.bill_no
    # One statement: the registry's entry with the id of a bill already accepted under this number.
    found = execute_one(work.connection, _REGISTRY_AND_BILL, {"code": code, "bill_no": bill_no})
    existing = None
    if found is None or found.bill_id is not None:  # not in the registry (bills from before it), or resent
        existing = bill_by_number(work, code, bill_no)
    if existing is not None:
        accepted = t.Hospital(code, existing.hospital_name, existing.hospital_level, existing.hospital_region)
        bill = stored_form(checked(form.at(accepted)))
        differs = _hospital_mismatches(form.given, accepted, "the bill as accepted")
        if differs or existing.content_hash != _content_hash(bill, canonical_items(bill)):
            raise Conflict(f"bill {bill_no} of hospital {code} was already submitted with other content")
        return Submitted(existing, created=False)
    # The registry's row as read (its columns by name), or the ORM entry of a bill from before it.
    registry = hospitals.registered(work.session, code) if found is None else found
    accepted = t.Hospital(code, registry.name, registry.level, registry.region)
    mismatches = _hospital_mismatches(form.given, accepted, "the registry")
    bill = stored_form(checked(form.at(accepted), mismatches))
    hospitals.check_designated(registry, bill.admission_date)
    row = bill_row(bill, bill_id=str(uuid.uuid4()), created_by=created_by, created_at=clock.now())
    # A Core insert (no ORM unit of work): the row is the ledger's value, not the session's.
    execute(work.connection, _INSERT_BILL, row.values())
    hold_new_bill(work, row, bill)  # what bill_to_engine would build again from the row
    return Submitted(row, created=True)


def get(session: Session, bill_id: str) -> db.Bill:
    row = session.get(db.Bill, bill_id)
    if row is None:
        raise NotFound("there is no such bill")
    return row


def list_page(
    session: Session,
    *,
    principal: Principal,
    hospital_code: str | None,
    bill_no: str | None,
    patient_id_number: str | None,
    admitted_from: date | None,
    admitted_to: date | None,
    cursor: str | None,
    limit: int,
) -> paging.Page[db.Bill]:
    """The bills the caller may read (:func:`app.services.scope.bill_scope`), newest first.
    ``admitted_from`` and ``admitted_to`` both include their day."""
    filters: dict[str, str | None] = {
        "hospital_code": hospital_code,
        "bill_no": bill_no,
        # Cursors show up in access logs: their filter fingerprint is taken of the masked ID number,
        # so it cannot be searched back to the ID (the scope, applied on every page, keeps a
        # cursor reused with another ID number of the same mask harmless).
        "patient_id_number": mask_id(patient_id_number) if patient_id_number else None,
        "admitted_from": admitted_from.isoformat() if admitted_from else None,
        "admitted_to": admitted_to.isoformat() if admitted_to else None,
    }
    b = db.Bill
    stmt = select(b).where(bill_scope(principal))
    for column, value in (
        (b.hospital_code, hospital_code),
        (b.bill_no, bill_no),
        (b.patient_id_number, patient_id_number),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    if admitted_from is not None:
        stmt = stmt.where(col(b.admission_date) >= admitted_from)
    if admitted_to is not None:
        stmt = stmt.where(col(b.admission_date) <= admitted_to)
    return paging.newest_first(
        session, stmt, model=b, list_name="bills", principal=principal, filters=filters, cursor=cursor, limit=limit
    )
