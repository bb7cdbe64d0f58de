"""Settlement requests and responses.

A settlement's response is documented by :class:`SettlementPublic` and written by
:func:`settlement_public` (the one renderer) from the ledger's
:class:`~app.ledger.records.SettlementRecord`, as the typed document :class:`SettlementBody`.  Its
bands, lines and external payments are the stored detail, written out once by the ledger
(:mod:`app.ledger.detail`) in the response's form and passed through as written; the other figures
are the record's decimals, written out here (``MoneyOut``'s format).

The renderer builds the document directly instead of going through the model: the record is typed
and was checked when it was written, and validating it again (or constructing the model and dumping
it) costs a model object per line, ten to twenty times the renderer's cost on a claim of a few dozen
lines, on the path every claim takes.  ``tests/test_settlement_record.py`` holds the two together:
the body validates as the model and dumps back to itself, key for key, in the model's order.
:func:`engine_fields` renders an engine result the same way (the worked examples' tests).
"""

from __future__ import annotations

from typing import Literal, TypedDict

from pydantic import Field

from app.engine import types as t
from app.ledger import detail
from app.ledger.records import BandDoc, ExternalPaymentDoc, LineDoc, SettlementRecord
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


class LiableIn(In):
    kind: t.LiableKind
    code: str | None = Field(
        None,
        min_length=1,
        max_length=32,
        description="Unified social credit code (GB 32100-2015): required for an employer, optional for a third party.",
    )
    name: Name

    def to_engine(self) -> t.Liable:
        return t.Liable(self.kind, self.name, self.code)


class AdvanceIn(In):
    """v3.3: the fund advances what the liable party does not pay, and recovers it later."""

    reason: t.AdvanceReason
    liable: LiableIn

    def to_engine(self) -> t.Advance:
        return t.Advance(self.reason, self.liable.to_engine())


class SettlementCreate(In):
    scheme_code: Code
    dry_run: bool = False
    external_payments: list[ExternalPaymentIn] = Field(default_factory=list, max_length=50)
    employer_liability: EmployerLiabilityIn | None = Field(
        None, description="Under a uebmi, work_injury or occupational_injury scheme, for a patient who is no member."
    )
    advance: AdvanceIn | None = Field(
        None,
        description="employer_not_enrolled under an injury scheme; third_party under a basic or an injury scheme.",
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


class LiablePublic(Out):
    kind: t.LiableKind
    code: str | None
    name: str


class AdvancePublic(Out):
    reason: t.AdvanceReason
    liable: LiablePublic
    receivable_id: str | None = Field(description="null when the fund paid 0.00 (no receivable) or in a preview")


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
    cap_remaining: MoneyOut | None = Field(
        description="The payer's annual cap left after this settlement (null on settlements made before v3)"
    )
    over_cap: MoneyOut | None = Field(description="large_amount tiers: the basis's in-scope cost above its cap")
    advance: AdvancePublic | None = Field(description="A fund's advance (v3.3), else null")


class LiableBody(TypedDict):
    kind: t.LiableKind
    code: str | None
    name: str


class AdvanceBody(TypedDict):
    reason: t.AdvanceReason
    liable: LiableBody
    receivable_id: str | None


class EmployerBody(TypedDict):
    code: str
    name: str


class SettlementBody(TypedDict):
    """:class:`SettlementPublic` as its JSON document: the same keys in the same order, money and
    instants as strings."""

    settlement_id: str | None
    bill_id: str
    scheme_code: str
    scheme_kind: t.SchemeKind
    payer_type: t.PayerType
    employer: EmployerBody | None
    sequence: int
    status: SettlementStatus
    policy_year: int
    offsite: t.Offsite
    registered: bool
    medical_total: str
    excluded: str
    over_limit: str
    b_self_pay: str
    in_scope: str
    deductible: str
    bands: list[BandDoc]
    computed_benefit: str
    benefit_after_cap: str
    prior_payments: str
    coordination_mode: t.Coordination
    fund_payment: str
    coordination_reduction: str
    patient_responsibility: str
    external_payments: list[ExternalPaymentDoc]
    lines: list[LineDoc]
    basis_settlement_id: str | None
    compliant_self_pay: str | None
    created_at: str | None
    reversed_at: str | None
    cap_remaining: str | None
    over_cap: str | None
    advance: AdvanceBody | None


def settlement_public(record: SettlementRecord, *, preview: bool = False) -> SettlementBody:
    """The response body of a settlement (a preview: of one its transaction rolled back).  The
    detail's lists are the record's own (shared, not copied: neither is changed once written)."""
    detail = record.detail
    employer: EmployerBody | None = None
    if record.payer_type == "employer":
        assert record.employer_code is not None and record.employer_name is not None
        employer = {"code": record.employer_code, "name": record.employer_name}
    compliant = record.compliant_self_pay
    reversed_at = record.reversed_at
    return {
        "settlement_id": None if preview else record.id,
        "bill_id": record.bill_id,
        "scheme_code": record.scheme_code,
        "scheme_kind": record.scheme_kind,
        "payer_type": record.payer_type,
        "employer": employer,
        "sequence": record.sequence,
        "status": "preview" if preview else record.status,
        "policy_year": record.policy_year,
        "offsite": record.offsite,
        "registered": record.registered,
        "medical_total": money(record.medical_total),
        "excluded": money(record.excluded),
        "over_limit": money(record.over_limit),
        "b_self_pay": money(record.b_self_pay),
        "in_scope": money(record.in_scope),
        "deductible": money(record.deductible),
        "bands": detail["bands"],
        "computed_benefit": money(record.computed_benefit),
        "benefit_after_cap": money(record.benefit_after_cap),
        "prior_payments": money(record.prior_payments),
        "coordination_mode": record.coordination_mode,
        "fund_payment": money(record.fund_payment),
        "coordination_reduction": money(record.coordination_reduction),
        "patient_responsibility": money(record.patient_responsibility),
        "external_payments": detail["external_payments"],
        "lines": detail["lines"],
        "basis_settlement_id": record.basis_settlement_id,
        "compliant_self_pay": None if compliant is None else money(compliant),
        "created_at": None if preview else record.created_at.isoformat(),
        "reversed_at": None if preview or reversed_at is None else reversed_at.isoformat(),
        "cap_remaining": None if record.cap_remaining is None else money(record.cap_remaining),
        "over_cap": None if record.over_cap is None else money(record.over_cap),
        "advance": _advance(record, preview),
    }


def _advance(record: SettlementRecord, preview: bool) -> AdvanceBody | None:
    advance = record.advance
    if advance is None:
        return None
    liable = advance.liable
    return {
        "reason": advance.reason,
        "liable": {"kind": liable.kind, "code": liable.code, "name": liable.name},
        "receivable_id": None if preview else record.receivable_id,
    }


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
        "cap_remaining": money(r.cap_remaining),
        "over_cap": None if r.over_cap is None else money(r.over_cap),
    }


class ClaimCreate(In):
    bill: BillCreate
    schemes: list[Code] = Field(min_length=1, max_length=10, description="Settled in this order.")
    dry_run: bool = False
