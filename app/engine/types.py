"""Frozen inputs and outputs of the settlement engine.

Field names follow ``shared/spec/api.md`` so a result serialises straight into the response.
``klass`` stands for the catalog's ``class`` (a Python keyword).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

Setting = Literal["inpatient", "outpatient"]
Category = Literal["drug", "service", "material", "facility"]
CatalogClass = Literal["A", "B", "C"]
Coordination = Literal["repeat_capped", "gap_fill", "exclusive"]
SchemeKind = Literal[
    "uebmi",
    "urrbmi",
    "nrcms",
    "serious_illness",
    "medical_assistance",
    "large_amount",
    "work_injury",
    "occupational_injury",
]
Offsite = Literal["local", "in_province", "out_of_province"]
#: A line's reason; v3.1's ``work_injury`` and ``not_injury_related`` for the lines outside the
#: scheme's part of a mixed bill.
LineReason = Literal[
    "not_in_catalog", "class_c", "restricted_setting", "restricted_level", "work_injury", "not_injury_related"
]
#: v3.1: the part of a bill carrying a work injury that a settlement pays for.
Part = Literal["injury", "other"]

SETTINGS: tuple[Setting, ...] = ("inpatient", "outpatient")
#: v2.2: the basic schemes (v1), the supplementary tiers and the injury schemes.
BASIC_KINDS: frozenset[str] = frozenset({"uebmi", "urrbmi", "nrcms"})
TIER_KINDS: frozenset[str] = frozenset({"serious_illness", "medical_assistance", "large_amount"})
INJURY_KINDS: frozenset[str] = frozenset({"work_injury", "occupational_injury"})
#: v2.5: the kinds under which an employer may be liable for what the scheme would have paid.
EMPLOYER_LIABLE_KINDS: frozenset[str] = frozenset({"uebmi", "work_injury", "occupational_injury"})
PayerType = Literal["scheme", "employer"]
COORDINATION_MODES: tuple[Coordination, ...] = ("repeat_capped", "gap_fill", "exclusive")


# --- reference data -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scheme:
    code: str
    name: str
    kind: SchemeKind
    pooling_region: str
    coordination: Coordination = "repeat_capped"
    #: The basic scheme a tier supplements (tiers only).
    supplements: str | None = None


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    code: str
    name: str
    category: Category
    klass: CatalogClass
    self_pay_ratio: Decimal | None = None
    price_cap: Decimal | None = None
    settings: tuple[Setting, ...] | None = None
    min_hospital_level: int | None = None


@dataclass(frozen=True, slots=True)
class CatalogVersion:
    version: str
    effective_from: date
    effective_to: date | None
    entries: Mapping[str, CatalogEntry]

    def in_effect_on(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


@dataclass(frozen=True, slots=True)
class Deductible:
    basis: Literal["per_admission", "per_year"]
    by_level: Mapping[int, Decimal] = field(default_factory=dict)
    offsite_by_level: Mapping[int, Decimal] | None = None
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Band:
    up_to: Decimal | None
    ratio_by_level: Mapping[int, Decimal]


@dataclass(frozen=True, slots=True)
class SettingPolicy:
    deductible: Deductible
    bands: tuple[Band, ...]
    delta_registered: Decimal = Decimal("0")
    delta_unregistered: Decimal = Decimal("0")


@dataclass(frozen=True, slots=True)
class Policy:
    year: int
    annual_cap: Decimal
    settings: Mapping[str, SettingPolicy]


@dataclass(frozen=True, slots=True)
class TierBand:
    up_to: Decimal | None
    ratio: Decimal


@dataclass(frozen=True, slots=True)
class TierPolicy:
    """A tier's yearly policy (v2.3): a threshold and bands on the yearly compliant self-pay axis."""

    year: int
    annual_cap: Decimal
    threshold: Decimal
    bands: tuple[TierBand, ...]


@dataclass(frozen=True, slots=True)
class LargeAmountPolicy:
    """A large-amount subsidy's yearly policy (v3.2): its cap and bands on the yearly over-cap axis
    (no threshold)."""

    year: int
    annual_cap: Decimal
    bands: tuple[TierBand, ...]


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date | None

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True, slots=True)
class Registration:
    destination_region: str
    start: date
    end: date | None

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True, slots=True)
class Member:
    member_no: str
    id_number: str
    name: str
    coverage: tuple[Period, ...]
    registrations: tuple[Registration, ...] = ()


# --- the bill -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hospital:
    code: str
    name: str
    level: int
    region: str


@dataclass(frozen=True, slots=True)
class BillLine:
    line_no: int
    code: str
    name: str
    category: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    service_date: date | None = None
    #: v3.1: ``False`` marks a line of a work-injury bill that is not the injury's care; None
    #: (not marked) and ``True`` are the injury's.  A mark is allowed only on such a bill.
    injury_related: bool | None = None

    @property
    def is_injury_line(self) -> bool:
        return self.injury_related is not False


@dataclass(frozen=True, slots=True)
class Employer:
    #: Unified social credit code (GB 32100-2015), 18 characters.
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class ExternalPayment:
    """What another payer (a commercial insurer, …) paid toward the bill, declared with a
    settlement: it counts among the bill's earlier payments (rule 7)."""

    payer: str
    voucher_no: str
    amount: Decimal


AdvanceReason = Literal["employer_not_enrolled", "third_party"]
LiableKind = Literal["employer", "third_party"]


@dataclass(frozen=True, slots=True)
class Liable:
    """Who owes the fund what it advanced (v3.3)."""

    kind: LiableKind
    name: str
    #: A unified social credit code: required for an employer, optional for a third party.
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Advance:
    """A fund's advance (v3.3): the fund pays, and recovers from ``liable`` later."""

    reason: AdvanceReason
    liable: Liable


@dataclass(frozen=True, slots=True)
class WorkInjury:
    """A determined work injury (v2.4)."""

    determination_no: str
    injury_date: date
    employer: Employer


@dataclass(frozen=True, slots=True)
class Bill:
    hospital: Hospital
    bill_no: str
    patient_id_number: str
    patient_name: str
    setting: str
    admission_date: date
    discharge_date: date
    diagnoses: tuple[str, ...]
    items: tuple[BillLine, ...]
    work_injury: WorkInjury | None = None

    @property
    def medical_total(self) -> Decimal:
        return sum((line.amount for line in self.items), Decimal("0.00"))

    @property
    def policy_year(self) -> int:
        """A bill is settled under the policy of the year of its discharge date."""
        return self.discharge_date.year

    def service_day(self, line: BillLine) -> date:
        """The day a line was given: its service date, else the admission date."""
        return line.service_date or self.admission_date


# --- what the ledger knows ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class YearToDate:
    """The person's active totals under this scheme in the policy year, before this bill."""

    fund_paid: Decimal = Decimal("0.00")
    #: Paid toward this setting's ``per_year`` deductible.
    deductible_paid: Decimal = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class SettlementInput:
    bill: Bill
    scheme: Scheme
    #: The patient's membership of the scheme; None when he is no member (only an employer's
    #: liability can then be settled).
    member: Member | None
    catalogs: tuple[CatalogVersion, ...]
    policy: Policy
    #: The person's accumulators: the scheme's, or for an employer's liability that employer's.
    year_to_date: YearToDate = YearToDate()
    #: Active payments on the bill by other schemes plus external payments (including the
    #: ones declared with this settlement).
    prior_payments: Decimal = Decimal("0.00")
    #: Set for an employer's liability (v2.5): the employer pays what the scheme would have.
    employer: Employer | None = None
    #: Set for a fund's advance (v3.3).  ``employer_not_enrolled`` is computed as an employer's
    #: liability (with that employer's accumulators in ``year_to_date``), ``third_party`` as usual.
    advance: Advance | None = None
    #: v3.1, on a bill carrying a work injury: the part of ``prior_payments`` made on this
    #: settlement's own part of the bill (what ``gap_fill`` and ``exclusive`` look at).  None
    #: counts the whole of ``prior_payments``, which never pays more.
    same_part_prior: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Basis:
    """A tier's basis (v2.3): the active, fund-paid settlement of the supplemented basic scheme."""

    settlement_id: str
    scheme_code: str
    offsite: Offsite
    registered: bool
    excluded: Decimal
    over_limit: Decimal
    b_self_pay: Decimal
    in_scope: Decimal
    lines: tuple[LineResult, ...]
    #: The basis's bands and benefit after its cap: a large-amount tier (v3.2) walks them.
    bands: tuple[BandResult, ...] = ()
    benefit_after_cap: Decimal | None = None


@dataclass(frozen=True, slots=True)
class TierYearToDate:
    """A tier's accumulators for the person and policy year, before this bill."""

    fund_paid: Decimal = Decimal("0.00")
    #: The yearly axis: compliant self-pay counted by the tier's active settlements.
    compliant_self_pay: Decimal = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class TierInput:
    bill: Bill
    scheme: Scheme
    #: The patient's membership of the tier (medical assistance); serious illness has none.
    member: Member | None
    #: None when the tier has no policy for the year (``no-policy``).
    policy: TierPolicy | None
    #: None when the bill holds no active fund-paid settlement of the supplemented scheme.
    basis: Basis | None
    #: Fund payments on the bill by the supplemented scheme and every tier supplementing it.
    paid_by_basic_and_tiers: Decimal = Decimal("0.00")
    year_to_date: TierYearToDate = TierYearToDate()
    #: Every active payment on the bill (schemes, tiers, employers, external vouchers).
    prior_payments: Decimal = Decimal("0.00")
    #: As :attr:`SettlementInput.same_part_prior` (a tier pays for the part its basis paid for).
    same_part_prior: Decimal | None = None


@dataclass(frozen=True, slots=True)
class LargeAmountYearToDate:
    """A large-amount tier's accumulators for the person and policy year, before this bill."""

    fund_paid: Decimal = Decimal("0.00")
    #: The yearly axis: the over-cap cost counted by the tier's active settlements.
    over_cap: Decimal = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class LargeAmountInput:
    bill: Bill
    scheme: Scheme
    #: None when the tier has no policy for the year (``no-policy``).
    policy: LargeAmountPolicy | None
    #: None when the bill holds no active fund-paid settlement of the supplemented scheme.
    basis: Basis | None
    year_to_date: LargeAmountYearToDate = LargeAmountYearToDate()
    #: Every active payment on the bill (schemes, tiers, employers, external vouchers).
    prior_payments: Decimal = Decimal("0.00")
    same_part_prior: Decimal | None = None


# --- the result -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineResult:
    line_no: int
    code: str
    klass: CatalogClass | None
    amount: Decimal
    excluded: Decimal
    over_limit: Decimal
    b_self_pay: Decimal
    in_scope: Decimal
    reason: LineReason | None


@dataclass(frozen=True, slots=True)
class BandResult:
    lower: Decimal
    upper: Decimal | None
    ratio: Decimal
    base: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class SettlementResult:
    scheme_code: str
    policy_year: int
    offsite: Offsite
    registered: bool
    medical_total: Decimal
    excluded: Decimal
    over_limit: Decimal
    b_self_pay: Decimal
    in_scope: Decimal
    deductible: Decimal
    #: The part of ``deductible`` that counts toward a ``per_year`` deductible (else 0).
    yearly_deductible: Decimal
    bands: tuple[BandResult, ...]
    computed_benefit: Decimal
    benefit_after_cap: Decimal
    prior_payments: Decimal
    coordination_mode: Coordination
    fund_payment: Decimal
    coordination_reduction: Decimal
    patient_responsibility: Decimal
    lines: tuple[LineResult, ...]
    #: v3.2: the payer's annual cap less what counts toward it for this person (and employer) in
    #: the policy year, this settlement included.
    cap_remaining: Decimal
    #: Tiers only (v2.3): the settlement they were computed from and the compliant self-pay.
    basis_settlement_id: str | None = None
    compliant_self_pay: Decimal | None = None
    #: Large-amount tiers only (v3.2): the basis's in-scope cost above its cap (in place of
    #: ``compliant_self_pay``).
    over_cap: Decimal | None = None
