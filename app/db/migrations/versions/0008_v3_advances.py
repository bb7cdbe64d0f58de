"""v3: cap remaining, the large-amount axis, advances and their receivables

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 20:45:00

- ``settlement``: ``cap_remaining`` (null on the rows of earlier releases: they were not made
  with it), ``over_cap`` (a large-amount tier), ``advance_reason``, ``liable_kind``,
  ``liable_code``, ``liable_name``, ``receivable_id`` (an advance, v3.3);
- ``year_total.over_cap``: a large-amount tier's yearly axis of over-cap cost;
- ``receivable`` and ``recovery``.

A bill line's ``injury_related`` mark lives in the bill's ``items`` JSON.  Every step only adds
(nullable columns, columns with a default, new tables): the previous release keeps working
against the migrated schema.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SETTLEMENT_STRINGS = (
    ("advance_reason", 32),
    ("liable_kind", 16),
    ("liable_code", 32),
    ("liable_name", 200),
    ("receivable_id", 36),
)


def _money(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, app.db.types.Money(precision=16, scale=2), **kw)  # type: ignore[arg-type]


def _string(name: str, length: int, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), **kw)  # type: ignore[arg-type]


def _instant(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.add_column("settlement", _money("cap_remaining", nullable=True))
    op.add_column("settlement", _money("over_cap", nullable=True))
    for name, length in _SETTLEMENT_STRINGS:
        op.add_column("settlement", _string(name, length, nullable=True))
    with op.batch_alter_table("year_total") as batch:
        batch.add_column(_money("over_cap", nullable=False, server_default="0"))
        batch.create_check_constraint("ck_year_total_over_cap_non_negative", "over_cap >= 0")
    op.create_table(
        "receivable",
        _string("id", 36, nullable=False),
        _string("settlement_id", 36, nullable=False),
        _string("bill_id", 36, nullable=False),
        _string("scheme_code", 64, nullable=False),
        _string("reason", 32, nullable=False),
        _string("liable_kind", 16, nullable=False),
        _string("liable_code", 32, nullable=True),
        _string("liable_name", 200, nullable=False),
        _money("amount", nullable=False),
        _money("recovered", nullable=False),
        _money("written_off", nullable=False),
        _string("status", 16, nullable=False),
        _string("write_off_reason", 500, nullable=True),
        _instant("created_at", nullable=False),
        _instant("updated_at", nullable=False),
        sa.CheckConstraint(
            "amount > 0 AND recovered >= 0 AND written_off >= 0 AND recovered + written_off <= amount",
            name="ck_receivable_within_amount",
        ),
        sa.CheckConstraint(
            "status IN ('open', 'partly_recovered', 'recovered', 'written_off', 'cancelled')",
            name="ck_receivable_status",
        ),
        sa.ForeignKeyConstraint(["settlement_id"], ["settlement.id"]),
        sa.ForeignKeyConstraint(["bill_id"], ["bill.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("settlement_id"),
    )
    op.create_index("ix_receivable_created_at_id", "receivable", ["created_at", "id"])
    op.create_index("ix_receivable_scheme_created_at_id", "receivable", ["scheme_code", "created_at", "id"])
    op.create_index("ix_receivable_liable_code", "receivable", ["liable_code"])
    op.create_table(
        "recovery",
        _string("id", 36, nullable=False),
        _string("receivable_id", 36, nullable=False),
        _money("amount", nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        _string("reference", 200, nullable=False),
        _string("created_by", 64, nullable=False),
        _instant("created_at", nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_recovery_positive"),
        sa.ForeignKeyConstraint(["receivable_id"], ["receivable.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recovery_receivable_id", "recovery", ["receivable_id"])


def downgrade() -> None:
    op.drop_index("ix_recovery_receivable_id", table_name="recovery")
    op.drop_table("recovery")
    for name in ("ix_receivable_liable_code", "ix_receivable_scheme_created_at_id", "ix_receivable_created_at_id"):
        op.drop_index(name, table_name="receivable")
    op.drop_table("receivable")
    with op.batch_alter_table("year_total") as batch:
        batch.drop_constraint("ck_year_total_over_cap_non_negative", type_="check")
        batch.drop_column("over_cap")
    for name, _ in reversed(_SETTLEMENT_STRINGS):
        op.drop_column("settlement", name)
    op.drop_column("settlement", "over_cap")
    op.drop_column("settlement", "cap_remaining")
