"""The accumulators: per person, scheme and year (``year_total``: schemes' and tiers' alike), and
per employer (``employer_year_total``, v2.5).  Steps 3 and 4 of the fixed order
(:mod:`app.ledger.lock_order`): locked in key order, created when missing, moved in memory by the
settlement or reversal (:class:`app.ledger.rows.Totals`) and written back with one update."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from functools import cache
from typing import Any

from sqlalchemy import Select, Table, TextualSelect, Update, bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from app.db.direct import execute, execute_one
from app.db.params import Params
from app.db.tables import EmployerYearTotal, YearTotal, core_table
from app.engine.money import ZERO
from app.ledger.rows import EmployerYearKey, Totals, YearKey
from app.ledger.work import LedgerWork

YEAR_TOTAL = core_table(YearTotal)
EMPLOYER_YEAR_TOTAL = core_table(EmployerYearTotal)


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


def totals_params(totals: Totals) -> Params:
    params: Params = {f"k_{k}": v for k, v in asdict(totals.key).items()}
    params.update({a: getattr(totals, a) for a in _amount_columns(totals.table)})
    return params


def save_totals(work: LedgerWork, totals: Totals) -> None:
    """Write a moved accumulator back (its row is locked by this transaction)."""
    execute(work.connection, totals_update(totals.table), totals_params(totals))


def _lock_or_create(
    work: LedgerWork, table: Table, keys: Iterable[YearKey | EmployerYearKey]
) -> dict[YearKey | EmployerYearKey, Totals]:
    """Lock the accumulator rows of ``keys`` one by one in key order, creating those that are missing.

    An existing row is locked straight away: inserting first (``ON CONFLICT DO NOTHING``)
    would make PostgreSQL wait for the row's current holder once for the insert and again
    for the lock, and lets later arrivals overtake in between.  On PostgreSQL the lock and
    the creation are one statement (:func:`_pg_lock_or_create`).  A row this transaction locked
    already is the same :class:`Totals` it moves (:attr:`app.ledger.work.LedgerWork.totals`).
    """
    found: dict[YearKey | EmployerYearKey, Totals] = {}
    conn = work.connection
    pg = work.postgresql
    held = work.totals
    for key in sorted(set(keys)):
        if (table, key) in held:
            found[key] = held[(table, key)]
            continue
        params = asdict(key)
        row = execute_one(conn, _pg_lock_or_create(table), params) if pg else None
        if row is None:
            locked = _select_locked(table)
            row = execute_one(conn, locked, params)
            if row is None:
                zeros = dict.fromkeys(_amount_columns(table), ZERO)
                insert = postgresql.insert if pg else sqlite.insert
                conn.execute(insert(table).values(**params, **zeros).on_conflict_do_nothing())
                row = execute_one(conn, locked, params)
                assert row is not None
        found[key] = held[(table, key)] = Totals(table, key, **row._asdict())
    return found


def lock_year_totals(work: LedgerWork, keys: Iterable[YearKey]) -> dict[YearKey, Totals]:
    """Step 3: the person/scheme/year accumulators, in scheme-code order."""
    locked = _lock_or_create(work, YEAR_TOTAL, keys)
    return {k: v for k, v in locked.items() if isinstance(k, YearKey)}


def lock_employer_year_totals(work: LedgerWork, keys: Iterable[EmployerYearKey]) -> dict[EmployerYearKey, Totals]:
    """Step 4: an employer's accumulators, in (scheme code, employer code) order."""
    locked = _lock_or_create(work, EMPLOYER_YEAR_TOTAL, keys)
    return {k: v for k, v in locked.items() if isinstance(k, EmployerYearKey)}


def year_total(work: LedgerWork, key: YearKey) -> Totals:
    """One person/scheme/year accumulator, locked (or as this transaction locked it)."""
    return lock_year_totals(work, [key])[key]


def employer_year_total(work: LedgerWork, key: EmployerYearKey) -> Totals:
    """One employer's accumulator, locked (or as this transaction locked it)."""
    return lock_employer_year_totals(work, [key])[key]
