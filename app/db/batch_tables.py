"""The desk's batches of returned vouchers (migration 0010): a file a clerk uploaded, one row per
bill to settle, each previewed, then settled on its own with its own idempotency key.

A row's ``state``: ``ready`` (previewed, can be settled), ``refused`` (cannot be: ``problem`` and
``detail`` say why), ``queued`` (chosen, waiting), ``settled``, ``failed`` (refused when settled:
why), ``skipped`` (not chosen).  A batch's ``status``: ``previewed``, ``queued``, ``running``
(``runner`` holds it, and writes ``heartbeat_at`` as it goes), ``done``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, Text
from sqlmodel import Field, SQLModel

from app.db.tables import money_column, timestamp

BATCH_STATUSES = ("previewed", "queued", "running", "done")
ROW_STATES = ("ready", "refused", "queued", "settled", "failed", "skipped")


class DeskBatch(SQLModel, table=True):
    __tablename__ = "desk_batch"
    __table_args__ = (
        CheckConstraint("status IN ('previewed', 'queued', 'running', 'done')", name="ck_desk_batch_status"),
        Index("ix_desk_batch_user_created_at", "user_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="app_user.id", max_length=36)
    #: The principal the rows are settled as (``user:<username>``), and its scheme.
    client_id: str = Field(max_length=64)
    scheme_code: str = Field(max_length=64)
    file_name: str = Field(max_length=200)
    status: str = Field(max_length=16)
    runner: str | None = Field(default=None, max_length=36)
    heartbeat_at: datetime | None = timestamp(default=None)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class DeskBatchRow(SQLModel, table=True):
    __tablename__ = "desk_batch_row"
    __table_args__ = (
        CheckConstraint(
            "state IN ('ready', 'refused', 'queued', 'settled', 'failed', 'skipped')", name="ck_desk_batch_row_state"
        ),
    )

    batch_id: str = Field(foreign_key="desk_batch.id", primary_key=True, max_length=36)
    #: The row's line in the file (the header is line 1).
    row_no: int = Field(primary_key=True)
    hospital_code: str = Field(max_length=64)
    bill_no: str = Field(max_length=64)
    #: The vouchers as the file gave them.
    vouchers: str = Field(max_length=2000)
    bill_id: str | None = Field(default=None, max_length=36)
    state: str = Field(max_length=16)
    #: The preview's figures, which its settlement must equal (``app.desk.previewed``).
    previewed: str | None = Field(default=None, sa_type=Text)
    #: The preview's fund payment, then the settlement's.
    fund_payment: Decimal | None = money_column(default=None)
    settlement_id: str | None = Field(default=None, max_length=36)
    idempotency_key: str = Field(max_length=128)
    #: Why it was refused or failed: the problem type and the service's detail (shown translated).
    problem: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=1000)
    updated_at: datetime = timestamp()
