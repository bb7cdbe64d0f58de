"""The desk's batches of returned vouchers

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 23:30:00

``desk_batch`` (a file a clerk uploaded) and ``desk_batch_row`` (one bill of it: its preview, its
state, its own idempotency key and, once settled, its settlement).  Only new tables: the previous
release keeps working against the migrated schema.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _string(name: str, length: int, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), **kw)  # type: ignore[arg-type]


def _instant(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "desk_batch",
        _string("id", 36, nullable=False),
        _string("user_id", 36, nullable=False),
        _string("client_id", 64, nullable=False),
        _string("scheme_code", 64, nullable=False),
        _string("file_name", 200, nullable=False),
        _string("status", 16, nullable=False),
        _string("runner", 36, nullable=True),
        _instant("heartbeat_at", nullable=True),
        _instant("created_at", nullable=False),
        _instant("updated_at", nullable=False),
        sa.CheckConstraint("status IN ('previewed', 'queued', 'running', 'done')", name="ck_desk_batch_status"),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_desk_batch_user_created_at", "desk_batch", ["user_id", "created_at"])
    op.create_table(
        "desk_batch_row",
        _string("batch_id", 36, nullable=False),
        sa.Column("row_no", sa.Integer(), nullable=False),
        _string("hospital_code", 64, nullable=False),
        _string("bill_no", 64, nullable=False),
        _string("vouchers", 2000, nullable=False),
        _string("bill_id", 36, nullable=True),
        _string("state", 16, nullable=False),
        sa.Column("previewed", sa.Text(), nullable=True),
        sa.Column("fund_payment", app.db.types.Money(precision=16, scale=2), nullable=True),
        _string("settlement_id", 36, nullable=True),
        _string("idempotency_key", 128, nullable=False),
        _string("problem", 64, nullable=True),
        _string("detail", 1000, nullable=True),
        _instant("updated_at", nullable=False),
        sa.CheckConstraint(
            "state IN ('ready', 'refused', 'queued', 'settled', 'failed', 'skipped')", name="ck_desk_batch_row_state"
        ),
        sa.ForeignKeyConstraint(["batch_id"], ["desk_batch.id"]),
        sa.PrimaryKeyConstraint("batch_id", "row_no"),
    )


def downgrade() -> None:
    op.drop_table("desk_batch_row")
    op.drop_index("ix_desk_batch_user_created_at", table_name="desk_batch")
    op.drop_table("desk_batch")
