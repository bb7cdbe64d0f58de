"""The tables of a fund's advances (``settlement-rules.md`` v3.3): the receivable an advanced
settlement opens on the liable party, and the recoveries recorded on it (migration 0008).

A receivable's figures move under its own row lock (:mod:`app.ledger.lock_order`, after the
bill's): ``recovered`` is the sum of its recoveries, and ``recovered + written_off`` never exceeds
``amount`` (a check constraint backs the rule up).  Recoveries are append-only.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from app.db.tables import money_column, timestamp

RECEIVABLE_STATUSES = ("open", "partly_recovered", "recovered", "written_off", "cancelled")


class Receivable(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint(
            "amount > 0 AND recovered >= 0 AND written_off >= 0 AND recovered + written_off <= amount",
            name="ck_receivable_within_amount",
        ),
        CheckConstraint(
            "status IN ('open', 'partly_recovered', 'recovered', 'written_off', 'cancelled')",
            name="ck_receivable_status",
        ),
        # Lists, newest first: everything, and one scheme office's.
        Index("ix_receivable_created_at_id", "created_at", "id"),
        Index("ix_receivable_scheme_created_at_id", "scheme_code", "created_at", "id"),
        Index("ix_receivable_liable_code", "liable_code"),
    )

    id: str = Field(primary_key=True, max_length=36)
    #: The advanced settlement that opened it: one receivable per settlement.
    settlement_id: str = Field(foreign_key="settlement.id", unique=True, max_length=36)
    bill_id: str = Field(foreign_key="bill.id", max_length=36)
    scheme_code: str = Field(max_length=64)
    #: ``employer_not_enrolled`` or ``third_party``.
    reason: str = Field(max_length=32)
    liable_kind: str = Field(max_length=16)
    liable_code: str | None = Field(default=None, max_length=32)
    liable_name: str = Field(max_length=200)
    amount: Decimal = money_column()
    recovered: Decimal = money_column()
    written_off: Decimal = money_column()
    status: str = Field(max_length=16)
    write_off_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class Recovery(SQLModel, table=True):
    """Money the liable party paid back on a receivable (append-only)."""

    __table_args__ = (CheckConstraint("amount > 0", name="ck_recovery_positive"),)

    id: str = Field(primary_key=True, max_length=36)
    receivable_id: str = Field(foreign_key="receivable.id", max_length=36, index=True)
    amount: Decimal = money_column()
    received_on: date
    reference: str = Field(max_length=200)
    created_by: str = Field(max_length=64)
    created_at: datetime = timestamp()
