"""indexes for the clearing statement and the hospital reconciliation

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 20:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: A month's clearing reads only the index (PostgreSQL index-only scan): the window is a range
#: of ``created_at`` and the grouped and summed columns are carried in the index leaves.
_CLEARING_INCLUDE = ["scheme_code", "insuring_region", "treatment_region", "medical_total", "fund_payment"]
#: A hospital's day: equality on ``hospital_code``, range on ``created_at``.
_RECONCILIATION_INCLUDE = ["scheme_code", "medical_total", "fund_payment"]

INDEXES = (
    ("ix_settlement_created_at", "settlement", ["created_at"], _CLEARING_INCLUDE),
    ("ix_reversal_created_at", "reversal", ["created_at"], _CLEARING_INCLUDE),
    ("ix_settlement_hospital_created_at", "settlement", ["hospital_code", "created_at"], _RECONCILIATION_INCLUDE),
    ("ix_reversal_hospital_created_at", "reversal", ["hospital_code", "created_at"], _RECONCILIATION_INCLUDE),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY: settlements keep being written while a large table is indexed (it cannot
        # run inside a transaction, hence the autocommit block).
        with op.get_context().autocommit_block():
            for name, table, columns, include in INDEXES:
                op.create_index(
                    name, table, columns, unique=False, postgresql_include=include, postgresql_concurrently=True
                )
        return
    for name, table, columns, _include in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            for name, table, _columns, _include in INDEXES:
                op.drop_index(name, table_name=table, postgresql_concurrently=True)
        return
    for name, table, _columns, _include in INDEXES:
        op.drop_index(name, table_name=table)
