"""Settlement requests and responses.

Responses are built as plain dicts by :func:`settlement_public` from the stored row, its bands and
lines as the ledger stored them (:mod:`app.ledger.detail`): fast, no re-validation.  The pydantic
``SettlementPublic`` documents the same shape in OpenAPI, and a test checks that the two agree.
:func:`engine_fields` renders an engine result the same way (the worked examples' tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from app.engine import types as t
from app.ledger import detail
from app.schemas.bills import BillCreate, EmployerIn
from app.schemas.common import Code, In, MoneyIn, MoneyOut, Name, Out, RatioOut, money

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
    lower: MoneyOut
    upper: MoneyOut | None
    ratio: RatioOut
    base: MoneyOut
    amount: MoneyOut


class LinePublic(Out):
    line_no: int
    code: str
    class_: t.CatalogClass | None = Field(alias="class")
    excluded: MoneyOut
    over_limit: MoneyOut
    b_self_pay: MoneyOut
    in_scope: MoneyOut
    reason: t.LineReason | None


class ExternalPaymentPublic(Out):
    payer: str
    voucher_no: str
    amount: MoneyOut


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
    created_at: datetime | None
    reversed_at: datetime | None


def settlement_public(row: Mapping[str, Any], *, preview: bool = False) -> dict[str, Any]:
    """The response body of a settlement, from its stored row (the one serializer)."""
    detail = row["detail"]
    created, reversed_at = row["created_at"], row["reversed_at"]
    employer = None
    if row["payer_type"] == "employer":
        employer = {"code": row["employer_code"], "name": row["employer_name"]}
    compliant = row["compliant_self_pay"]
    return {
        "settlement_id": None if preview else row["id"],
        "bill_id": row["bill_id"],
        "scheme_code": row["scheme_code"],
        "scheme_kind": row["scheme_kind"],
        "payer_type": row["payer_type"],
        "employer": employer,
        "sequence": row["sequence"],
        "status": "preview" if preview else row["status"],
        "policy_year": row["policy_year"],
        "offsite": row["offsite"],
        "registered": row["registered"],
        "medical_total": money(row["medical_total"]),
        "excluded": money(row["excluded"]),
        "over_limit": money(row["over_limit"]),
        "b_self_pay": money(row["b_self_pay"]),
        "in_scope": money(row["in_scope"]),
        "deductible": money(row["deductible"]),
        "bands": detail["bands"],
        "computed_benefit": money(row["computed_benefit"]),
        "benefit_after_cap": money(row["benefit_after_cap"]),
        "prior_payments": money(row["prior_payments"]),
        "coordination_mode": row["coordination_mode"],
        "fund_payment": money(row["fund_payment"]),
        "coordination_reduction": money(row["coordination_reduction"]),
        "patient_responsibility": money(row["patient_responsibility"]),
        "external_payments": detail["external_payments"],
        "lines": detail["lines"],
        "basis_settlement_id": row["basis_settlement_id"],
        "compliant_self_pay": None if compliant is None else money(compliant),
        "created_at": None if preview else created.isoformat(),
        "reversed_at": None if preview or reversed_at is None else reversed_at.isoformat(),
    }


def engine_fields(r: t.SettlementResult) -> dict[str, Any]:
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
