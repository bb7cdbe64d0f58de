"""What the ledger reads of its rows, as values: the bill, the reference rows a settlement needs,
the bill's active settlements, the accumulators' keys and their amounts under lock."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Table

from app.db.tables import Accumulates
from app.engine.money import ZERO
from app.ledger.stored import CoverageDoc, PolicyDoc, RegistrationDoc, StoredLine, WorkInjuryDoc


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """A policy row as a settlement needs it.  ``body`` is None when it was not read: a used
    policy's parsed form is kept per process (:func:`app.ledger.inputs.policy_for`)."""

    id: int
    used: bool
    updated_at: datetime
    body: PolicyDoc | None = None


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A member row as a settlement needs it (its coverage and registrations as stored)."""

    member_no: str
    id_number: str
    name: str
    coverage: list[CoverageDoc]
    offsite_registrations: list[RegistrationDoc]


@dataclass(frozen=True, slots=True)
class VersionRow:
    """A catalog version row (its entries are read or cached by :mod:`app.ledger.inputs`)."""

    id: int
    version: str
    effective_from: date
    effective_to: date | None
    used: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Active:
    """An active settlement of a bill, as much as settling and reversing need of it."""

    id: str
    scheme_code: str
    fund_payment: Decimal
    sequence: int
    payer_type: str
    basis_settlement_id: str | None
    #: The scheme's kind (which part of a mixed bill it paid for, v3.1) and the external payments
    #: declared with it (they belong to the same part).
    scheme_kind: str
    external_total: Decimal


@dataclass(frozen=True, slots=True, order=True)
class YearKey:
    scheme_code: str
    id_number: str
    year: int


@dataclass(frozen=True, slots=True, order=True)
class EmployerYearKey:
    scheme_code: str
    employer_code: str
    id_number: str
    year: int


@dataclass(eq=False)
class Totals(Accumulates):
    """An accumulator row as read under its lock.  The settlement (or reversal) moves it in memory
    and writes it back (:func:`app.ledger.accumulators.save_totals`): the same row, the same values
    as an ORM flush, without the ORM's entity loading and unit of work on the hot path."""

    table: Table
    key: YearKey | EmployerYearKey
    fund_paid: Decimal
    deductible_inpatient: Decimal
    deductible_outpatient: Decimal
    #: A tier's yearly compliant self-pay axis (``year_total`` only).
    compliant_self_pay: Decimal = ZERO
    #: A large-amount tier's yearly over-cap axis (``year_total`` only, v3.2).
    over_cap: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class BillRow:
    """A bill's row as read (or as just inserted); the ledger moves ``paid_total`` and
    ``last_sequence`` by replacing it (:func:`app.ledger.bill_state.moved`)."""

    id: str
    hospital_code: str
    bill_no: str
    hospital_name: str
    hospital_level: int
    hospital_region: str
    patient_id_number: str
    patient_name: str
    setting: str
    admission_date: date
    discharge_date: date
    diagnoses: list[str]
    items: list[StoredLine]
    work_injury: WorkInjuryDoc | None
    medical_total: Decimal
    content_hash: str
    paid_total: Decimal
    last_sequence: int
    created_by: str
    created_at: datetime

    def values(self) -> dict[str, object]:
        """The row's column values by name: a new bill's insert parameters."""
        return {name: getattr(self, name) for name in BILL_COLUMNS}


BILL_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(BillRow))
