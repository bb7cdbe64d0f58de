"""Reference data: schemes, catalog versions, policies, members.

A put creates or replaces, and says which (:class:`Put`; the API answers 201 or 200).  A catalog
version or a policy that a settlement has used is never replaced (409 ``conflict``): publish a
new version, so every settlement stays explainable.

Field errors are located in the document given (``("version",)``, ``("id_number",)``, ``()`` for
the whole of it), or at the key argument that is wrong (``("scheme_code",)``: a tier has no
catalog); the API places them in the request (the body, the path).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

from pydantic import ValidationError
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app import clock
from app.db import tables as db
from app.engine import types as t
from app.engine.eligibility import supplements_problem
from app.engine.validate import id_number_errors
from app.errors import Conflict, FieldError, NotFound, ValidationFailed
from app.schemas.reference import (
    AnyPolicyCreate,
    CatalogCreate,
    LargeAmountPolicyCreate,
    MemberCreate,
    PolicyCreate,
    SchemeCreate,
    TierPolicyCreate,
)

Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class Put(Generic[Row]):
    """What a put wrote, and whether it created it (else it replaced what was there)."""

    row: Row
    created: bool


@dataclass(frozen=True, slots=True)
class Catalog:
    """A catalog version and its entries, in code order."""

    version: db.CatalogVersion
    entries: Sequence[db.CatalogEntry]


CSV_HEADER = ["code", "name", "category", "class", "self_pay_ratio", "price_cap", "settings", "min_hospital_level"]


def path_key(value: Any, path_value: Any, field: str) -> None:
    """A document's own key, when it gives one, must be the key it is put under (located at the
    document's ``field``; the messages speak of the body and the path, where the API has them)."""
    if value is not None and value != path_value:
        raise ValidationFailed(
            [FieldError((field,), f"{field} {value!r} in the body differs from {path_value!r} in the path")]
        )


def _scheme(session: Session, code: str, *, lock: bool = False) -> db.Scheme:
    stmt = select(db.Scheme).where(col(db.Scheme.code) == code)
    if lock:
        stmt = stmt.with_for_update(read=True)
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise NotFound(f"there is no scheme {code}")
    return row


# --- schemes ----------------------------------------------------------------------------


def _check_kind_change(session: Session, row: db.Scheme, kind: str) -> None:
    """A scheme's reference data has the shape of its kind: a tier's policies are not a scheme's,
    a tier has no catalog, serious illness no members, and a tier supplements a basic scheme.
    A replacing ``PUT`` that would break that is refused (409); other changes are free."""
    if (row.kind in t.TIER_KINDS) != (kind in t.TIER_KINDS) or (row.kind == "large_amount") != (kind == "large_amount"):
        has_data = session.scalar(
            select(func.count()).select_from(db.Policy).where(col(db.Policy.scheme_code) == row.code)
        ) or session.scalar(
            select(func.count()).select_from(db.CatalogVersion).where(col(db.CatalogVersion.scheme_code) == row.code)
        )
        if has_data:
            raise Conflict(f"{row.code} has policies or catalog versions of a {row.kind} scheme; its kind stays")
    if kind in ("serious_illness", "large_amount") and row.kind != kind:
        members = session.scalar(
            select(func.count()).select_from(db.Member).where(col(db.Member.scheme_code) == row.code)
        )
        if members:
            raise Conflict(f"{row.code} has members, and a {kind} scheme has none; its kind stays")
    if row.kind in t.BASIC_KINDS and kind not in t.BASIC_KINDS:
        tiers = session.scalar(
            select(func.count()).select_from(db.Scheme).where(col(db.Scheme.supplements) == row.code)
        )
        if tiers:
            raise Conflict(f"tiers supplement {row.code}: it stays a basic scheme")


def put_scheme(session: Session, *, code: str, body: SchemeCreate) -> Put[db.Scheme]:
    path_key(body.code, code, "code")
    if body.supplements is not None:
        basic = session.get(db.Scheme, body.supplements)
        problem = supplements_problem(body.kind, None if basic is None else basic.kind)
        if problem is not None:
            raise ValidationFailed([FieldError(("supplements",), f"{body.supplements!r}: {problem}")])
    row = session.scalars(select(db.Scheme).where(col(db.Scheme.code) == code).with_for_update()).one_or_none()
    created = row is None
    if row is None:
        row = db.Scheme(
            code=code,
            name=body.name,
            kind=body.kind,
            pooling_region=body.pooling_region,
            coordination=body.coordination,
            supplements=body.supplements,
            updated_at=clock.now(),
        )
        session.add(row)
    else:
        _check_kind_change(session, row, body.kind)
        row.name, row.kind, row.pooling_region, row.coordination, row.supplements = (
            body.name,
            body.kind,
            body.pooling_region,
            body.coordination,
            body.supplements,
        )
        row.updated_at = clock.now()
    session.flush()
    return Put(row, created)


def get_scheme(session: Session, *, code: str) -> db.Scheme:
    return _scheme(session, code)


def list_schemes(session: Session) -> list[db.Scheme]:
    return list(session.scalars(select(db.Scheme).order_by(col(db.Scheme.code))))


# --- catalogs ---------------------------------------------------------------------------


def parse_catalog_csv(text: str, *, effective_from: date | None, effective_to: date | None) -> CatalogCreate:
    """A catalog version from CSV with the header of ``api.md`` (``settings`` split on ``|``).

    Field errors are located in what it is given: ``("effective_from",)``; the CSV ``text`` as
    ``("csv",)``, its line n (the header is 0) as ``("csv", n)``; the catalog the lines make as
    ``("catalog", *field)``, e.g. ``("catalog", "entries", 0, "price_cap")``.  A missing
    ``effective_from`` and the CSV's errors are reported together."""
    errors: list[FieldError] = []
    if effective_from is None:
        errors.append(FieldError(("effective_from",), "a CSV catalog needs effective_from as a query parameter"))
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        errors.append(FieldError(("csv",), f"the CSV cannot be read: {exc}"))
        raise ValidationFailed(errors) from None
    header = rows[0] if rows else None
    if header is None or [h.strip() for h in header] != CSV_HEADER:
        errors.append(FieldError(("csv", 0), "the first CSV line must be the header " + ",".join(CSV_HEADER)))
        raise ValidationFailed(errors)
    entries: list[dict[str, Any]] = []
    for n, cells in enumerate(rows[1:], start=1):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(CSV_HEADER):
            errors.append(
                FieldError(("csv", n), f"CSV line {n + 1} has {len(cells)} cells, expected {len(CSV_HEADER)}")
            )
            continue
        raw = dict(zip(CSV_HEADER, (c.strip() for c in cells), strict=True))
        entry: dict[str, Any] = {k: v for k, v in raw.items() if v != ""}
        if "settings" in entry:
            entry["settings"] = [s.strip() for s in entry["settings"].split("|") if s.strip()]
        entries.append(entry)
    if errors:
        raise ValidationFailed(errors)
    try:
        return CatalogCreate.model_validate(
            {"effective_from": effective_from, "effective_to": effective_to, "entries": entries},
            strict=False,  # CSV cells are text: "2" is a level here
        )
    except ValidationError as exc:
        raise ValidationFailed(
            [FieldError(("catalog", *e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
        ) from None


def _with_entries(session: Session, version: db.CatalogVersion) -> Catalog:
    """The version with its entries, read in code order."""
    entries = session.scalars(
        select(db.CatalogEntry)
        .where(col(db.CatalogEntry.catalog_version_id) == version.id)
        .order_by(col(db.CatalogEntry.code))
    )
    return Catalog(version, list(entries))


def put_catalog(session: Session, *, scheme_code: str, version: str, body: CatalogCreate) -> Put[Catalog]:
    path_key(body.version, version, "version")
    scheme = _scheme(session, scheme_code, lock=True)
    if scheme.kind in t.TIER_KINDS:
        raise ValidationFailed(
            [FieldError(("scheme_code",), f"{scheme_code} is a {scheme.kind} tier: a tier has no catalog")]
        )
    row = session.scalars(
        select(db.CatalogVersion)
        .where(col(db.CatalogVersion.scheme_code) == scheme_code, col(db.CatalogVersion.version) == version)
        .with_for_update()
    ).one_or_none()
    created = row is None
    if row is None:
        row = db.CatalogVersion(
            scheme_code=scheme_code,
            version=version,
            effective_from=body.effective_from,
            effective_to=body.effective_to,
            used=False,
            updated_at=clock.now(),
        )
        session.add(row)
        session.flush()
    else:
        if row.used:
            raise Conflict(
                f"catalog version {version} of {scheme_code} was used by a settlement and cannot be replaced; "
                "publish a new version"
            )
        row.effective_from, row.effective_to, row.updated_at = body.effective_from, body.effective_to, clock.now()
        session.execute(delete(db.CatalogEntry).where(col(db.CatalogEntry.catalog_version_id) == row.id))
    if body.entries:
        session.execute(
            insert(db.CatalogEntry),
            [
                {
                    "catalog_version_id": row.id,
                    "code": e.code,
                    "name": e.name,
                    "category": e.category,
                    "klass": e.class_,
                    "self_pay_ratio": e.self_pay_ratio,
                    "price_cap": e.price_cap,
                    "settings": "|".join(e.settings) if e.settings else None,
                    "min_hospital_level": e.min_hospital_level,
                }
                for e in body.entries
            ],
        )
    session.flush()
    return Put(_with_entries(session, row), created)


def get_catalog(session: Session, *, scheme_code: str, version: str) -> Catalog:
    row = session.scalars(
        select(db.CatalogVersion).where(
            col(db.CatalogVersion.scheme_code) == scheme_code, col(db.CatalogVersion.version) == version
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"{scheme_code} has no catalog version {version}")
    return _with_entries(session, row)


# --- policies ---------------------------------------------------------------------------


def put_policy(session: Session, *, scheme_code: str, year: int, body: AnyPolicyCreate) -> Put[db.Policy]:
    path_key(body.year, year, "year")
    scheme = _scheme(session, scheme_code, lock=True)
    if scheme.kind == "large_amount":
        model: type[AnyPolicyCreate] = LargeAmountPolicyCreate
        shape = "{year, annual_cap, bands: [{up_to, ratio}]} (no threshold)"
    elif scheme.kind in t.TIER_KINDS:
        model, shape = TierPolicyCreate, "{year, annual_cap, threshold, bands: [{up_to, ratio}]}"
    else:
        model, shape = PolicyCreate, "{year, annual_cap, inpatient, ...}"
    if not isinstance(body, model):
        raise ValidationFailed(
            [FieldError((), f"{scheme_code} is a {scheme.kind} scheme: its policy has the shape {shape}")]
        )
    document = body.model_dump(mode="json", by_alias=True)
    document["year"] = year
    row = session.scalars(
        select(db.Policy)
        .where(col(db.Policy.scheme_code) == scheme_code, col(db.Policy.year) == year)
        .with_for_update()
    ).one_or_none()
    created = row is None
    if row is None:
        row = db.Policy(
            scheme_code=scheme_code,
            year=year,
            annual_cap=body.annual_cap,
            body=document,
            used=False,
            updated_at=clock.now(),
        )
        session.add(row)
    else:
        if row.used:
            raise Conflict(f"the {year} policy of {scheme_code} was used by a settlement and cannot be replaced")
        row.annual_cap, row.body, row.updated_at = body.annual_cap, document, clock.now()
    session.flush()
    return Put(row, created)


def get_policy(session: Session, *, scheme_code: str, year: int) -> db.Policy:
    row = session.scalars(
        select(db.Policy).where(col(db.Policy.scheme_code) == scheme_code, col(db.Policy.year) == year)
    ).one_or_none()
    if row is None:
        raise NotFound(f"{scheme_code} has no policy for {year}")
    return row


# --- members ----------------------------------------------------------------------------


def put_member(session: Session, *, scheme_code: str, member_no: str, body: MemberCreate) -> Put[db.Member]:
    path_key(body.member_no, member_no, "member_no")
    errors = id_number_errors(body.id_number, ("id_number",))
    if errors:
        raise ValidationFailed(errors)
    scheme = _scheme(session, scheme_code, lock=True)
    if scheme.kind in ("serious_illness", "large_amount"):
        raise ValidationFailed(
            [
                FieldError(
                    ("scheme_code",),
                    f"{scheme_code} is a {scheme.kind} tier: it covers every member of {scheme.supplements} "
                    "and has no members of its own",
                )
            ]
        )
    dump = body.model_dump(mode="json", by_alias=True)
    coverage = [{"from": c["from"], "to": c["to"]} for c in dump["coverage"]]
    registrations = [
        {"destination_region": r["destination_region"], "from": r["from"], "to": r["to"]}
        for r in dump["offsite_registrations"]
    ]
    rows = list(
        session.scalars(
            select(db.Member)
            .where(
                col(db.Member.scheme_code) == scheme_code,
                (col(db.Member.member_no) == member_no) | (col(db.Member.id_number) == body.id_number),
            )
            .with_for_update()
        )
    )
    row = next((r for r in rows if r.member_no == member_no), None)
    if any(r.member_no != member_no for r in rows):
        raise Conflict(f"this person is already a member of {scheme_code} under another member number")
    created = row is None
    if row is None:
        row = db.Member(
            scheme_code=scheme_code,
            member_no=member_no,
            id_number=body.id_number,
            name=body.name,
            coverage=coverage,
            offsite_registrations=registrations,
            updated_at=clock.now(),
        )
        session.add(row)
    else:
        row.id_number, row.name, row.coverage, row.offsite_registrations = (
            body.id_number,
            body.name,
            coverage,
            registrations,
        )
        row.updated_at = clock.now()
    session.flush()
    return Put(row, created)


def get_member(session: Session, *, scheme_code: str, member_no: str) -> db.Member:
    row = session.scalars(
        select(db.Member).where(col(db.Member.scheme_code) == scheme_code, col(db.Member.member_no) == member_no)
    ).one_or_none()
    if row is None:
        raise NotFound(f"{scheme_code} has no member {member_no}")
    return row
