"""the national platform's interface: routes, visits, fee lines, visit settlements

Revision ID: 0010
Revises: 0009 (lz4 compression)
Create Date: 2026-12-06 22:30:00

New tables only (``nhsa.md``): the previous release keeps working against the migrated schema.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _money(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, app.db.types.Money(precision=16, scale=2), **kw)  # type: ignore[arg-type]


def _string(name: str, length: int, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), **kw)  # type: ignore[arg-type]


def _instant(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "nhsa_route",
        _string("insuplc_admdvs", 6, nullable=False),
        _string("insutype", 3, nullable=False),
        sa.Column("schemes", sa.JSON(), nullable=False),
        _instant("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("insuplc_admdvs", "insutype"),
    )
    op.create_table(
        "nhsa_visit",
        _string("id", 30, nullable=False),
        _string("hospital_code", 64, nullable=False),
        _string("insuplc_admdvs", 6, nullable=False),
        _string("insutype", 3, nullable=False),
        _string("mdtrtarea_admvs", 6, nullable=True),
        _string("psn_no", 30, nullable=False),
        _string("patient_id_number", 18, nullable=False),
        _string("patient_name", 200, nullable=False),
        _string("med_type", 6, nullable=False),
        _string("mdtrt_cert_type", 3, nullable=False),
        _string("ipt_no", 30, nullable=False),
        _string("begntime", 19, nullable=False),
        sa.Column("admission_date", sa.Date(), nullable=False),
        _string("endtime", 19, nullable=True),
        sa.Column("discharge_date", sa.Date(), nullable=True),
        sa.Column("admission_diagnoses", sa.JSON(), nullable=False),
        sa.Column("discharge_diagnoses", sa.JSON(), nullable=True),
        _string("status", 16, nullable=False),
        sa.Column("settlement_count", sa.Integer(), nullable=False),
        _string("active_setl_id", 30, nullable=True),
        _string("created_by", 64, nullable=False),
        _instant("created_at", nullable=False),
        _instant("updated_at", nullable=False),
        sa.CheckConstraint("status IN ('admitted', 'discharged', 'cancelled')", name="ck_nhsa_visit_status"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_nhsa_visit_hospital_created_at", "nhsa_visit", ["hospital_code", "created_at"])
    op.create_table(
        "nhsa_fee_line",
        _string("visit_id", 30, nullable=False),
        _string("feedetl_sn", 30, nullable=False),
        _string("init_feedetl_sn", 30, nullable=True),
        _string("med_list_codg", 64, nullable=False),
        _string("medins_list_codg", 64, nullable=False),
        _string("fee_ocur_time", 19, nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("cnt", app.db.types.Quantity(precision=16, scale=4), nullable=False),
        _money("pric", nullable=False),
        _money("det_item_fee_sumamt", nullable=False),
        _string("content_hash", 64, nullable=False),
        _string("upload_client", 64, nullable=False),
        _string("upload_msgid", 30, nullable=False),
        _instant("created_at", nullable=False),
        sa.ForeignKeyConstraint(["visit_id"], ["nhsa_visit.id"]),
        sa.PrimaryKeyConstraint("visit_id", "feedetl_sn"),
    )
    op.create_index("ix_nhsa_fee_line_upload", "nhsa_fee_line", ["upload_client", "upload_msgid"])
    op.create_table(
        "nhsa_settlement",
        _string("id", 30, nullable=False),
        _string("visit_id", 30, nullable=False),
        _string("bill_id", 36, nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("payments", sa.JSON(), nullable=False),
        _string("hospital_code", 64, nullable=False),
        _string("insuplc_admdvs", 6, nullable=False),
        _string("insutype", 3, nullable=False),
        _money("medfee_sumamt", nullable=False),
        _money("fund_pay_sumamt", nullable=False),
        _string("mdtrt_cert_type", 3, nullable=False),
        _string("medins_setl_id", 30, nullable=True),
        _string("status", 16, nullable=False),
        _string("client_id", 64, nullable=False),
        _string("msgid", 30, nullable=False),
        _instant("created_at", nullable=False),
        _string("cancel_id", 30, nullable=True),
        _instant("cancelled_at", nullable=True),
        sa.CheckConstraint("status IN ('settled', 'cancelled')", name="ck_nhsa_settlement_status"),
        sa.ForeignKeyConstraint(["visit_id"], ["nhsa_visit.id"]),
        sa.ForeignKeyConstraint(["bill_id"], ["bill.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("visit_id", "ordinal"),
        sa.UniqueConstraint("client_id", "msgid", name="uq_nhsa_settlement_message"),
    )
    op.create_index(
        "uq_nhsa_settlement_active_visit",
        "nhsa_settlement",
        ["visit_id"],
        unique=True,
        postgresql_where=sa.text("status = 'settled'"),
        sqlite_where=sa.text("status = 'settled'"),
    )
    op.create_index("ix_nhsa_settlement_hospital_created_at", "nhsa_settlement", ["hospital_code", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_nhsa_settlement_hospital_created_at", table_name="nhsa_settlement")
    op.drop_index("uq_nhsa_settlement_active_visit", table_name="nhsa_settlement")
    op.drop_table("nhsa_settlement")
    op.drop_index("ix_nhsa_fee_line_upload", table_name="nhsa_fee_line")
    op.drop_table("nhsa_fee_line")
    op.drop_index("ix_nhsa_visit_hospital_created_at", table_name="nhsa_visit")
    op.drop_table("nhsa_visit")
    op.drop_table("nhsa_route")
