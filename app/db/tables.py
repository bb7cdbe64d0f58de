"""Table models.  These are never request or response bodies (see ``app.schemas``).

The ledger's state lives in three places that always move together, in one transaction:
``bill.paid_total`` (active scheme and external payments of the bill), ``year_total`` (each
person/scheme/year accumulator) and the ``settlement``/``reversal``/``external_payment`` records.
Settlements and reversals are append-only: a settlement's amounts never change, the only update
it ever gets is the one-way ``settled -> reversed`` status change, recorded by its reversal.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import JSON, CheckConstraint, Column, Index, Table, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.db.types import Money, Ratio, UtcDateTime


def money_column(**kw: Any) -> Any:
    return Field(sa_type=Money, **kw)


def timestamp(**kw: Any) -> Any:
    return Field(sa_type=UtcDateTime, **kw)


class Scheme(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    pooling_region: str = Field(max_length=6)
    coordination: str = Field(max_length=16)
    #: Tiers: the basic scheme they supplement (migration 0006).
    supplements: str | None = Field(default=None, max_length=64)
    updated_at: datetime = timestamp()


class CatalogVersion(SQLModel, table=True):
    __tablename__ = "catalog_version"
    __table_args__ = (UniqueConstraint("scheme_code", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    scheme_code: str = Field(foreign_key="scheme.code", max_length=64, index=True)
    version: str = Field(max_length=64)
    effective_from: date
    effective_to: date | None = None
    #: Set when a settlement first used this version; then it can no longer be replaced.
    used: bool = False
    updated_at: datetime = timestamp()


class CatalogEntry(SQLModel, table=True):
    __tablename__ = "catalog_entry"
    __table_args__ = (UniqueConstraint("catalog_version_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    catalog_version_id: int = Field(foreign_key="catalog_version.id", ondelete="CASCADE")
    code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    category: str = Field(max_length=16)
    klass: str = Field(max_length=1)
    self_pay_ratio: Decimal | None = Field(default=None, sa_type=Ratio)
    price_cap: Decimal | None = money_column(default=None)
    settings: str | None = Field(default=None, max_length=32)
    min_hospital_level: int | None = None


class Policy(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("scheme_code", "year"),)

    id: int | None = Field(default=None, primary_key=True)
    scheme_code: str = Field(foreign_key="scheme.code", max_length=64)
    year: int
    annual_cap: Decimal = money_column()
    #: The policy document as submitted (shape of ``shared/examples/policies.json``).
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    used: bool = False
    updated_at: datetime = timestamp()


class Member(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("scheme_code", "member_no"),
        UniqueConstraint("scheme_code", "id_number", name="uq_member_scheme_person"),
    )

    id: int | None = Field(default=None, primary_key=True)
    scheme_code: str = Field(foreign_key="scheme.code", max_length=64)
    member_no: str = Field(max_length=64)
    id_number: str = Field(max_length=18)
    name: str = Field(max_length=200)
    coverage: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    offsite_registrations: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = timestamp()


class Hospital(SQLModel, table=True):
    """The designated-hospital registry (rules v2.1): what a bill's hospital is, not what it says."""

    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    level: int
    region: str = Field(max_length=6, index=True)
    designated_from: date
    designated_to: date | None = None
    updated_at: datetime = timestamp()


class Bill(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("hospital_code", "bill_no"),
        CheckConstraint("paid_total >= 0 AND paid_total <= medical_total", name="ck_bill_paid_within_total"),
        # Lists, newest first (migration 0005): everything, and one hospital's bills.
        Index("ix_bill_created_at_id", "created_at", "id"),
        Index("ix_bill_hospital_created_at_id", "hospital_code", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    hospital_code: str = Field(max_length=64)
    bill_no: str = Field(max_length=64)
    hospital_name: str = Field(max_length=200)
    hospital_level: int
    hospital_region: str = Field(max_length=6)
    patient_id_number: str = Field(max_length=18, index=True)
    patient_name: str = Field(max_length=200)
    setting: str = Field(max_length=16)
    admission_date: date
    discharge_date: date
    diagnoses: list[str] = Field(sa_column=Column(JSON, nullable=False))
    #: The bill's lines as submitted (immutable once posted).
    items: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    #: A determined work injury, ``{determination_no, injury_date, employer: {code, name}}`` (v2.4).
    work_injury: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    medical_total: Decimal = money_column()
    #: sha256 of the canonical bill body, to tell a repeated post from a different one.
    content_hash: str = Field(max_length=64)
    #: Ledger: active scheme payments plus active external payments.
    paid_total: Decimal = money_column()
    #: Ledger: the last sequence number handed out on this bill.
    last_sequence: int = 0
    created_by: str = Field(max_length=64)
    created_at: datetime = timestamp()


#: Columns carried in the leaves of the clearing and reconciliation indexes (PostgreSQL
#: ``INCLUDE``), so a report reads only the index.
CLEARING_INCLUDE = [
    "scheme_code",
    "insuring_region",
    "treatment_region",
    "medical_total",
    "fund_payment",
    "payer_type",
]
RECONCILIATION_INCLUDE = ["scheme_code", "medical_total", "fund_payment", "payer_type"]


class Settlement(SQLModel, table=True):
    __table_args__ = (
        Index(
            "uq_settlement_active_scheme",
            "bill_id",
            "scheme_code",
            unique=True,
            postgresql_where=text("status = 'settled'"),
            sqlite_where=text("status = 'settled'"),
        ),
        UniqueConstraint("bill_id", "sequence"),
        CheckConstraint("status IN ('settled', 'reversed')", name="ck_settlement_status"),
        # Clearing (a month) and reconciliation (a hospital's day); migration 0004.
        Index("ix_settlement_created_at", "created_at", postgresql_include=CLEARING_INCLUDE),
        Index(
            "ix_settlement_hospital_created_at",
            "hospital_code",
            "created_at",
            postgresql_include=RECONCILIATION_INCLUDE,
        ),
        # A scheme office's list, newest first (migration 0005).
        Index("ix_settlement_scheme_created_at_id", "scheme_code", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    bill_id: str = Field(foreign_key="bill.id", max_length=36)
    scheme_code: str = Field(foreign_key="scheme.code", max_length=64)
    #: The scheme's kind when it settled (migration 0006).
    scheme_kind: str = Field(max_length=32)
    #: ``scheme`` (a fund payment) or ``employer`` (an employer's liability, v2.5).
    payer_type: str = Field(max_length=16)
    employer_code: str | None = Field(default=None, max_length=32)
    employer_name: str | None = Field(default=None, max_length=200)
    #: Tiers: the basic scheme's settlement they were computed from, and the compliant self-pay
    #: they added to their yearly axis (v2.3).
    basis_settlement_id: str | None = Field(default=None, max_length=36)
    compliant_self_pay: Decimal | None = money_column(default=None)
    #: v3 (migration 0008): the payer's cap left after this settlement (null on older rows); a
    #: large-amount tier's over-cap cost; an advance's reason, liable party and receivable.
    cap_remaining: Decimal | None = money_column(default=None)
    over_cap: Decimal | None = money_column(default=None)
    advance_reason: str | None = Field(default=None, max_length=32)
    liable_kind: str | None = Field(default=None, max_length=16)
    liable_code: str | None = Field(default=None, max_length=32)
    liable_name: str | None = Field(default=None, max_length=200)
    receivable_id: str | None = Field(default=None, max_length=36)
    sequence: int
    status: str = Field(max_length=16)
    policy_year: int
    policy_id: int = Field(foreign_key="policy.id")
    patient_id_number: str = Field(max_length=18)
    hospital_code: str = Field(max_length=64)
    insuring_region: str = Field(max_length=6)
    treatment_region: str = Field(max_length=6)
    offsite: str = Field(max_length=16)
    registered: bool
    setting: str = Field(max_length=16)
    medical_total: Decimal = money_column()
    excluded: Decimal = money_column()
    over_limit: Decimal = money_column()
    b_self_pay: Decimal = money_column()
    in_scope: Decimal = money_column()
    deductible: Decimal = money_column()
    yearly_deductible: Decimal = money_column()
    computed_benefit: Decimal = money_column()
    benefit_after_cap: Decimal = money_column()
    prior_payments: Decimal = money_column()
    coordination_mode: str = Field(max_length=16)
    fund_payment: Decimal = money_column()
    coordination_reduction: Decimal = money_column()
    patient_responsibility: Decimal = money_column()
    external_total: Decimal = money_column()
    #: bands, lines, external payments and catalog versions, as in the response.
    detail: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=64)
    created_at: datetime = timestamp()
    reversed_at: datetime | None = timestamp(default=None)


class Reversal(SQLModel, table=True):
    """The append-only record of a reversal; its amounts are the settlement's, taken back."""

    __table_args__ = (
        # Clearing (a month) and reconciliation (a hospital's day); migration 0004.
        Index("ix_reversal_created_at", "created_at", postgresql_include=CLEARING_INCLUDE),
        Index(
            "ix_reversal_hospital_created_at", "hospital_code", "created_at", postgresql_include=RECONCILIATION_INCLUDE
        ),
    )

    id: str = Field(primary_key=True, max_length=36)
    settlement_id: str = Field(foreign_key="settlement.id", unique=True, max_length=36)
    bill_id: str = Field(foreign_key="bill.id", max_length=36)
    scheme_code: str = Field(max_length=64)
    #: The settlement's payer type: employers' liabilities are left out of clearing.
    payer_type: str = Field(max_length=16)
    hospital_code: str = Field(max_length=64)
    insuring_region: str = Field(max_length=6)
    treatment_region: str = Field(max_length=6)
    medical_total: Decimal = money_column()
    fund_payment: Decimal = money_column()
    external_total: Decimal = money_column()
    created_by: str = Field(max_length=64)
    created_at: datetime = timestamp()


class ExternalPayment(SQLModel, table=True):
    __tablename__ = "external_payment"
    __table_args__ = (
        Index(
            "uq_external_payment_active_voucher",
            "bill_id",
            "voucher_no",
            unique=True,
            postgresql_where=text("active"),
            sqlite_where=text("active"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    bill_id: str = Field(foreign_key="bill.id", max_length=36)
    settlement_id: str = Field(foreign_key="settlement.id", max_length=36, index=True)
    payer: str = Field(max_length=200)
    voucher_no: str = Field(max_length=64)
    amount: Decimal = money_column()
    active: bool = True


class _Amounts(Protocol):
    fund_paid: Decimal
    deductible_inpatient: Decimal
    deductible_outpatient: Decimal


class Accumulates:
    """How a settlement moves its accumulator row and its reversal moves it back.  The yearly
    deductible met is kept per setting: ``deductible_inpatient`` and ``deductible_outpatient``."""

    def deductible_met(self: _Amounts, setting: str) -> Decimal:
        if setting == "inpatient":
            return self.deductible_inpatient
        if setting == "outpatient":
            return self.deductible_outpatient
        raise ValueError(f"no deductible is kept for the setting {setting!r}")

    def add(self: _Amounts, *, setting: str, fund_paid: Decimal, yearly_deductible: Decimal) -> None:
        """Add a settlement's payment and the yearly deductible it met (negative: take them back)."""
        self.fund_paid += fund_paid
        if not yearly_deductible:
            return
        if setting == "inpatient":
            self.deductible_inpatient += yearly_deductible
        elif setting == "outpatient":
            self.deductible_outpatient += yearly_deductible
        else:
            raise ValueError(f"no deductible is kept for the setting {setting!r}")


class YearTotal(Accumulates, SQLModel, table=True):
    """Accumulator of one person under one scheme (or tier) in one policy year (active fund-paid
    settlements only).  A tier moves ``fund_paid`` and ``compliant_self_pay`` (its yearly axis), a
    large-amount tier ``fund_paid`` and ``over_cap``."""

    __tablename__ = "year_total"
    __table_args__ = (
        CheckConstraint(
            "fund_paid >= 0 AND deductible_inpatient >= 0 AND deductible_outpatient >= 0",
            name="ck_year_total_non_negative",
        ),
        CheckConstraint("compliant_self_pay >= 0", name="ck_year_total_axis_non_negative"),
        CheckConstraint("over_cap >= 0", name="ck_year_total_over_cap_non_negative"),
    )

    id_number: str = Field(primary_key=True, max_length=18)
    scheme_code: str = Field(primary_key=True, max_length=64)
    year: int = Field(primary_key=True)
    fund_paid: Decimal = money_column()
    deductible_inpatient: Decimal = money_column()
    deductible_outpatient: Decimal = money_column()
    compliant_self_pay: Decimal = money_column()
    #: A large-amount tier's yearly axis of over-cap cost (v3.2, migration 0008).
    over_cap: Decimal = money_column()


class EmployerYearTotal(Accumulates, SQLModel, table=True):
    """Accumulator of an employer's liabilities for one person under one scheme in one policy year
    (v2.5): payments toward the scheme's annual cap and the per-year deductibles."""

    __tablename__ = "employer_year_total"
    __table_args__ = (
        CheckConstraint(
            "fund_paid >= 0 AND deductible_inpatient >= 0 AND deductible_outpatient >= 0",
            name="ck_employer_year_total_non_negative",
        ),
    )

    id_number: str = Field(primary_key=True, max_length=18)
    scheme_code: str = Field(primary_key=True, max_length=64)
    year: int = Field(primary_key=True)
    employer_code: str = Field(primary_key=True, max_length=32)
    fund_paid: Decimal = money_column()
    deductible_inpatient: Decimal = money_column()
    deductible_outpatient: Decimal = money_column()


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a request carrying an ``Idempotency-Key``, per client and operation."""

    __tablename__ = "idempotency_record"

    client_id: str = Field(primary_key=True, max_length=64)
    #: ``"POST /v1/bills/{id}/settlements"`` with the real path; ``""`` for records written before
    #: migration 0005, which match any operation (their request hash includes method and path).
    operation: str = Field(primary_key=True, max_length=320)
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: str
    created_at: datetime = timestamp()


class Client(SQLModel, table=True):
    """A caller of the API.  Its token is stored only as a SHA-256 hash (tokens carry 256 bits
    of entropy, so a fast hash is enough; the plain token is shown once, at creation)."""

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    role: str = Field(max_length=16)
    hospital_code: str | None = Field(default=None, max_length=64)
    scheme_code: str | None = Field(default=None, max_length=64)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = timestamp()
    revoked_at: datetime | None = timestamp(default=None)


class AuditRecord(SQLModel, table=True):
    """Who did what to which object, when, and how it ended.  Append-only: no API updates or
    deletes these rows (and on PostgreSQL a trigger refuses it)."""

    __tablename__ = "audit_record"
    __table_args__ = (Index("ix_audit_record_at", "at"), Index("ix_audit_record_client_at", "client_id", "at"))

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = timestamp()
    request_id: str | None = Field(default=None, max_length=64)
    client_id: str | None = Field(default=None, max_length=64)
    role: str | None = Field(default=None, max_length=16)
    operation: str = Field(max_length=64)
    method: str = Field(max_length=8)
    path: str = Field(max_length=500)
    object_id: str | None = Field(default=None, max_length=200, index=True)
    status_code: int
    outcome: str = Field(max_length=16)


class AppUser(SQLModel, table=True):
    """A person who signs in to the desk (``/desk``).  Same roles and bindings as a machine
    client; the password is stored only as an argon2id hash.  ``failed_signins`` counts the
    consecutive failures since the last success, ``locked_until`` is set when they reach
    ``SETTLE_SIGNIN_MAX_FAILURES``."""

    __tablename__ = "app_user"

    id: str = Field(primary_key=True, max_length=36)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=200)
    role: str = Field(max_length=16)
    hospital_code: str | None = Field(default=None, max_length=64)
    scheme_code: str | None = Field(default=None, max_length=64)
    password_hash: str = Field(max_length=255)
    failed_signins: int = 0
    last_failed_at: datetime | None = timestamp(default=None)
    locked_until: datetime | None = timestamp(default=None)
    created_at: datetime = timestamp()
    disabled_at: datetime | None = timestamp(default=None)


class UserSession(SQLModel, table=True):
    """A person's signed-in session.  The cookie carries a random token; only its SHA-256 is
    stored.  ``csrf_token`` is the synchronizer token every form of the session must carry."""

    __tablename__ = "user_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="app_user.id", max_length=36, index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = timestamp()
    last_seen_at: datetime = timestamp()
    ended_at: datetime | None = timestamp(default=None)


def core_table(model: type[SQLModel]) -> Table:
    """A table model's Core table, for the Core statements of the hot paths (no ORM unit of work)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table
