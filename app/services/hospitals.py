"""The designated-hospital registry (rules v2.1): a put creates or replaces (:class:`Put`).

Replacing an entry changes only bills accepted afterwards: a bill keeps the level, region and
name it was accepted with.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from app import clock
from app.db import tables as db
from app.engine.policy import region_prefix
from app.errors import NotDesignated, NotFound, UnknownHospital
from app.principal import Principal
from app.schemas.hospitals import HospitalCreate
from app.services import paging
from app.services.reference import Put, path_key


def put(session: Session, *, code: str, body: HospitalCreate) -> Put[db.Hospital]:
    """Field errors are located in the entry given (``("code",)``)."""
    path_key(body.code, code, "code")
    row = session.scalars(select(db.Hospital).where(col(db.Hospital.code) == code).with_for_update()).one_or_none()
    created = row is None
    if row is None:
        row = db.Hospital(code=code, updated_at=clock.now(), **body.model_dump(exclude={"code"}))
        session.add(row)
    else:
        for field, value in body.model_dump(exclude={"code"}).items():
            setattr(row, field, value)
        row.updated_at = clock.now()
    session.flush()
    return Put(row, created)


def get(session: Session, *, code: str) -> db.Hospital:
    row = session.get(db.Hospital, code)
    if row is None:
        raise NotFound(f"there is no hospital {code} in the registry")
    return row


def registered(session: Session, code: str) -> db.Hospital:
    """The registry's entry of the hospital a bill names (else ``unknown-hospital``)."""
    row = session.get(db.Hospital, code)
    if row is None:
        raise unknown_hospital(code)
    return row


_HOSPITAL = db.core_table(db.Hospital)
#: A registry entry's columns, for a read that joins the entry to another row (an admission's:
#: :mod:`app.services.visit_reads`); :class:`Designation` is what it checks of them.
ENTRY_COLUMNS = (
    _HOSPITAL.c.code,
    _HOSPITAL.c.name,
    _HOSPITAL.c.level,
    _HOSPITAL.c.region,
    _HOSPITAL.c.designated_from,
    _HOSPITAL.c.designated_to,
)


def unknown_hospital(code: str) -> UnknownHospital:
    return UnknownHospital(f"hospital {code} is not in the designated-hospital registry")


class Designation(Protocol):
    """A registry entry as :func:`check_designated` reads it (a ``Hospital`` or a row of its columns)."""

    code: str
    designated_from: date
    designated_to: date | None


def check_designated(row: Designation, admission: date) -> None:
    """The admission date must fall in the designation period, both bounds included."""
    if admission < row.designated_from or (row.designated_to is not None and admission > row.designated_to):
        until = row.designated_to.isoformat() if row.designated_to else "open"
        raise NotDesignated(
            f"hospital {row.code} is designated from {row.designated_from.isoformat()} to {until}; "
            f"the admission date {admission.isoformat()} is outside that period"
        )


def list_page(
    session: Session, *, principal: Principal, region: str | None, cursor: str | None, limit: int
) -> paging.Page[db.Hospital]:
    """By code.  ``region`` contains as in the rules: ``510000`` the province, ``511600`` the
    prefecture, ``511623`` only itself."""
    filters = {"region": region}
    stmt = select(db.Hospital).order_by(col(db.Hospital.code)).limit(limit + 1)
    if region is not None:
        prefix = region_prefix(region)
        stmt = stmt.where(col(db.Hospital.region).startswith(prefix, autoescape=True))
    if cursor is not None:
        (after,) = paging.decode(cursor, list_name="hospitals", principal=principal, filters=filters, kinds=["id"])
        stmt = stmt.where(col(db.Hospital.code) > after)
    return paging.page(
        list(session.scalars(stmt)),
        limit=limit,
        list_name="hospitals",
        principal=principal,
        filters=filters,
        key=lambda r: [r.code],
    )
