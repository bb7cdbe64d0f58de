"""The fixed locking order of the ledger.

Every write that moves money locks, in this order and nowhere else:

1. the bill's row (``SELECT ... FOR UPDATE``): serialises everything that touches one bill;
2. the reference rows of each scheme it settles under, scheme by scheme in code order: the
   policy, then the catalog versions in id order, ``FOR NO KEY UPDATE`` while they are not yet
   marked used.  That keeps an administrator from replacing them under the settlement, and
   this settlement is about to mark them used (with ``FOR SHARE`` two settlements would both
   hold the row and then both wait to update it: a deadlock).  Once used they are never
   replaced again (the ``PUT`` answers 409), so they are read without a lock: a stream of
   ``FOR SHARE`` holders would starve the administrator's ``FOR UPDATE`` for seconds.  A claim
   marks them used ahead, in a short transaction of its own that takes only these locks
   (:func:`mark_used_ahead`), so that its own transaction finds them used;
3. the person/scheme/year accumulator rows (``year_total``: schemes' and tiers' alike), sorted by
   scheme code (each locked if it exists, else created with an insert that ignores a concurrent
   creator, then locked);
4. the employers' accumulator rows (``employer_year_total``, v2.5), sorted by scheme code and
   employer code, in the same way.

A single settlement needs one scheme, a reversal only the bill and one accumulator.  A tier
(v2.3) reads its basis from the bill's settlements, which the bill's lock already protects,
and takes its own policy and ``year_total`` row like any scheme.  A claim
settles several schemes in the order it was given (the order matters for coordination), so it
first takes the locks of all of them in the order above (:func:`lock_for_settlements`).
On SQLite ``BEGIN IMMEDIATE`` already serialises writers and the ``FOR`` clauses are no-ops.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Date, Select, Table, TextualSelect, Update, and_, bindparam, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db.direct import connection_of, execute, execute_one
from app.db.session import get_engine
from app.db.tables import (
    Accumulates,
    Bill,
    CatalogVersion,
    EmployerYearTotal,
    Member,
    Policy,
    Scheme,
    YearTotal,
    core_table,
)
from app.engine import types as t
from app.engine.catalog import version_in_effect
from app.engine.money import ZERO


def lock_bill(session: Session, bill_id: str) -> Bill | None:
    return session.scalars(select(Bill).where(col(Bill.id) == bill_id).with_for_update()).one_or_none()


log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, order=True)
class YearKey:
    scheme_code: str
    id_number: str
    year: int


@dataclass(frozen=True, slots=True, order=True)
class EmployerYearKey:
    scheme_code: str
    employer_code: str
    id_number: str
    year: int


@dataclass(eq=False)
class Totals(Accumulates):
    """An accumulator row as read under its lock.  The settlement (or reversal) moves it in memory
    and writes it back with :func:`save_totals`: the same row, the same values as an ORM flush,
    without the ORM's entity loading and unit of work on the hot path."""

    table: Table
    key: Any
    fund_paid: Decimal
    deductible_inpatient: Decimal
    deductible_outpatient: Decimal
    #: A tier's yearly compliant self-pay axis (``year_total`` only).
    compliant_self_pay: Decimal = ZERO


def _amount_columns(table: Table) -> list[str]:
    return [c.name for c in table.columns if not c.primary_key]


@cache
def _pg_lock_or_create(table: Table) -> TextualSelect:
    """One statement: lock the row if it exists, else insert it (ignoring a concurrent creator).

    The ``found`` part locks an existing row straight away (``FOR UPDATE``); only when there is
    none does ``made`` insert it, ``ON CONFLICT DO NOTHING``.  No row back means a concurrent
    transaction created it meanwhile: the caller then locks it with a plain ``FOR UPDATE``."""
    keys = [c.name for c in table.primary_key.columns]
    amounts = _amount_columns(table)
    where = " AND ".join(f"{k} = :{k}" for k in keys)
    listed = ", ".join(amounts)
    # Table and column names from the metadata, values as bound parameters.
    sql = (
        f"WITH found AS (SELECT {listed} FROM {table.name} WHERE {where} FOR UPDATE), "  # noqa: S608
        f"made AS (INSERT INTO {table.name} ({', '.join(keys)}, {listed}) "
        f"SELECT {', '.join(f':{k}' for k in keys)}, {', '.join('0' for _ in amounts)} "
        f"WHERE NOT EXISTS (SELECT FROM found) ON CONFLICT DO NOTHING RETURNING {listed}) "
        f"SELECT {listed} FROM found UNION ALL SELECT {listed} FROM made"
    )
    return text(sql).columns(*(table.c[a] for a in amounts))


@cache
def _select_locked(table: Table) -> Select[Any]:
    keys = [c.name for c in table.primary_key.columns]
    stmt = select(*(table.c[a] for a in _amount_columns(table)))
    return stmt.where(*(table.c[k] == bindparam(k) for k in keys)).with_for_update()


@cache
def totals_update(table: Table) -> Update:
    """The update of an accumulator row; its parameters: :func:`totals_params`."""
    keys = [c.name for c in table.primary_key.columns]
    return (
        update(table)
        .where(*(table.c[k] == bindparam(f"k_{k}") for k in keys))
        .values({a: bindparam(a, type_=table.c[a].type) for a in _amount_columns(table)})
    )


def totals_params(totals: Totals) -> dict[str, Any]:
    params = {f"k_{k}": v for k, v in asdict(totals.key).items()}
    params.update({a: getattr(totals, a) for a in _amount_columns(totals.table)})
    return params


def save_totals(session: Session, totals: Totals) -> None:
    """Write a moved accumulator back (its row is locked by this transaction)."""
    execute(session, totals_update(totals.table), totals_params(totals))


def _lock_or_create(session: Session, table: type[Any], keys: Iterable[Any]) -> dict[Any, Totals]:
    """Lock the accumulator rows of ``keys`` one by one in key order, creating those that are missing.

    An existing row is locked straight away: inserting first (``ON CONFLICT DO NOTHING``)
    would make PostgreSQL wait for the row's current holder once for the insert and again
    for the lock, and lets later arrivals overtake in between.  On PostgreSQL the lock and
    the creation are one statement (:func:`_pg_lock_or_create`).
    """
    found: dict[Any, Totals] = {}
    conn = connection_of(session)
    pg = conn.dialect.name == "postgresql"
    tbl = core_table(table)
    held = _held(session)
    for key in sorted(set(keys)):
        if (table, key) in held:
            found[key] = held[(table, key)]
            continue
        params = asdict(key)
        row = execute_one(conn, _pg_lock_or_create(tbl), params) if pg else None
        if row is None:
            locked = _select_locked(tbl)
            row = execute_one(conn, locked, params)
            if row is None:
                zeros = dict.fromkeys(_amount_columns(tbl), ZERO)
                insert = postgresql.insert if pg else sqlite.insert
                conn.execute(insert(tbl).values(**params, **zeros).on_conflict_do_nothing())
                row = execute_one(conn, locked, params)
                assert row is not None
        found[key] = held[(table, key)] = Totals(tbl, key, **row._asdict())
    return found


def _held(session: Session) -> dict[Any, Any]:
    """What this transaction already locked (or read as used, hence immutable), by what it asked
    for: asked again (``lock_for_settlements`` first, then the settlement itself), it is not read
    again.  The session is the transaction's own (``write_transaction`` opens one per attempt), a
    locked row cannot change under it, the accumulators are the same :class:`Totals` the settlement
    moves, and a used reference row never changes."""
    held: dict[Any, Any] = session.info.setdefault("locks_held", {})
    return held


def lock_year_totals(session: Session, keys: Iterable[YearKey]) -> dict[YearKey, Totals]:
    """Step 3: the person/scheme/year accumulators, in scheme-code order."""
    return _lock_or_create(session, YearTotal, keys)


def lock_employer_year_totals(session: Session, keys: Iterable[EmployerYearKey]) -> dict[EmployerYearKey, Totals]:
    """Step 4: an employer's accumulators, in (scheme code, employer code) order."""
    return _lock_or_create(session, EmployerYearTotal, keys)


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """A policy row as a settlement needs it.  ``body`` is None when it was not read: a used
    policy's parsed form is kept per process (:func:`app.ledger.loading.load_policy`)."""

    id: int
    used: bool
    updated_at: datetime
    body: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A member row as a settlement needs it."""

    member_no: str
    id_number: str
    name: str
    coverage: list[dict[str, Any]]
    offsite_registrations: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class VersionRow:
    """A catalog version row (its entries are read or cached by :mod:`app.ledger.loading`)."""

    id: int
    version: str
    effective_from: date
    effective_to: date | None
    used: bool
    updated_at: datetime


_SCHEME = core_table(Scheme)
_MEMBER = core_table(Member)
_POLICY = core_table(Policy)
_VERSION = core_table(CatalogVersion)
_VERSION_COLUMNS = (
    _VERSION.c.id,
    _VERSION.c.version,
    _VERSION.c.effective_from,
    _VERSION.c.effective_to,
    _VERSION.c.used,
    _VERSION.c.updated_at,
)
_IN_EFFECT = (
    _VERSION.c.effective_from <= bindparam("last", type_=Date),
    or_(_VERSION.c.effective_to.is_(None), _VERSION.c.effective_to >= bindparam("first", type_=Date)),
)


@cache
def _references(n: int) -> Select[Any]:
    """Everything the settlements of one bill read of its ``n`` schemes, in one statement: per
    scheme its row, the patient's membership, the policy of the year (without its document) and
    the catalog versions in effect (one result row per version).  Nothing in it is locked; rows
    that are not yet used are locked afterwards (:func:`read_references`).  The scheme codes are
    the parameters ``code_0`` ... ``code_{n-1}``: a statement per count, compiled once."""
    return (
        select(
            _SCHEME.c.code,
            _SCHEME.c.name,
            _SCHEME.c.kind,
            _SCHEME.c.pooling_region,
            _SCHEME.c.coordination,
            _SCHEME.c.supplements,
            _MEMBER.c.member_no,
            _MEMBER.c.id_number,
            _MEMBER.c.name.label("member_name"),
            _MEMBER.c.coverage,
            _MEMBER.c.offsite_registrations,
            _POLICY.c.id.label("policy_id"),
            _POLICY.c.used.label("policy_used"),
            _POLICY.c.updated_at.label("policy_updated_at"),
            *(c.label(f"version_{c.name}") for c in _VERSION_COLUMNS),
        )
        .select_from(_SCHEME)
        .outerjoin(
            _MEMBER, and_(_MEMBER.c.scheme_code == _SCHEME.c.code, _MEMBER.c.id_number == bindparam("id_number"))
        )
        .outerjoin(_POLICY, and_(_POLICY.c.scheme_code == _SCHEME.c.code, _POLICY.c.year == bindparam("year")))
        .outerjoin(_VERSION, and_(_VERSION.c.scheme_code == _SCHEME.c.code, *_IN_EFFECT))
        .where(_SCHEME.c.code.in_([bindparam(f"code_{i}") for i in range(n)]))
        .order_by(_SCHEME.c.code, _VERSION.c.id)
    )


_LOCK_POLICY = (
    select(_POLICY.c.id, _POLICY.c.used, _POLICY.c.updated_at, _POLICY.c.body)
    .where(_POLICY.c.scheme_code == bindparam("code"), _POLICY.c.year == bindparam("year"))
    .with_for_update(key_share=True)
)
_LOCK_VERSIONS = (
    select(*_VERSION_COLUMNS)
    .where(_VERSION.c.scheme_code == bindparam("code"), *_IN_EFFECT)
    .order_by(_VERSION.c.id)
    .with_for_update(key_share=True)
)


def read_references(session: Session, bill: t.Bill, scheme_codes: Iterable[str]) -> None:
    """Step 2 of the order for these schemes: their reference rows, read once per transaction.

    One statement reads every scheme's row, the patient's membership, the policy of the bill's
    year and the catalog versions in effect over its service days; what it finds is kept for
    the transaction (:func:`_held`), where :func:`held_scheme`, :func:`held_member`,
    :func:`lock_policy` and :func:`lock_catalog_versions` find it.  Rows that are used can never
    change again, so they need no lock.  A policy or catalog version not yet used is then locked
    ``FOR NO KEY UPDATE`` and read again under its lock, scheme by scheme in code order, the
    policy before the versions (as the module's order says).  The scheme and member rows are
    read as a settlement always read them: unlocked, as committed when the statement ran.
    """
    held = _held(session)
    year = bill.policy_year
    days = [bill.service_day(line) for line in bill.items]
    first, last = min(days), max(days)
    codes = sorted({c for c in scheme_codes if ("catalogs", c, first, last) not in held})
    if not codes:
        return
    url = session.get_bind().engine.url
    params: dict[str, Any] = {"id_number": bill.patient_id_number, "year": year, "first": first, "last": last}
    params.update({f"code_{i}": code for i, code in enumerate(codes)})
    conn = connection_of(session)
    found: dict[str, list[Any]] = {}
    for row in execute(conn, _references(len(codes)), params):
        found.setdefault(row.code, []).append(row)
    for code in codes:
        rows = found.get(code)
        if not rows:
            held[("scheme", code)] = None
            held[("member", code, bill.patient_id_number)] = None
            held[("policy", code, year)] = None
            held[("catalogs", code, first, last)] = []
            continue
        r = rows[0]
        _found_used[(url, code)] = bool(r.policy_used) and all(x.version_used for x in rows if x.version_id is not None)
        held[("scheme", code)] = t.Scheme(r.code, r.name, r.kind, r.pooling_region, r.coordination, r.supplements)
        member = None
        if r.member_no is not None:
            member = MemberRow(r.member_no, r.id_number, r.member_name, r.coverage, r.offsite_registrations)
        held[("member", code, bill.patient_id_number)] = member
        policy = None if r.policy_id is None else PolicyRow(r.policy_id, r.policy_used, r.policy_updated_at)
        if policy is not None and not policy.used:
            locked = execute_one(conn, _LOCK_POLICY, {"code": code, "year": year})
            policy = None if locked is None else PolicyRow(*locked)
        held[("policy", code, year)] = policy
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
        held[("catalogs", code, first, last)] = versions


#: Per process, by database and scheme code: whether the last :func:`read_references` of this
#: process found the scheme's policy and catalog versions all used.  Then :func:`mark_used_ahead`
#: has nothing to do and costs no statement.  A hint only: a new version published since is found
#: unused by the settlement's own read (and locked there, as before), which resets the hint.
_found_used: dict[tuple[URL, str], bool] = {}

#: The patient is a member of the scheme, or of the scheme it supplements (a serious-illness
#: tier has no members of its own): only such a claim marks the scheme's rows ahead, so a claim
#: about a stranger cannot make a scheme's unused policy or catalog unreplaceable.
_ENROLLED = (
    select(_MEMBER.c.id_number)
    .where(
        _MEMBER.c.id_number == bindparam("id_number"),
        or_(
            _MEMBER.c.scheme_code == bindparam("code"),
            _MEMBER.c.scheme_code
            == select(_SCHEME.c.supplements).where(_SCHEME.c.code == bindparam("code")).scalar_subquery(),
        ),
    )
    .exists()
)
_MARK_POLICY = (
    update(_POLICY)
    .where(
        _POLICY.c.scheme_code == bindparam("code"),
        _POLICY.c.year == bindparam("b_year"),
        _POLICY.c.used.is_(False),
        _ENROLLED,
    )
    .values(used=True)
)
_VERSIONS_IN_EFFECT = (
    select(_VERSION.c.id, _VERSION.c.version, _VERSION.c.effective_from, _VERSION.c.effective_to)
    .where(_VERSION.c.scheme_code == bindparam("code"), *_IN_EFFECT, _ENROLLED)
    .order_by(_VERSION.c.id)
)
_LOCKED_UNUSED = (
    select(_VERSION.c.id)
    .where(_VERSION.c.id.in_(bindparam("ids", expanding=True)), _VERSION.c.used.is_(False))
    .order_by(_VERSION.c.id)
    .with_for_update(key_share=True)
)
_MARK_VERSIONS = update(_VERSION).where(_VERSION.c.id.in_(_LOCKED_UNUSED.scalar_subquery())).values(used=True)


def references_known_used(scheme_codes: Iterable[str]) -> bool:
    """Whether this process last found the reference rows of all these schemes used (a hint)."""
    url = get_engine().url
    return all(_found_used.get((url, code), False) for code in scheme_codes)


def mark_used_ahead(bill: t.Bill, scheme_codes: Iterable[str]) -> None:
    """PostgreSQL: mark the policy and catalog versions that settling ``bill`` under these schemes
    is about to use as used, in a short transaction of their own that commits *before* the
    settlement's transaction starts.

    A reference row not yet used is locked ``FOR NO KEY UPDATE`` by the settlement that is about
    to mark it used, until that settlement commits; at a cold start every concurrent first
    settlement of a scheme would queue on that one row. Marked (and committed) here, the rows
    are found used by the settlement's own read and need no lock at all. This transaction takes
    only step 2 of the fixed order (policy, then the versions in id order, scheme by scheme in
    code order) and nothing else, so it can be in no cycle. It is conservative: a row marked
    here stays unreplaceable (the administrator's ``PUT`` answers 409) even if the settlement
    that was about to use it is then refused. Only a claim about a member of the scheme (or of
    the scheme it supplements) marks its rows: a claim about a stranger marks nothing. The
    versions marked are those the engine would pick for the bill's service days
    (:func:`app.engine.catalog.version_in_effect`). Nothing depends on it for correctness (a
    settlement still locks what it finds unused), so when it fails (database away, lock timeout)
    the settlement simply goes ahead without it.
    """
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        return  # SQLite: one writer at a time anyway
    year = bill.policy_year
    days = sorted({bill.service_day(line) for line in bill.items})
    try:
        with engine.begin() as conn:
            for code in sorted(set(scheme_codes)):
                who = {"code": code, "id_number": bill.patient_id_number}
                conn.execute(_MARK_POLICY, {**who, "b_year": year})
                versions = conn.execute(_VERSIONS_IN_EFFECT, {**who, "first": days[0], "last": days[-1]}).all()
                engine_versions = [t.CatalogVersion(v.version, v.effective_from, v.effective_to, {}) for v in versions]
                chosen = {c.version for c in (version_in_effect(engine_versions, d) for d in days) if c is not None}
                ids = [v.id for v in versions if v.version in chosen]
                if ids:
                    conn.execute(_MARK_VERSIONS, {"ids": ids})
    except SQLAlchemyError as exc:
        log.info("reference rows not marked ahead: %s", str(exc).strip().splitlines()[0][:200])


def held_scheme(session: Session, code: str) -> t.Scheme | None:
    """The scheme as :func:`read_references` read it in this transaction."""
    scheme: t.Scheme | None = _held(session)[("scheme", code)]
    return scheme


def held_member(session: Session, code: str, id_number: str) -> MemberRow | None:
    """The patient's membership row of the scheme as :func:`read_references` read it, or None."""
    member: MemberRow | None = _held(session)[("member", code, id_number)]
    return member


def lock_policy(session: Session, scheme_code: str, year: int) -> PolicyRow | None:
    """The scheme's policy for ``year`` as :func:`read_references` read (and if unused, locked) it
    in this transaction; None when there is none."""
    row: PolicyRow | None = _held(session)[("policy", scheme_code, year)]
    return row


def lock_catalog_versions(session: Session, scheme_code: str, first: date, last: date) -> list[VersionRow]:
    """The scheme's catalog versions in effect on some day of ``[first, last]``, in id order, as
    :func:`read_references` read them (all locked while one of them is not yet used)."""
    return list(_held(session)[("catalogs", scheme_code, first, last)])


def lock_for_settlements(session: Session, bill: t.Bill, scheme_codes: Iterable[str]) -> None:
    """Take every lock that settling ``bill`` (already locked) under these schemes needs, in the
    fixed order, before the first of them is settled.

    Without this, two claims naming the same person's schemes in different orders would lock
    the accumulators (and unused reference rows) in different orders and deadlock.  Rows of a
    scheme that does not exist, or has no policy, are simply not there to lock; the settlement
    itself then refuses the request, and the transaction is rolled back with what it created.
    """
    codes = sorted(set(scheme_codes))
    read_references(session, bill, codes)
    year = bill.policy_year
    lock_year_totals(session, [YearKey(code, bill.patient_id_number, year) for code in codes])
