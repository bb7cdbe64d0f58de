"""The tables of the national platform's interface for hospital systems (``nhsa.md``, migration
0009): the routes that say which schemes settle a visit, the visits (admission, discharge), their
fee lines, and the visit settlements (one per 2304, over the scheme settlements it made).

A visit's row is the first lock of every transaction that touches the visit (before its bill's:
:mod:`app.ledger.lock_order`): its lines change only in transactions holding it, and a visit
holds at most one settlement in force (``active_setl_id``; a partial unique index backs it up), so
a settled bill never differs from its lines.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.db.tables import money_column, timestamp
from app.db.types import Quantity

VISIT_STATUSES = ("admitted", "discharged", "cancelled")


class NhsaRoute(SQLModel, table=True):
    """The schemes, in settlement order, that settle a visit of an insurance type (``insutype``)
    insured in a region (``insuplc_admdvs``): ``[{scheme_code, fund_pay_type, setlinfo_field}]``,
    the defaults by kind filled in when it was put."""

    __tablename__ = "nhsa_route"

    insuplc_admdvs: str = Field(primary_key=True, max_length=6)
    insutype: str = Field(primary_key=True, max_length=3)
    schemes: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = timestamp()


class NhsaVisit(SQLModel, table=True):
    """A visit opened by an admission (2401): its ``id`` is the platform's ``mdtrt_id``."""

    __tablename__ = "nhsa_visit"
    __table_args__ = (
        CheckConstraint("status IN ('admitted', 'discharged', 'cancelled')", name="ck_nhsa_visit_status"),
        Index("ix_nhsa_visit_hospital_created_at", "hospital_code", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=30)
    hospital_code: str = Field(max_length=64)
    #: The route the visit is bound to (2401's insuring region and insurance type).
    insuplc_admdvs: str = Field(max_length=6)
    insutype: str = Field(max_length=3)
    mdtrtarea_admvs: str | None = Field(default=None, max_length=6)
    #: The person: ``psn_no`` is the member number in the route's basic scheme.
    psn_no: str = Field(max_length=30)
    patient_id_number: str = Field(max_length=18)
    patient_name: str = Field(max_length=200)
    med_type: str = Field(max_length=6)
    mdtrt_cert_type: str = Field(max_length=3)
    ipt_no: str = Field(max_length=30)
    #: ``yyyy-MM-dd HH:mm:ss`` as sent, and its day.
    begntime: str = Field(max_length=19)
    admission_date: date
    endtime: str | None = Field(default=None, max_length=19)
    discharge_date: date | None = None
    #: ``[{diag_code, diag_name}]`` of the admission, and of the discharge (when discharged).
    admission_diagnoses: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    discharge_diagnoses: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    status: str = Field(max_length=16)
    #: How many settlements the visit has had (the next one's bill is ``{id}-{count + 1}``).
    settlement_count: int = 0
    #: The visit settlement in force, or None.
    active_setl_id: str | None = Field(default=None, max_length=30)
    created_by: str = Field(max_length=64)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class NhsaFeeLine(SQLModel, table=True):
    """A fee line of a visit (2301), as sent: an original line, or a refund (``init_feedetl_sn``,
    negative ``cnt`` and amount) of one.  Cancelling a line (2302, 2601) deletes it."""

    __tablename__ = "nhsa_fee_line"
    __table_args__ = (Index("ix_nhsa_fee_line_upload", "upload_client", "upload_msgid"),)

    visit_id: str = Field(primary_key=True, foreign_key="nhsa_visit.id", max_length=30)
    feedetl_sn: str = Field(primary_key=True, max_length=30)
    init_feedetl_sn: str | None = Field(default=None, max_length=30)
    med_list_codg: str = Field(max_length=64)
    medins_list_codg: str = Field(max_length=64)
    fee_ocur_time: str = Field(max_length=19)
    service_date: date
    cnt: Decimal = Field(sa_type=Quantity)
    pric: Decimal = money_column()
    det_item_fee_sumamt: Decimal = money_column()
    #: What tells a line sent again with the same content from one sent with other content.
    content_hash: str = Field(max_length=64)
    #: The message that uploaded it (a 2601 of that message cancels it).
    upload_client: str = Field(max_length=64)
    upload_msgid: str = Field(max_length=30)
    created_at: datetime = timestamp()


class NhsaSettlement(SQLModel, table=True):
    """A visit settlement (2304): its ``id`` is the platform's ``setl_id``; the scheme settlements it
    made, in order, on the bill ``{mdtrt_id}`` or ``{mdtrt_id}-{ordinal}``.  A cancellation (2305,
    or 2601 of its 2304) reverses all of them and records its own ``cancel_id``."""

    __tablename__ = "nhsa_settlement"
    __table_args__ = (
        CheckConstraint("status IN ('settled', 'cancelled')", name="ck_nhsa_settlement_status"),
        UniqueConstraint("visit_id", "ordinal"),
        UniqueConstraint("client_id", "msgid", name="uq_nhsa_settlement_message"),
        Index(
            "uq_nhsa_settlement_active_visit",
            "visit_id",
            unique=True,
            postgresql_where=text("status = 'settled'"),
            sqlite_where=text("status = 'settled'"),
        ),
        Index("ix_nhsa_settlement_hospital_created_at", "hospital_code", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=30)
    visit_id: str = Field(foreign_key="nhsa_visit.id", max_length=30)
    bill_id: str = Field(foreign_key="bill.id", max_length=36)
    ordinal: int
    #: The scheme settlements made, in settlement order, each with the codes its route reported
    #: it under: ``[{settlement_id, scheme_code, fund_pay_type, setlinfo_field}]``.
    payments: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    hospital_code: str = Field(max_length=64)
    insuplc_admdvs: str = Field(max_length=6)
    insutype: str = Field(max_length=3)
    medfee_sumamt: Decimal = money_column()
    fund_pay_sumamt: Decimal = money_column()
    mdtrt_cert_type: str = Field(max_length=3)
    medins_setl_id: str | None = Field(default=None, max_length=30)
    status: str = Field(max_length=16)
    #: The 2304 that made it (a 2601 of that message cancels it).
    client_id: str = Field(max_length=64)
    msgid: str = Field(max_length=30)
    created_at: datetime = timestamp()
    cancel_id: str | None = Field(default=None, max_length=30)
    cancelled_at: datetime | None = timestamp(default=None)
