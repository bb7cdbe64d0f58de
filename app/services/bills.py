"""Bills: submission (idempotent on hospital code + bill number) and reads."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.engine import types as t
from app.engine.money import ZERO, as_money
from app.engine.validate import bill_errors
from app.errors import Conflict, FieldError, NotFound, ValidationFailed
from app.ledger.idempotency import Reply
from app.privacy import mask_id
from app.schemas.bills import BillCreate
from app.schemas.settlements import money


def canonical_items(bill: t.Bill) -> list[dict[str, Any]]:
    return [
        {
            "line_no": i.line_no,
            "code": i.code,
            "name": i.name,
            "category": i.category,
            "quantity": str(i.quantity.normalize()) if i.quantity else "0",
            "unit_price": money(as_money(i.unit_price)),
            "amount": money(as_money(i.amount)),
            "service_date": i.service_date.isoformat() if i.service_date else None,
        }
        for i in bill.items
    ]


def _content_hash(bill: t.Bill, items: list[dict[str, Any]]) -> str:
    h = bill.hospital
    doc = {
        "hospital": [h.code, h.name, h.level, h.region],
        "bill_no": bill.bill_no,
        "patient": [bill.patient_id_number, bill.patient_name],
        "setting": bill.setting,
        "dates": [bill.admission_date.isoformat(), bill.discharge_date.isoformat()],
        "diagnoses": list(bill.diagnoses),
        "items": items,
    }
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()


def bill_public(row: db.Bill) -> dict[str, Any]:
    """A bill as clients see it; the resident ID number is masked."""
    return {
        "bill_id": row.id,
        "hospital": {
            "code": row.hospital_code,
            "name": row.hospital_name,
            "level": row.hospital_level,
            "region": row.hospital_region,
        },
        "bill_no": row.bill_no,
        "patient": {"id_number": mask_id(row.patient_id_number), "name": row.patient_name},
        "setting": row.setting,
        "admission_date": row.admission_date.isoformat(),
        "discharge_date": row.discharge_date.isoformat(),
        "diagnoses": list(row.diagnoses),
        "items": row.items,
        "medical_total": money(row.medical_total),
        "paid_total": money(row.paid_total),
        "created_at": row.created_at.isoformat(),
    }


def validated(body: BillCreate, loc_prefix: tuple[str | int, ...] = ("body",)) -> t.Bill:
    bill = body.to_engine()
    errors = bill_errors(bill)
    if errors:
        raise ValidationFailed([FieldError((*loc_prefix, *e.loc), e.msg) for e in errors])
    return bill


def submit(
    session: Session, *, body: BillCreate, created_by: str, loc_prefix: tuple[str | int, ...] = ("body",)
) -> tuple[Reply, db.Bill]:
    """Record a bill; the same (hospital code, bill_no) with the same content returns the first."""
    bill = validated(body, loc_prefix)
    items = canonical_items(bill)
    digest = _content_hash(bill, items)
    existing = session.scalars(
        select(db.Bill).where(col(db.Bill.hospital_code) == bill.hospital.code, col(db.Bill.bill_no) == bill.bill_no)
    ).one_or_none()
    if existing is not None:
        if existing.content_hash != digest:
            raise Conflict(
                f"bill {bill.bill_no} of hospital {bill.hospital.code} was already submitted with other content"
            )
        return Reply(200, bill_public(existing)), existing
    row = db.Bill(
        id=str(uuid.uuid4()),
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
        medical_total=bill.medical_total,
        content_hash=digest,
        paid_total=ZERO,
        last_sequence=0,
        created_by=created_by,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return Reply(201, bill_public(row)), row


def get(session: Session, bill_id: str) -> db.Bill:
    row = session.get(db.Bill, bill_id)
    if row is None:
        raise NotFound("there is no such bill")
    return row
