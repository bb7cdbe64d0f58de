"""The fixed locking order of the ledger.

Every write that moves money locks, in this order and nowhere else:

1. the bill's row (``SELECT ... FOR UPDATE``): serialises everything that touches one bill;
2. the reference rows of each scheme it settles under, scheme by scheme in code order: the
   policy, then the catalog versions in id order, ``FOR NO KEY UPDATE`` while they are not yet
   marked used.  That keeps an administrator from replacing them under the settlement, and
   this settlement is about to mark them used (with ``FOR SHARE`` two settlements would both
   hold the row and then both wait to update it: a deadlock).  Once used they are never
   replaced again (the ``PUT`` answers 409), so they are read without a lock: a stream of
   ``FOR SHARE`` holders would starve the administrator's ``FOR UPDATE`` for seconds;
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

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Select, Table, TextualSelect, Update, bindparam, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db.tables import Accumulates, Bill, CatalogVersion, EmployerYearTotal, Policy, YearTotal, core_table
from app.engine import types as t
from app.engine.money import ZERO


def lock_bill(session: Session, bill_id: str) -> Bill | None:
    return session.scalars(select(Bill).where(col(Bill.id) == bill_id).with_for_update()).one_or_none()


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
def _update_totals(table: Table) -> Update:
    keys = [c.name for c in table.primary_key.columns]
    return (
        update(table)
        .where(*(table.c[k] == bindparam(f"k_{k}") for k in keys))
        .values({a: bindparam(a, type_=table.c[a].type) for a in _amount_columns(table)})
    )


def save_totals(session: Session, totals: Totals) -> None:
    """Write a moved accumulator back (its row is locked by this transaction)."""
    params = {f"k_{k}": v for k, v in asdict(totals.key).items()}
    params.update({a: getattr(totals, a) for a in _amount_columns(totals.table)})
    session.connection().execute(_update_totals(totals.table), params)


def _lock_or_create(session: Session, table: type[Any], keys: Iterable[Any]) -> dict[Any, Totals]:
    """Lock the accumulator rows of ``keys`` one by one in key order, creating those that are missing.

    An existing row is locked straight away: inserting first (``ON CONFLICT DO NOTHING``)
    would make PostgreSQL wait for the row's current holder once for the insert and again
    for the lock, and lets later arrivals overtake in between.  On PostgreSQL the lock and
    the creation are one statement (:func:`_pg_lock_or_create`).
    """
    found: dict[Any, Totals] = {}
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    tbl = core_table(table)
    held = _held(session)
    for key in sorted(set(keys)):
        if (table, key) in held:
            found[key] = held[(table, key)]
            continue
        params = asdict(key)
        row = conn.execute(_pg_lock_or_create(tbl), params).one_or_none() if pg else None
        if row is None:
            locked = _select_locked(tbl)
            row = conn.execute(locked, params).one_or_none()
            if row is None:
                zeros = dict.fromkeys(_amount_columns(tbl), ZERO)
                insert = postgresql.insert if pg else sqlite.insert
                conn.execute(insert(tbl).values(**params, **zeros).on_conflict_do_nothing())
                row = conn.execute(locked, params).one()
        found[key] = held[(table, key)] = Totals(tbl, key, **row._mapping)
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


def lock_policy(session: Session, scheme_code: str, year: int) -> Policy | None:
    """The scheme's policy for ``year`` (step 2 of the order), locked unless already used (``used``
    never goes back to false); None when there is none."""
    held = _held(session)
    if ("policy", scheme_code, year) in held:
        row: Policy | None = held[("policy", scheme_code, year)]
        return row
    stmt = select(Policy).where(col(Policy.scheme_code) == scheme_code, col(Policy.year) == year)
    row = session.scalars(stmt).one_or_none()
    if row is not None and not row.used:
        locked = stmt.with_for_update(key_share=True).execution_options(populate_existing=True)
        row = session.scalars(locked).one_or_none()
    held[("policy", scheme_code, year)] = row
    return row


def lock_catalog_versions(session: Session, scheme_code: str, first: date, last: date) -> list[CatalogVersion]:
    """The scheme's catalog versions in effect on some day of ``[first, last]``, in id order; all
    locked while one of them is not yet used."""
    where = (
        col(CatalogVersion.scheme_code) == scheme_code,
        col(CatalogVersion.effective_from) <= last,
        or_(col(CatalogVersion.effective_to).is_(None), col(CatalogVersion.effective_to) >= first),
    )
    held = _held(session)
    if ("catalogs", scheme_code, first, last) in held:
        return list(held[("catalogs", scheme_code, first, last)])
    stmt = select(CatalogVersion).where(*where).order_by(col(CatalogVersion.id))
    rows = list(session.scalars(stmt))
    if not all(v.used for v in rows):
        locked = stmt.with_for_update(key_share=True).execution_options(populate_existing=True)
        rows = list(session.scalars(locked))
    held[("catalogs", scheme_code, first, last)] = rows
    return list(rows)


def lock_for_settlements(session: Session, bill: t.Bill, scheme_codes: Iterable[str]) -> None:
    """Take every lock that settling ``bill`` (already locked) under these schemes needs, in the
    fixed order, before the first of them is settled.

    Without this, two claims naming the same person's schemes in different orders would lock
    the accumulators (and unused reference rows) in different orders and deadlock.  Rows of a
    scheme that does not exist, or has no policy, are simply not there to lock; the settlement
    itself then refuses the request, and the transaction is rolled back with what it created.
    """
    codes = sorted(set(scheme_codes))
    year = bill.policy_year
    days = [bill.service_day(line) for line in bill.items]
    for code in codes:
        lock_policy(session, code, year)
        lock_catalog_versions(session, code, min(days), max(days))
    lock_year_totals(session, [YearKey(code, bill.patient_id_number, year) for code in codes])
