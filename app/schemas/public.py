"""Response shapes for OpenAPI, each with the function that renders it beside it (``bill_public``,
``split_public``, …).  Renderers build plain dicts (no re-validation on the hot path); the
models document them, and ``tests/api/test_renderers.py`` and schemathesis check that the two
agree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from pydantic import Field

from app.db import tables as db
from app.engine import types as t
from app.engine.money import ZERO, format_ratio
from app.engine.validate import plain
from app.ledger.rows import BillRow
from app.privacy import mask_id
from app.schemas.common import MoneyOut, Out, RatioOut, money
from app.schemas.hospitals import PageMeta
from app.schemas.reference import LargeAmountPolicyCreate, PolicyCreate, TierPolicyCreate
from app.schemas.settlements import SettlementPublic


class DeductiblePublic(Out):
    basis: Literal["per_admission", "per_year"]
    by_level: dict[str, MoneyOut] | None
    offsite_by_level: dict[str, MoneyOut] | None
    amount: MoneyOut | None


class BandRulePublic(Out):
    up_to: MoneyOut | None
    ratio_by_level: dict[str, RatioOut]


class OffsiteDeltaPublic(Out):
    registered: RatioOut
    unregistered: RatioOut


class SettingPolicyPublic(Out):
    deductible: DeductiblePublic
    bands: list[BandRulePublic]
    offsite_ratio_delta: OffsiteDeltaPublic


class PolicyPublic(Out):
    scheme_code: str
    year: int
    annual_cap: MoneyOut
    inpatient: SettingPolicyPublic | None
    outpatient: SettingPolicyPublic | None


class TierBandRulePublic(Out):
    up_to: MoneyOut | None
    ratio: RatioOut


class TierPolicyPublic(Out):
    """A tier's yearly policy (v2.3)."""

    scheme_code: str
    year: int
    annual_cap: MoneyOut
    threshold: MoneyOut
    bands: list[TierBandRulePublic]


class LargeAmountPolicyPublic(Out):
    """A large-amount subsidy's yearly policy (v3.2)."""

    scheme_code: str
    year: int
    annual_cap: MoneyOut
    bands: list[TierBandRulePublic]


class DateRangePublic(Out):
    from_: date = Field(alias="from")
    to: date | None


class RegistrationPublic(DateRangePublic):
    destination_region: str


class MemberPublic(Out):
    scheme_code: str
    member_no: str
    id_number: str = Field(description="Masked: first 6 and last 4 characters.")
    name: str
    coverage: list[DateRangePublic]
    offsite_registrations: list[RegistrationPublic]


class HospitalPublic(Out):
    code: str
    name: str
    level: int
    region: str


class PatientPublic(Out):
    id_number: str = Field(description="Masked: first 6 and last 4 characters.")
    name: str


class BillItemPublic(Out):
    line_no: int
    code: str
    name: str
    category: t.Category
    quantity: str
    unit_price: MoneyOut
    amount: MoneyOut
    service_date: date | None
    injury_related: bool | None = Field(
        None, description="On every line of a bill with work_injury (v3.1): false for care that is not the injury's"
    )


class EmployerOut(Out):
    code: str
    name: str


class WorkInjuryPublic(Out):
    determination_no: str
    injury_date: date
    employer: EmployerOut


class BillPublic(Out):
    bill_id: str
    hospital: HospitalPublic
    bill_no: str
    patient: PatientPublic
    setting: t.Setting
    admission_date: date
    discharge_date: date
    diagnoses: list[str]
    items: list[BillItemPublic]
    medical_total: MoneyOut
    paid_total: MoneyOut = Field(description="Active payments so far (schemes, employers and external payers).")
    work_injury: WorkInjuryPublic | None = Field(description="A determined work injury (v2.4), else null")
    created_at: datetime


class PaymentPublic(Out):
    sequence: int
    payer_type: Literal["scheme", "employer", "external"]
    payer: str = Field(description="The scheme's code, the employer's name, or the external payer")
    scheme_code: str | None = Field(description="The scheme paid under (schemes and employers)")
    scheme_kind: t.SchemeKind | None = Field(description="The kind of that scheme (schemes and employers)")
    employer_code: str | None = Field(description="The liable employer's unified social credit code (employers)")
    voucher_no: str | None
    amount: MoneyOut
    settlement_id: str | None


class SplitPublic(Out):
    bill_id: str
    medical_total: MoneyOut
    payments: list[PaymentPublic]
    total_paid: MoneyOut
    patient_responsibility: MoneyOut


class Payment(Protocol):
    """What the split sheet shows of one payment (:class:`app.ledger.split.Payment`)."""

    @property
    def sequence(self) -> int: ...
    @property
    def payer_type(self) -> str: ...
    @property
    def payer(self) -> str | None: ...
    @property
    def scheme_code(self) -> str | None: ...
    @property
    def scheme_kind(self) -> str | None: ...
    @property
    def employer_code(self) -> str | None: ...
    @property
    def voucher_no(self) -> str | None: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def settlement_id(self) -> str: ...


def split_public(bill: db.Bill | BillRow, payments: Sequence[Payment]) -> dict[str, Any]:
    """The body of a :class:`SplitPublic`: the bill's active payments and what is left."""
    total = sum((p.amount for p in payments), ZERO)
    return {
        "bill_id": bill.id,
        "medical_total": money(bill.medical_total),
        "payments": [
            {
                "sequence": p.sequence,
                "payer_type": p.payer_type,
                "payer": p.payer,
                "scheme_code": p.scheme_code,
                "scheme_kind": p.scheme_kind,
                "employer_code": p.employer_code,
                "voucher_no": p.voucher_no,
                "amount": money(p.amount),
                "settlement_id": p.settlement_id,
            }
            for p in payments
        ],
        "total_paid": money(total),
        "patient_responsibility": money(bill.medical_total - total),
    }


class ClaimPublic(Out):
    bill: BillPublic
    settlements: list[SettlementPublic]
    split: SplitPublic


class Health(Out):
    status: Literal["ok"]


class Readiness(Out):
    status: Literal["ready"]
    database: str


class BillPage(PageMeta):
    items: list[BillPublic]


class SettlementPage(PageMeta):
    items: list[SettlementPublic]


def bill_public(row: db.Bill | BillRow) -> dict[str, Any]:
    """A bill as clients see it; the resident ID number is masked."""
    return {
        "bill_id": row.id,
        "hospital": {
            "code": row.hospital_code,
            "name": row.hospital_name,
            "level": row.hospital_level,
            "region": row.hospital_region,
        },
        "bill_no": row.bill_no,
        "patient": {"id_number": mask_id(row.patient_id_number), "name": row.patient_name},
        "setting": row.setting,
        "admission_date": row.admission_date.isoformat(),
        "discharge_date": row.discharge_date.isoformat(),
        "diagnoses": list(row.diagnoses),
        # Bills stored before quantities were kept as sent hold a normalized form ("1E+1").
        "items": [_item(i, injury=row.work_injury is not None) for i in row.items],
        "medical_total": money(row.medical_total),
        "paid_total": money(row.paid_total),
        "work_injury": row.work_injury,
        "created_at": row.created_at.isoformat(),
    }


def member_public(row: db.Member) -> dict[str, Any]:
    return {
        "scheme_code": row.scheme_code,
        "member_no": row.member_no,
        "id_number": mask_id(row.id_number),
        "name": row.name,
        "coverage": row.coverage,
        "offsite_registrations": row.offsite_registrations,
    }


def policy_public(row: db.Policy) -> dict[str, Any]:
    out: dict[str, Any] = {"scheme_code": row.scheme_code, "year": row.year, "annual_cap": money(row.annual_cap)}
    if "bands" in row.body:  # a tier's (v2.3), or a large-amount subsidy's without threshold (v3.2)
        tier = (TierPolicyCreate if "threshold" in row.body else LargeAmountPolicyCreate).model_validate(row.body)
        if isinstance(tier, TierPolicyCreate):
            out["threshold"] = money(tier.threshold)
        out["bands"] = [
            {"up_to": None if b.up_to is None else money(b.up_to), "ratio": format_ratio(b.ratio)} for b in tier.bands
        ]
        return out
    body = PolicyCreate.model_validate(row.body)
    for setting in ("inpatient", "outpatient"):
        section = getattr(body, setting)
        out[setting] = None if section is None else _section_public(section.model_dump())
    return out


def _section_public(section: dict[str, Any]) -> dict[str, Any]:
    d = section["deductible"]

    def levels(m: dict[str, Any] | None, fmt: Any) -> dict[str, str] | None:
        return None if m is None else {k: fmt(v) for k, v in m.items()}

    return {
        "deductible": {
            "basis": d["basis"],
            "by_level": levels(d["by_level"], money),
            "offsite_by_level": levels(d["offsite_by_level"], money),
            "amount": None if d["amount"] is None else money(d["amount"]),
        },
        "bands": [
            {
                "up_to": None if b["up_to"] is None else money(b["up_to"]),
                "ratio_by_level": levels(b["ratio_by_level"], format_ratio),
            }
            for b in section["bands"]
        ],
        "offsite_ratio_delta": {k: format_ratio(v) for k, v in section["offsite_ratio_delta"].items()},
    }


def _item(item: Mapping[str, Any], *, injury: bool) -> dict[str, Any]:
    """A stored line as shown: the quantity as sent; its ``injury_related`` mark on a work-injury
    bill (lines stored before v3 carry none: they are the injury's), null on any other bill."""
    mark = item.get("injury_related", True) if injury else None
    return {**item, "quantity": plain(Decimal(item["quantity"])), "injury_related": mark}
