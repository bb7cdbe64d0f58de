"""designated hospitals; idempotency keys per operation; list indexes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 11:30:00

* ``hospital``: the designated-hospital registry (rules v2.1).
* ``idempotency_record`` gains ``operation`` (method and path) in its primary key: a key belongs
  to its client and its operation (api.md v2).  Records written before get ``''``, which the
  service matches against any operation, so a request retried across the upgrade still replays.
* Indexes for the lists, newest first: ``bill (created_at, id)``, ``bill (hospital_code,
  created_at, id)`` and ``settlement (scheme_code, created_at, id)``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_bill_created_at_id", "bill", ["created_at", "id"]),
    ("ix_bill_hospital_created_at_id", "bill", ["hospital_code", "created_at", "id"]),
    ("ix_settlement_scheme_created_at_id", "settlement", ["scheme_code", "created_at", "id"]),
)


def _set_idempotency_key(columns: list[str]) -> None:
    """Give ``idempotency_record`` this primary key, adding or dropping ``operation``."""
    adding = "operation" in columns
    operation = sa.Column("operation", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False, server_default="")
    if op.get_bind().dialect.name == "postgresql":
        if adding:
            op.add_column("idempotency_record", operation)
            op.alter_column("idempotency_record", "operation", server_default=None)
        op.drop_constraint("idempotency_record_pkey", "idempotency_record", type_="primary")
        op.create_primary_key("idempotency_record_pkey", "idempotency_record", columns)
        if not adding:
            op.drop_column("idempotency_record", "operation")
        return
    # SQLite: the table is rebuilt with the new key (its primary key has no name to drop).
    with op.batch_alter_table("idempotency_record", recreate="always") as batch_op:
        if adding:
            batch_op.add_column(operation)
        else:
            batch_op.drop_column("operation")
        batch_op.create_primary_key("idempotency_record_pkey", columns)
    if adding:
        with op.batch_alter_table("idempotency_record") as batch_op:
            batch_op.alter_column("operation", server_default=None)


def upgrade() -> None:
    op.create_table(
        "hospital",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("designated_from", sa.Date(), nullable=False),
        sa.Column("designated_to", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index("ix_hospital_region", "hospital", ["region"], unique=False)
    _set_idempotency_key(["client_id", "operation", "key"])
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
    # Keys of different operations may share a key now; the newest response of each key stays.
    op.execute(
        "DELETE FROM idempotency_record WHERE EXISTS (SELECT 1 FROM idempotency_record AS newer "
        "WHERE newer.client_id = idempotency_record.client_id AND newer.key = idempotency_record.key "
        "AND (newer.created_at > idempotency_record.created_at OR (newer.created_at = idempotency_record.created_at "
        "AND newer.operation > idempotency_record.operation)))"
    )
    _set_idempotency_key(["client_id", "key"])
    op.drop_index("ix_hospital_region", table_name="hospital")
    op.drop_table("hospital")
