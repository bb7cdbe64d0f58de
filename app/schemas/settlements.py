"""Settlement requests and responses.

A settlement's response is :class:`SettlementPublic`, built by :func:`settlement_public` (the one
renderer) from the ledger's :class:`~app.ledger.records.SettlementRecord`.  Its bands, lines and
external payments are the stored detail, written out once by the ledger (:mod:`app.ledger.detail`)
and shown as written (``MoneyText``); the other figures are the record's decimals, written out by
the model (``MoneyOut``).  :func:`engine_fields` renders an engine result the same way (the worked
examples' tests).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, TypeAdapter

from app.engine import types as t
from app.ledger import detail
from app.ledger.records import SettlementRecord
from app.schemas.bills import BillCreate, EmployerIn
from app.schemas.common import Code, In, InstantOut, MoneyIn, MoneyOut, MoneyText, Name, Out, RatioText, money

SettlementStatus = Literal["settled", "preview", "reversed"]


class ExternalPaymentIn(In):
    payer: Name = Field(description="Who paid, e.g. a commercial insurer.")
    voucher_no: Code
    amount: MoneyIn

    def to_engine(self) -> t.ExternalPayment:
        return t.ExternalPayment(self.payer, self.voucher_no, self.amount)


class EmployerLiabilityIn(In):
    """v2.5: the employer did not enrol the patient and pays what the scheme would have paid."""

    employer: EmployerIn


class SettlementCreate(In):
    scheme_code: Code
    dry_run: bool = False
    external_payments: list[ExternalPaymentIn] = Field(default_factory=list, max_length=50)
    employer_liability: EmployerLiabilityIn | None = Field(
        None, description="Under a uebmi, work_injury or occupational_injury scheme, for a patient who is no member."
    )


class BandPublic(Out):
    lower: MoneyText
    upper: MoneyText | None
    ratio: RatioText
    base: MoneyText
    amount: MoneyText


class LinePublic(Out):
    line_no: int
    code: str
    class_: t.CatalogClass | None = Field(alias="class")
    excluded: MoneyText
    over_limit: MoneyText
    b_self_pay: MoneyText
    in_scope: MoneyText
    reason: t.LineReason | None


class ExternalPaymentPublic(Out):
    payer: str
    voucher_no: str
    amount: MoneyText


class EmployerPublic(Out):
    code: str
    name: str


class SettlementPublic(Out):
    settlement_id: str | None = Field(description="null for a dry run (status preview)")
    bill_id: str
    scheme_code: str
    scheme_kind: t.SchemeKind
    payer_type: t.PayerType = Field(description="employer: an employer's liability (v2.5), not a fund payment")
    employer: EmployerPublic | None = Field(description="The liable employer (payer_type employer), else null")
    sequence: int = Field(description="Order of the settlement on its bill, from 1; a preview shows the next.")
    status: SettlementStatus
    policy_year: int
    offsite: t.Offsite
    registered: bool
    medical_total: MoneyOut
    excluded: MoneyOut
    over_limit: MoneyOut
    b_self_pay: MoneyOut
    in_scope: MoneyOut
    deductible: MoneyOut
    bands: list[BandPublic]
    computed_benefit: MoneyOut
    benefit_after_cap: MoneyOut
    prior_payments: MoneyOut
    coordination_mode: t.Coordination
    fund_payment: MoneyOut
    coordination_reduction: MoneyOut
    patient_responsibility: MoneyOut
    external_payments: list[ExternalPaymentPublic]
    lines: list[LinePublic]
    basis_settlement_id: str | None = Field(
        description="Tiers: the basic scheme's settlement the tier was computed from, else null"
    )
    compliant_self_pay: MoneyOut | None = Field(description="Tiers: the compliant self-pay of v2.3 step 1, else null")
    created_at: InstantOut | None
    reversed_at: InstantOut | None


#: The stored detail's parts as the response's (each list validated in one call).
_BANDS = TypeAdapter(list[BandPublic])
_LINES = TypeAdapter(list[LinePublic])
_EXTERNALS = TypeAdapter(list[ExternalPaymentPublic])


def settlement_public(record: SettlementRecord, *, preview: bool = False) -> SettlementPublic:
    """The response of a settlement (a preview: of one its transaction rolled back)."""
    detail = record.detail
    employer = None
    if record.payer_type == "employer":
        assert record.employer_code is not None and record.employer_name is not None
        employer = EmployerPublic(code=record.employer_code, name=record.employer_name)
    return SettlementPublic(
        settlement_id=None if preview else record.id,
        bill_id=record.bill_id,
        scheme_code=record.scheme_code,
        scheme_kind=record.scheme_kind,
        payer_type=record.payer_type,
        employer=employer,
        sequence=record.sequence,
        status="preview" if preview else record.status,
        policy_year=record.policy_year,
        offsite=record.offsite,
        registered=record.registered,
        medical_total=record.medical_total,
        excluded=record.excluded,
        over_limit=record.over_limit,
        b_self_pay=record.b_self_pay,
        in_scope=record.in_scope,
        deductible=record.deductible,
        bands=_BANDS.validate_python(detail["bands"]),
        computed_benefit=record.computed_benefit,
        benefit_after_cap=record.benefit_after_cap,
        prior_payments=record.prior_payments,
        coordination_mode=record.coordination_mode,
        fund_payment=record.fund_payment,
        coordination_reduction=record.coordination_reduction,
        patient_responsibility=record.patient_responsibility,
        external_payments=_EXTERNALS.validate_python(detail["external_payments"]),
        lines=_LINES.validate_python(detail["lines"]),
        basis_settlement_id=record.basis_settlement_id,
        compliant_self_pay=record.compliant_self_pay,
        created_at=None if preview else record.created_at,
        reversed_at=None if preview else record.reversed_at,
    )


def engine_fields(r: t.SettlementResult) -> dict[str, object]:
    """The engine's part of a settlement response, under the field names of ``api.md``."""
    return {
        "scheme_code": r.scheme_code,
        "policy_year": r.policy_year,
        "offsite": r.offsite,
        "registered": r.registered,
        "medical_total": money(r.medical_total),
        "excluded": money(r.excluded),
        "over_limit": money(r.over_limit),
        "b_self_pay": money(r.b_self_pay),
        "in_scope": money(r.in_scope),
        "deductible": money(r.deductible),
        "bands": detail.bands(r),
        "computed_benefit": money(r.computed_benefit),
        "benefit_after_cap": money(r.benefit_after_cap),
        "prior_payments": money(r.prior_payments),
        "coordination_mode": r.coordination_mode,
        "fund_payment": money(r.fund_payment),
        "coordination_reduction": money(r.coordination_reduction),
        "patient_responsibility": money(r.patient_responsibility),
        "lines": detail.lines(r),
        "basis_settlement_id": r.basis_settlement_id,
        "compliant_self_pay": None if r.compliant_self_pay is None else money(r.compliant_self_pay),
    }


class ClaimCreate(In):
    bill: BillCreate
    schemes: list[Code] = Field(min_length=1, max_length=10, description="Settled in this order.")
    dry_run: bool = False
