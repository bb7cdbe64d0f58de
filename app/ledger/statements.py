"""The Core statements of a settlement's and a reversal's writes, built once (their parameters
apart): no ORM unit of work on the hot path.

On PostgreSQL a settlement's writes (its row, the bill's totals, the accumulator) and a
reversal's (the settlement marked reversed, its external payments inactive, the reversal's
record, the bill's paid total, the accumulator) each go as one statement
(:func:`app.db.combined.combined`); on SQLite the same parts go one by one, with the same
parameters.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Insert, Select, Table, Update, bindparam, insert, update

from app.db import tables as db
from app.db.combined import combined, insert_named, update_named
from app.ledger.accumulators import totals_update

SETTLEMENT = db.core_table(db.Settlement)
EXTERNAL_PAYMENT = db.core_table(db.ExternalPayment)
BILL = db.core_table(db.Bill)
POLICY = db.core_table(db.Policy)
CATALOG_VERSION = db.core_table(db.CatalogVersion)
REVERSAL = db.core_table(db.Reversal)

INSERT_SETTLEMENT: Insert = insert(SETTLEMENT)
INSERT_EXTERNAL_PAYMENT: Insert = insert(EXTERNAL_PAYMENT)
#: Its parameters: ``b_id``, and the values of ``paid_total`` and ``last_sequence``.
MOVE_BILL: Update = update(BILL).where(BILL.c.id == bindparam("b_id"))
MARK_POLICY_USED: Update = update(POLICY).where(POLICY.c.id == bindparam("policy_id")).values(used=True)
MARK_VERSIONS_USED: Update = (
    update(CATALOG_VERSION)
    .where(CATALOG_VERSION.c.id.in_(bindparam("ids", expanding=True)), CATALOG_VERSION.c.used.is_(False))
    .values(used=True)
)


def _totals_part(table: Table) -> Update:
    """The accumulator's update as a part of a combined statement."""
    return totals_update(table).returning(next(iter(table.primary_key.columns)))


@cache
def settle_in_one(table: Table) -> Select[Any]:
    """The settlement's insert (``s_*``), the bill's update (``b_*``) and the accumulator's."""
    settled = insert_named(SETTLEMENT, "s")
    billed = update_named(BILL.c.id, "b_id", "b", "paid_total", "last_sequence")
    return combined(
        ("settled", settled.returning(SETTLEMENT.c.id)),
        ("billed", billed.returning(BILL.c.id)),
        ("totals", _totals_part(table)),
    )


#: The settlement to reverse, read again under the bill's lock, with the bill's active ones.
MARK_REVERSED = update_named(SETTLEMENT.c.id, "s_id", "s", "status", "reversed_at")
EXTERNALS_INACTIVE = update_named(EXTERNAL_PAYMENT.c.settlement_id, "s_id", "e", "active")
INSERT_REVERSAL = insert_named(REVERSAL, "r")
BILL_PAID = update_named(BILL.c.id, "b_id", "b", "paid_total")
#: A reversal's parts after the accumulator's, in order (SQLite sends them one by one).
REVERSAL_PARTS = (MARK_REVERSED, EXTERNALS_INACTIVE, INSERT_REVERSAL, BILL_PAID)


@cache
def reverse_in_one(table: Table) -> Select[Any]:
    """What a reversal writes, as one statement."""
    return combined(
        ("totals", _totals_part(table)),
        ("reversed", MARK_REVERSED.returning(SETTLEMENT.c.id)),
        ("externals", EXTERNALS_INACTIVE.returning(EXTERNAL_PAYMENT.c.id)),
        ("recorded", INSERT_REVERSAL.returning(REVERSAL.c.id)),
        ("billed", BILL_PAID.returning(BILL.c.id)),
    )
