"""Load what the engine needs for one settlement in a bounded number of queries.

Whatever the number of lines: one query for the scheme, one for the member, one for the
policy, one for the catalog versions in effect over the bill's service dates and one for the
entries of the bill's distinct codes in those versions.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.engine import types as t
from app.errors import FieldError, NoCatalog, NoPolicy, NotEnrolled, ValidationFailed
from app.ledger import locks
from app.schemas.reference import PolicyCreate


def bill_to_engine(row: db.Bill) -> t.Bill:
    return t.Bill(
        hospital=t.Hospital(row.hospital_code, row.hospital_name, row.hospital_level, row.hospital_region),
        bill_no=row.bill_no,
        patient_id_number=row.patient_id_number,
        patient_name=row.patient_name,
        setting=row.setting,
        admission_date=row.admission_date,
        discharge_date=row.discharge_date,
        diagnoses=tuple(row.diagnoses),
        items=tuple(
            t.BillLine(
                i["line_no"],
                i["code"],
                i["name"],
                i["category"],
                Decimal(i["quantity"]),
                Decimal(i["unit_price"]),
                Decimal(i["amount"]),
                date.fromisoformat(i["service_date"]) if i.get("service_date") else None,
            )
            for i in row.items
        ),
    )


def scheme_to_engine(row: db.Scheme) -> t.Scheme:
    return t.Scheme(row.code, row.name, row.kind, row.pooling_region, row.coordination)  # type: ignore[arg-type]


def member_to_engine(row: db.Member) -> t.Member:
    return t.Member(
        member_no=row.member_no,
        id_number=row.id_number,
        name=row.name,
        coverage=tuple(
            t.Period(date.fromisoformat(c["from"]), date.fromisoformat(c["to"]) if c.get("to") else None)
            for c in row.coverage
        ),
        registrations=tuple(
            t.Registration(
                r["destination_region"],
                date.fromisoformat(r["from"]),
                date.fromisoformat(r["to"]) if r.get("to") else None,
            )
            for r in row.offsite_registrations
        ),
    )


def load_scheme(session: Session, code: str, *, loc: tuple[str | int, ...]) -> db.Scheme:
    scheme = session.get(db.Scheme, code)
    if scheme is None:
        raise ValidationFailed([FieldError(loc, f"there is no scheme {code!r}")])
    return scheme


def load_member(session: Session, scheme_code: str, id_number: str) -> db.Member:
    member = session.scalars(
        select(db.Member).where(col(db.Member.scheme_code) == scheme_code, col(db.Member.id_number) == id_number)
    ).one_or_none()
    if member is None:
        raise NotEnrolled(f"the patient is not a member of {scheme_code}")
    return member


def load_policy(session: Session, scheme_code: str, year: int, *, lock: bool) -> tuple[db.Policy, t.Policy]:
    if lock:
        row = locks.lock_policy(session, scheme_code, year)
    else:
        stmt = select(db.Policy).where(col(db.Policy.scheme_code) == scheme_code, col(db.Policy.year) == year)
        row = session.scalars(stmt).one_or_none()
    if row is None:
        raise NoPolicy(f"{scheme_code} has no policy for {year}, the year of the discharge date")
    return row, PolicyCreate.model_validate(row.body).to_engine(year)


def load_catalogs(
    session: Session, scheme_code: str, bill: t.Bill, *, lock: bool
) -> tuple[list[db.CatalogVersion], tuple[t.CatalogVersion, ...]]:
    days = [line.service_date or bill.admission_date for line in bill.items]
    first, last = min(days), max(days)
    if lock:
        versions = locks.lock_catalog_versions(session, scheme_code, first, last)
    else:
        stmt = select(db.CatalogVersion).where(
            col(db.CatalogVersion.scheme_code) == scheme_code,
            col(db.CatalogVersion.effective_from) <= last,
            or_(col(db.CatalogVersion.effective_to).is_(None), col(db.CatalogVersion.effective_to) >= first),
        )
        versions = list(session.scalars(stmt))
    if not versions:
        raise NoCatalog(f"{scheme_code} has no catalog version in effect between {first} and {last}")
    codes = sorted({line.code for line in bill.items})
    entries: dict[int, dict[str, t.CatalogEntry]] = defaultdict(dict)
    rows = session.execute(
        select(
            col(db.CatalogEntry.catalog_version_id),
            col(db.CatalogEntry.code),
            col(db.CatalogEntry.name),
            col(db.CatalogEntry.category),
            col(db.CatalogEntry.klass),
            col(db.CatalogEntry.self_pay_ratio),
            col(db.CatalogEntry.price_cap),
            col(db.CatalogEntry.settings),
            col(db.CatalogEntry.min_hospital_level),
        ).where(
            col(db.CatalogEntry.catalog_version_id).in_([v.id for v in versions]),
            col(db.CatalogEntry.code).in_(codes),
        )
    )
    for vid, code, name, category, klass, ratio, cap, settings, level in rows:
        entries[vid][code] = t.CatalogEntry(
            code,
            name,
            category,  # type: ignore[arg-type]
            klass,  # type: ignore[arg-type]
            ratio,
            cap,
            tuple(settings.split("|")) if settings else None,  # type: ignore[arg-type]
            level,
        )
    engine_versions = tuple(
        t.CatalogVersion(v.version, v.effective_from, v.effective_to, entries.get(v.id or 0, {})) for v in versions
    )
    return versions, engine_versions
