"""Step 2 of the fixed order (:mod:`app.ledger.lock_order`): the reference rows a settlement
reads, each read once per transaction and then taken from the unit of work.

One statement reads every scheme's row, the patient's membership, the policy of the bill's year
and the catalog versions in effect over its service days (:func:`read_references`).  A policy or
catalog version already used can never change again (the administrator's ``PUT`` answers 409),
so it needs no lock: a stream of ``FOR SHARE`` holders would starve the administrator's
``FOR UPDATE`` for seconds.  One not yet used is locked ``FOR NO KEY UPDATE`` and read again under
its lock, scheme by scheme in code order, the policy before the versions: that keeps an
administrator from replacing it under the settlement, which is about to mark it used (with
``FOR SHARE`` two settlements would both hold the row and then both wait to update it: a
deadlock).  The scheme and member rows are read unlocked, as committed when the statement ran.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import Date, Select, and_, bindparam, or_, select

from app.db.direct import execute, execute_one
from app.db.params import Params
from app.db.tables import CatalogVersion, Member, Policy, Scheme, core_table
from app.engine import types as t
from app.ledger import used_hint
from app.ledger.rows import MemberRow, PolicyRow, VersionRow
from app.ledger.work import LedgerWork

SCHEME = core_table(Scheme)
MEMBER = core_table(Member)
POLICY = core_table(Policy)
VERSION = core_table(CatalogVersion)
_VERSION_COLUMNS = (
    VERSION.c.id,
    VERSION.c.version,
    VERSION.c.effective_from,
    VERSION.c.effective_to,
    VERSION.c.used,
    VERSION.c.updated_at,
)
#: A catalog version in effect on some day of ``[first, last]``.
IN_EFFECT = (
    VERSION.c.effective_from <= bindparam("last", type_=Date),
    or_(VERSION.c.effective_to.is_(None), VERSION.c.effective_to >= bindparam("first", type_=Date)),
)


@cache
def _references(n: int) -> Select[Any]:
    """Everything the settlements of one bill read of its ``n`` schemes, in one statement: per
    scheme its row, the patient's membership, the policy of the year (without its document) and
    the catalog versions in effect (one result row per version).  Nothing in it is locked.  The
    scheme codes are the parameters ``code_0`` ... ``code_{n-1}``: a statement per count, compiled
    once."""
    return (
        select(
            SCHEME.c.code,
            SCHEME.c.name,
            SCHEME.c.kind,
            SCHEME.c.pooling_region,
            SCHEME.c.coordination,
            SCHEME.c.supplements,
            MEMBER.c.member_no,
            MEMBER.c.id_number,
            MEMBER.c.name.label("member_name"),
            MEMBER.c.coverage,
            MEMBER.c.offsite_registrations,
            POLICY.c.id.label("policy_id"),
            POLICY.c.used.label("policy_used"),
            POLICY.c.updated_at.label("policy_updated_at"),
            *(c.label(f"version_{c.name}") for c in _VERSION_COLUMNS),
        )
        .select_from(SCHEME)
        .outerjoin(MEMBER, and_(MEMBER.c.scheme_code == SCHEME.c.code, MEMBER.c.id_number == bindparam("id_number")))
        .outerjoin(POLICY, and_(POLICY.c.scheme_code == SCHEME.c.code, POLICY.c.year == bindparam("year")))
        .outerjoin(VERSION, and_(VERSION.c.scheme_code == SCHEME.c.code, *IN_EFFECT))
        .where(SCHEME.c.code.in_([bindparam(f"code_{i}") for i in range(n)]))
        .order_by(SCHEME.c.code, VERSION.c.id)
    )


_LOCK_POLICY = (
    select(POLICY.c.id, POLICY.c.used, POLICY.c.updated_at, POLICY.c.body)
    .where(POLICY.c.scheme_code == bindparam("code"), POLICY.c.year == bindparam("year"))
    .with_for_update(key_share=True)
)
_LOCK_VERSIONS = (
    select(*_VERSION_COLUMNS)
    .where(VERSION.c.scheme_code == bindparam("code"), *IN_EFFECT)
    .order_by(VERSION.c.id)
    .with_for_update(key_share=True)
)


def service_days(bill: t.Bill) -> tuple[date, date]:
    """The first and last day the bill's lines were served (the catalog versions' window)."""
    days = [bill.service_day(line) for line in bill.items]
    return min(days), max(days)


def read_references(work: LedgerWork, bill: t.Bill, scheme_codes: Iterable[str]) -> None:
    """The reference rows of these schemes for ``bill``, read (and the unused ones locked) once per
    transaction, as the module says; what is found is kept in ``work`` for :func:`held_scheme`,
    :func:`held_member`, :func:`held_policy` and :func:`held_catalog_versions`."""
    year = bill.policy_year
    first, last = service_days(bill)
    codes = sorted({c for c in scheme_codes if (c, first, last) not in work.catalogs})
    if not codes:
        return
    conn = work.connection
    params: Params = {"id_number": bill.patient_id_number, "year": year, "first": first, "last": last}
    params.update({f"code_{i}": code for i, code in enumerate(codes)})
    found: dict[str, list[Any]] = {}
    for row in execute(conn, _references(len(codes)), params):
        found.setdefault(row.code, []).append(row)
    for code in codes:
        rows = found.get(code)
        if not rows:
            work.schemes[code] = None
            work.members[(code, bill.patient_id_number)] = None
            work.policies[(code, year)] = None
            work.catalogs[(code, first, last)] = []
            continue
        r = rows[0]
        all_used = bool(r.policy_used) and all(x.version_used for x in rows if x.version_id is not None)
        used_hint.found(conn.engine.url, code, used=all_used)
        work.schemes[code] = t.Scheme(r.code, r.name, r.kind, r.pooling_region, r.coordination, r.supplements)
        member = None
        if r.member_no is not None:
            member = MemberRow(r.member_no, r.id_number, r.member_name, r.coverage, r.offsite_registrations)
        work.members[(code, bill.patient_id_number)] = member
        policy = None if r.policy_id is None else PolicyRow(r.policy_id, r.policy_used, r.policy_updated_at)
        if policy is not None and not policy.used:
            locked = execute_one(conn, _LOCK_POLICY, {"code": code, "year": year})
            policy = None if locked is None else PolicyRow(*locked)
        work.policies[(code, year)] = policy
        versions = [
            VersionRow(
                x.version_id,
                x.version_version,
                x.version_effective_from,
                x.version_effective_to,
                x.version_used,
                x.version_updated_at,
            )
            for x in rows
            if x.version_id is not None
        ]
        if not all(v.used for v in versions):
            locked_versions = execute(conn, _LOCK_VERSIONS, {"code": code, "first": first, "last": last})
            versions = [VersionRow(*x) for x in locked_versions]
        work.catalogs[(code, first, last)] = versions


def held_scheme(work: LedgerWork, code: str) -> t.Scheme | None:
    """The scheme as :func:`read_references` read it in this transaction (None: there is none)."""
    return work.schemes[code]


def held_member(work: LedgerWork, code: str, id_number: str) -> MemberRow | None:
    """The patient's membership row of the scheme as :func:`read_references` read it, or None."""
    return work.members[(code, id_number)]


def held_policy(work: LedgerWork, scheme_code: str, year: int) -> PolicyRow | None:
    """The scheme's policy for ``year`` as :func:`read_references` read (and if unused, locked) it
    in this transaction; None when there is none."""
    return work.policies[(scheme_code, year)]


def held_catalog_versions(work: LedgerWork, scheme_code: str, first: date, last: date) -> list[VersionRow]:
    """The scheme's catalog versions in effect on some day of ``[first, last]``, in id order, as
    :func:`read_references` read them (all locked while one of them is not yet used)."""
    return list(work.catalogs[(scheme_code, first, last)])
