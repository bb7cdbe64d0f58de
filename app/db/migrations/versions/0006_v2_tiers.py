"""v2: scheme kinds and tiers, work injury, employer liability

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 11:40:00

- ``scheme.kind`` widened to 32 characters (``occupational_injury``), ``scheme.supplements``;
- ``bill.work_injury`` (JSON);
- ``settlement``: ``scheme_kind`` (back-filled from the scheme), ``payer_type`` (``scheme`` for
  every existing row), ``employer_code``, ``employer_name``, ``basis_settlement_id``,
  ``compliant_self_pay``; ``reversal.payer_type``;
- ``year_total.compliant_self_pay`` (a tier's yearly axis);
- ``employer_year_total``: an employer's liabilities per person, scheme, year and employer;
- PostgreSQL: the clearing and reconciliation indexes carry ``payer_type`` too, so the reports,
  which leave employers' liabilities out, still read only the indexes.

Every step only adds (nullable columns or columns with a default): the previous release keeps
working against the migrated schema.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLEARING = ["scheme_code", "insuring_region", "treatment_region", "medical_total", "fund_payment"]
_RECONCILIATION = ["scheme_code", "medical_total", "fund_payment"]
_INDEXES = (
    ("ix_settlement_created_at", "settlement", ["created_at"], _CLEARING),
    ("ix_reversal_created_at", "reversal", ["created_at"], _CLEARING),
    ("ix_settlement_hospital_created_at", "settlement", ["hospital_code", "created_at"], _RECONCILIATION),
    ("ix_reversal_hospital_created_at", "reversal", ["hospital_code", "created_at"], _RECONCILIATION),
)


def _money(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, app.db.types.Money(precision=16, scale=2), **kw)  # type: ignore[arg-type]


def _string(name: str, length: int, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), **kw)  # type: ignore[arg-type]


def _reindex(with_payer_type: bool) -> None:
    """PostgreSQL: rebuild the report indexes with (or without) ``payer_type`` in their leaves."""
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        for name, table, columns, include in _INDEXES:
            op.drop_index(name, table_name=table, postgresql_concurrently=True)
            op.create_index(
                name,
                table,
                columns,
                unique=False,
                postgresql_include=[*include, "payer_type"] if with_payer_type else include,
                postgresql_concurrently=True,
            )


def upgrade() -> None:
    with op.batch_alter_table("scheme") as batch:
        batch.alter_column(
            "kind",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=16),
            type_=sqlmodel.sql.sqltypes.AutoString(length=32),
            existing_nullable=False,
        )
        batch.add_column(_string("supplements", 64, nullable=True))
    op.add_column("bill", sa.Column("work_injury", sa.JSON(), nullable=True))
    op.add_column("settlement", _string("scheme_kind", 32, nullable=False, server_default=""))
    op.add_column("settlement", _string("payer_type", 16, nullable=False, server_default="scheme"))
    op.add_column("settlement", _string("employer_code", 32, nullable=True))
    op.add_column("settlement", _string("employer_name", 200, nullable=True))
    op.add_column("settlement", _string("basis_settlement_id", 36, nullable=True))
    op.add_column("settlement", _money("compliant_self_pay", nullable=True))
    op.execute(
        "UPDATE settlement SET scheme_kind = (SELECT scheme.kind FROM scheme WHERE scheme.code = settlement.scheme_code)"
    )
    op.add_column("reversal", _string("payer_type", 16, nullable=False, server_default="scheme"))
    with op.batch_alter_table("year_total") as batch:
        batch.add_column(_money("compliant_self_pay", nullable=False, server_default="0"))
        batch.create_check_constraint("ck_year_total_axis_non_negative", "compliant_self_pay >= 0")
    op.create_table(
        "employer_year_total",
        _string("id_number", 18, nullable=False),
        _string("scheme_code", 64, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        _string("employer_code", 32, nullable=False),
        _money("fund_paid", nullable=False),
        _money("deductible_inpatient", nullable=False),
        _money("deductible_outpatient", nullable=False),
        sa.CheckConstraint(
            "fund_paid >= 0 AND deductible_inpatient >= 0 AND deductible_outpatient >= 0",
            name="ck_employer_year_total_non_negative",
        ),
        sa.PrimaryKeyConstraint("id_number", "scheme_code", "year", "employer_code"),
    )
    _reindex(with_payer_type=True)


def downgrade() -> None:
    _reindex(with_payer_type=False)
    op.drop_table("employer_year_total")
    with op.batch_alter_table("year_total") as batch:
        batch.drop_constraint("ck_year_total_axis_non_negative", type_="check")
        batch.drop_column("compliant_self_pay")
    op.drop_column("reversal", "payer_type")
    for column in (
        "compliant_self_pay",
        "basis_settlement_id",
        "employer_name",
        "employer_code",
        "payer_type",
        "scheme_kind",
    ):
        op.drop_column("settlement", column)
    op.drop_column("bill", "work_injury")
    with op.batch_alter_table("scheme") as batch:
        batch.drop_column("supplements")
        batch.alter_column(
            "kind",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=32),
            type_=sqlmodel.sql.sqltypes.AutoString(length=16),
            existing_nullable=False,
        )
