"""The fixed locking order of the ledger.

Every write that moves money locks, in this order and nowhere else:

1. the bill's row (``SELECT ... FOR UPDATE``): serialises everything that touches one bill;
2. the person/scheme/year accumulator rows, sorted by scheme code (created first when
   missing, with an insert that ignores a concurrent creator).

Reference rows that a settlement reads (catalog versions, policy) are taken ``FOR SHARE`` so
they cannot be replaced under it.  On SQLite ``BEGIN IMMEDIATE`` already serialises writers
and the ``FOR`` clauses are no-ops.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db.tables import Bill, YearTotal
from app.engine.money import ZERO


def lock_bill(session: Session, bill_id: str) -> Bill | None:
    return session.scalars(select(Bill).where(col(Bill.id) == bill_id).with_for_update()).one_or_none()


@dataclass(frozen=True, slots=True, order=True)
class YearKey:
    scheme_code: str
    id_number: str
    year: int


def lock_year_totals(session: Session, keys: Iterable[YearKey]) -> dict[YearKey, YearTotal]:
    """Create missing accumulators and lock them all, in scheme-code order."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = [
        {
            "id_number": k.id_number,
            "scheme_code": k.scheme_code,
            "year": k.year,
            "fund_paid": ZERO,
            "deductible_inpatient": ZERO,
            "deductible_outpatient": ZERO,
        }
        for k in wanted
    ]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(YearTotal).values(rows).on_conflict_do_nothing())
    found: dict[YearKey, YearTotal] = {}
    for key in wanted:
        row = session.scalars(
            select(YearTotal)
            .where(
                col(YearTotal.id_number) == key.id_number,
                col(YearTotal.scheme_code) == key.scheme_code,
                col(YearTotal.year) == key.year,
            )
            .with_for_update()
        ).one()
        found[key] = row
    return found


def read_year_total(session: Session, key: YearKey) -> tuple[Decimal, Decimal, Decimal]:
    row = session.get(YearTotal, (key.id_number, key.scheme_code, key.year))
    if row is None:
        return ZERO, ZERO, ZERO
    return row.fund_paid, row.deductible_inpatient, row.deductible_outpatient
