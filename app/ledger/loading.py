"""Load what the engine needs for one settlement in a bounded number of queries.

Whatever the number of lines: one query for the scheme, one for the member, one for the
policy, one for the catalog versions in effect over the bill's service dates and one for the
entries of the bill's distinct codes in those versions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.engine import types as t
from app.engine.documents import policy_from_document, tier_policy_from_document
from app.errors import FieldError, NoCatalog, NoPolicy, ValidationFailed
from app.ledger import locks


def engine_bill(session: Session, row: db.Bill) -> t.Bill:
    """:func:`bill_to_engine`, built once per bill and transaction (a claim needs it for its locks
    and for each settlement): what it is built from (the hospital, patient, dates and lines)
    never changes once the bill is stored."""
    forms: dict[str, t.Bill] = session.info.setdefault("engine_bills", {})
    form = forms.get(row.id)
    if form is None:
        form = forms[row.id] = bill_to_engine(row)
    return form


def keep_engine_bill(session: Session, bill_id: str, form: t.Bill) -> None:
    """Keep ``form`` as :func:`engine_bill`'s of the bill ``bill_id`` that this transaction has just
    stored from it: what :func:`bill_to_engine` would read back from its row, Decimal for Decimal
    (:func:`app.services.bills.stored_form`)."""
    session.info.setdefault("engine_bills", {})[bill_id] = form


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
        work_injury=work_injury_to_engine(row.work_injury),
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


def work_injury_to_engine(doc: dict[str, Any] | None) -> t.WorkInjury | None:
    if doc is None:
        return None
    employer = doc["employer"]
    return t.WorkInjury(
        doc["determination_no"], date.fromisoformat(doc["injury_date"]), t.Employer(employer["code"], employer["name"])
    )


def work_injury_document(injury: t.WorkInjury | None) -> dict[str, Any] | None:
    """The stored (and shown) form of a bill's work injury."""
    if injury is None:
        return None
    return {
        "determination_no": injury.determination_no,
        "injury_date": injury.injury_date.isoformat(),
        "employer": {"code": injury.employer.code, "name": injury.employer.name},
    }


def scheme_to_engine(row: db.Scheme) -> t.Scheme:
    return t.Scheme(
        row.code,
        row.name,
        row.kind,  # type: ignore[arg-type]
        row.pooling_region,
        row.coordination,  # type: ignore[arg-type]
        row.supplements,
    )


def line_from_detail(line: dict[str, Any]) -> t.LineResult:
    """A classified line as stored in a settlement's ``detail`` (a tier's basis)."""
    excluded, over_limit, b_self_pay, in_scope = (
        Decimal(line[k]) for k in ("excluded", "over_limit", "b_self_pay", "in_scope")
    )
    return t.LineResult(
        line_no=line["line_no"],
        code=line["code"],
        klass=line["class"],
        amount=excluded + over_limit + b_self_pay + in_scope,
        excluded=excluded,
        over_limit=over_limit,
        b_self_pay=b_self_pay,
        in_scope=in_scope,
        reason=line["reason"],
    )


def basis_to_engine(row: Mapping[str, Any]) -> t.Basis:
    """A tier's basis from its settlement's row (as stored, or as a transaction just wrote it)."""
    return t.Basis(
        settlement_id=row["id"],
        scheme_code=row["scheme_code"],
        offsite=row["offsite"],
        registered=row["registered"],
        excluded=row["excluded"],
        over_limit=row["over_limit"],
        b_self_pay=row["b_self_pay"],
        in_scope=row["in_scope"],
        lines=tuple(line_from_detail(line) for line in row["detail"]["lines"]),
    )


def member_to_engine(row: db.Member | locks.MemberRow) -> t.Member:
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


def load_scheme(session: Session, code: str) -> t.Scheme:
    """The scheme as :func:`app.ledger.locks.read_references` read it in this transaction, or
    ``validation`` located at a settlement request's ``scheme_code``."""
    scheme = locks.held_scheme(session, code)
    if scheme is None:
        raise ValidationFailed([FieldError(("scheme_code",), f"there is no scheme {code!r}")])
    return scheme


def load_member(session: Session, scheme_code: str, id_number: str) -> t.Member | None:
    """The person's membership of the scheme (any coverage), or None, as
    :func:`app.ledger.locks.read_references` read it in this transaction."""
    member = locks.held_member(session, scheme_code, id_number)
    return None if member is None else member_to_engine(member)


#: Parsed policies and catalog entries of *used* rows, per process.  A used policy or catalog
#: version can never be replaced (409), so what was read once stays true; the key includes the
#: database and the row's ``updated_at``, so a row that was replaced before its first use, or a
#: test database rebuilt with the same ids, never hits a stale entry.  Bounded by the number of
#: used versions (a version of 50,000 entries is a few MB).
_policies: dict[tuple[str, int, object], t.Policy | t.TierPolicy] = {}
_catalog_entries: dict[tuple[str, int, object], dict[str, t.CatalogEntry]] = {}


def _cache_key(session: Session, row_id: int | None, updated_at: object) -> tuple[str, int, object]:
    return (str(session.get_bind().engine.url), row_id or 0, updated_at)


def parse_policy(document: dict[str, Any], year: int, *, tier: bool) -> t.Policy | t.TierPolicy:
    """A stored policy document in its engine form: a tier's shape or a scheme's."""
    if tier:
        return tier_policy_from_document(document, year)
    return policy_from_document(document, year)


def load_policy(session: Session, scheme: t.Scheme, year: int) -> tuple[locks.PolicyRow, t.Policy | t.TierPolicy]:
    """The policy, locked as :mod:`app.ledger.locks` says, and its engine form."""
    row = locks.lock_policy(session, scheme.code, year)
    if row is None:
        raise NoPolicy(f"{scheme.code} has no policy for {year}, the year of the discharge date")
    tier = scheme.kind in t.TIER_KINDS
    if not row.used:
        assert row.body is not None  # read under its lock
        return row, parse_policy(row.body, year, tier=tier)
    key = _cache_key(session, row.id, row.updated_at)
    policy = _policies.get(key)
    if policy is None:
        body = row.body
        if body is None:
            body = session.connection().execute(_POLICY_BODY, {"id": row.id}).scalar_one()
        policy = _policies[key] = parse_policy(body, year, tier=tier)
    return row, policy


_POLICY_BODY = select(db.core_table(db.Policy).c.body).where(db.core_table(db.Policy).c.id == bindparam("id"))


_ENTRY_COLUMNS = (
    col(db.CatalogEntry.catalog_version_id),
    col(db.CatalogEntry.code),
    col(db.CatalogEntry.name),
    col(db.CatalogEntry.category),
    col(db.CatalogEntry.klass),
    col(db.CatalogEntry.self_pay_ratio),
    col(db.CatalogEntry.price_cap),
    col(db.CatalogEntry.settings),
    col(db.CatalogEntry.min_hospital_level),
)


def _read_entries(
    session: Session, version_ids: list[int], codes: list[str] | None
) -> dict[int, dict[str, t.CatalogEntry]]:
    """Entries of these versions: only ``codes`` when given, else all of them (one query)."""
    stmt = select(*_ENTRY_COLUMNS).where(col(db.CatalogEntry.catalog_version_id).in_(version_ids))
    if codes is not None:
        stmt = stmt.where(col(db.CatalogEntry.code).in_(codes))
    entries: dict[int, dict[str, t.CatalogEntry]] = defaultdict(dict)
    for vid, code, name, category, klass, ratio, cap, settings, level in session.execute(stmt):
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
    return entries


def load_catalogs(
    session: Session, scheme_code: str, bill: t.Bill
) -> tuple[list[locks.VersionRow], tuple[t.CatalogVersion, ...]]:
    """The versions in effect over the bill's service dates and their entries for its codes.

    A used version's entries come from the process cache (all of them, read once); the others'
    are read for the bill's distinct codes only.  Either way a bounded number of queries.
    """
    days = [bill.service_day(line) for line in bill.items]
    first, last = min(days), max(days)
    versions = locks.lock_catalog_versions(session, scheme_code, first, last)
    if not versions:
        raise NoCatalog(f"{scheme_code} has no catalog version in effect between {first} and {last}")
    entries: dict[int, dict[str, t.CatalogEntry]] = {}
    missing_used = []
    for v in versions:
        if v.used:
            cached = _catalog_entries.get(_cache_key(session, v.id, v.updated_at))
            if cached is not None:
                entries[v.id or 0] = cached
            else:
                missing_used.append(v)
    if missing_used:
        loaded = _read_entries(session, [v.id or 0 for v in missing_used], None)
        for v in missing_used:
            entries[v.id or 0] = _catalog_entries[_cache_key(session, v.id, v.updated_at)] = loaded.get(v.id or 0, {})
    unused = [v.id or 0 for v in versions if not v.used]
    if unused:
        entries.update(_read_entries(session, unused, sorted({line.code for line in bill.items})))
    engine_versions = tuple(
        t.CatalogVersion(v.version, v.effective_from, v.effective_to, entries.get(v.id or 0, {})) for v in versions
    )
    return versions, engine_versions
