"""A settlement as a ``ClaimResponse`` and an ``ExplanationOfBenefit``, a bill as a ``Claim``, and
the ``Bundle`` of a search or a submitted claim: ``fhir.resources`` R4B models built from the
ledger's typed values, mapped as fhir.md's table says (docs/decisions/0014 lists the choices the
table leaves open).

The constant parts (every category, type and reason as a ``CodeableConcept``) are built once, with
validation, when this module is imported.  A settlement's resources are built per request with
``model_construct`` (no validation: pydantic documents it for trusted, already validated values,
which the ledger's records are, and ``fhir.resources`` documents it as a way to build a resource);
validating them again cost more than the whole REST read (bench/fhir.py).  mypy checks every
element's name and type (the pydantic plugin types ``model_construct``), and the tests parse every
kind of resource this module builds with the R4B models and compare its figures with the REST
settlement's.  The ``Claim`` and the ``Bundle`` are validated as they are built.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import TypeVar, cast

from fhir.resources.R4B.bundle import Bundle, BundleEntry, BundleEntrySearch, BundleLink
from fhir.resources.R4B.claim import Claim, ClaimDiagnosis, ClaimInsurance, ClaimItem
from fhir.resources.R4B.claimresponse import (
    ClaimResponse,
    ClaimResponseInsurance,
    ClaimResponseItem,
    ClaimResponseItemAdjudication,
    ClaimResponsePayment,
    ClaimResponseTotal,
)
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.explanationofbenefit import (
    ExplanationOfBenefit,
    ExplanationOfBenefitBenefitBalance,
    ExplanationOfBenefitBenefitBalanceFinancial,
    ExplanationOfBenefitInsurance,
    ExplanationOfBenefitItem,
    ExplanationOfBenefitItemAdjudication,
    ExplanationOfBenefitPayment,
    ExplanationOfBenefitTotal,
)
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.money import Money
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource

from app.db import tables as db
from app.fhir import codes as c
from app.ledger.reads import Parties
from app.ledger.records import BandDoc, LineDoc, SettlementRecord
from app.ledger.stored import StoredLine
from app.privacy import mask_id


def _concept(system: str, code: str) -> CodeableConcept:
    return CodeableConcept(coding=[Coding(system=system, code=code)])


#: Adjudication categories by code: HL7's where it has one, else this service's (codes.OWN_ADJUDICATION).
CATEGORY: dict[str, CodeableConcept] = {
    **{
        code: _concept(c.ADJUDICATION, code)
        for code in ("submitted", "eligible", "deductible", "eligpercent", "benefit")
    },
    **{code: _concept(c.OWN_ADJUDICATION.url, code) for code in sorted(c.OWN_ADJUDICATION.codes())},
}
REASON: dict[str, CodeableConcept] = {code: _concept(c.OWN_REASON.url, code) for code in sorted(c.OWN_REASON.codes())}
#: ``benefit-after-cap``'s reason when the annual cap cut the benefit: HL7's "Plan Limit Reached".
CAP_REACHED = _concept(c.ADJUDICATION_REASON, "ar002")
CLAIM_TYPE: dict[str, CodeableConcept] = {s: _concept(c.CLAIM_TYPE, code) for s, code in c.CLAIM_TYPES.items()}
PAYMENT_COMPLETE = _concept(c.PAYMENT_TYPE, "complete")
PRIORITY_NORMAL = _concept(c.PRIORITY, "normal")
#: The annual cap's balance: "Health Benefit Plan Coverage", a "benefit" over an "annual" term.
BENEFIT_CATEGORY = _concept(c.BENEFIT_CATEGORY, "30")
BENEFIT_TYPE = _concept(c.BENEFIT_TYPE, "benefit")
BENEFIT_TERM = _concept(c.BENEFIT_TERM, "annual")

Adjudication = TypeVar("Adjudication", ClaimResponseItemAdjudication, ExplanationOfBenefitItemAdjudication)


ZERO = Decimal("0.00")
ZERO_MONEY = Money(value=ZERO, currency=c.CURRENCY)


def money(value: Decimal) -> Money:
    if not value:
        return ZERO_MONEY
    return Money.model_construct(value=value, currency=c.CURRENCY)


def _adjudication(
    kind: type[Adjudication],
    code: str,
    amount: Decimal | None = None,
    *,
    value: Decimal | None = None,
    reason: CodeableConcept | None = None,
    extension: list[Extension] | None = None,
) -> Adjudication:
    if amount is not None and not amount and value is None and reason is None and extension is None:
        return cast(dict[str, Adjudication], _ZEROS[kind])[code]
    return kind.model_construct(
        category=CATEGORY[code],
        amount=None if amount is None else money(amount),
        value=value,
        reason=reason,
        extension=extension,
    )


#: Each category's adjudication of 0.00 (most of a line's), built once and shared: nothing changes
#: a resource once built.
_ZEROS: dict[type, dict[str, ClaimResponseItemAdjudication | ExplanationOfBenefitItemAdjudication]] = {
    kind: {code: kind(category=concept, amount=ZERO_MONEY) for code, concept in CATEGORY.items()}
    for kind in (ClaimResponseItemAdjudication, ExplanationOfBenefitItemAdjudication)
}


def line_adjudication(kind: type[Adjudication], line: LineDoc) -> list[Adjudication]:
    """A line's ``submitted`` (its amount: the four parts it was split into), ``eligible`` (in
    scope), ``excluded`` (with the line's reason), ``over-limit`` and ``b-self-pay``; zeros listed."""
    excluded, over_limit = Decimal(line["excluded"]), Decimal(line["over_limit"])
    b_self_pay, in_scope = Decimal(line["b_self_pay"]), Decimal(line["in_scope"])
    reason = line["reason"]
    return [
        _adjudication(kind, "submitted", excluded + over_limit + b_self_pay + in_scope),
        _adjudication(kind, "eligible", in_scope),
        _adjudication(kind, "excluded", excluded, reason=None if reason is None else REASON[reason]),
        _adjudication(kind, "over-limit", over_limit),
        _adjudication(kind, "b-self-pay", b_self_pay),
    ]


def _band_extension(band: BandDoc) -> list[Extension]:
    parts = [Extension.model_construct(url="lower", valueMoney=money(Decimal(band["lower"])))]
    if band["upper"] is not None:
        parts.append(Extension.model_construct(url="upper", valueMoney=money(Decimal(band["upper"]))))
    parts.append(Extension.model_construct(url="base", valueMoney=money(Decimal(band["base"]))))
    return [Extension.model_construct(url=c.BAND_EXTENSION, extension=parts)]


def header_adjudication(kind: type[Adjudication], r: SettlementRecord) -> list[Adjudication]:
    """The settlement's figures in the order of api.md's response: the lines' totals, the
    deductible, each band (``eligpercent`` and ``benefit``, its bounds and base in an extension),
    the benefit before and after the cap, prior payments, the coordination reduction, and a
    tier's compliant self-pay or over-cap cost."""
    out = [
        _adjudication(kind, "excluded", r.excluded),
        _adjudication(kind, "over-limit", r.over_limit),
        _adjudication(kind, "b-self-pay", r.b_self_pay),
        _adjudication(kind, "deductible", r.deductible),
    ]
    for band in r.detail["bands"]:
        bounds = _band_extension(band)
        out.append(_adjudication(kind, "eligpercent", value=Decimal(band["ratio"]), extension=bounds))
        out.append(_adjudication(kind, "benefit", Decimal(band["amount"]), extension=bounds))
    cut = r.benefit_after_cap < r.computed_benefit
    out += [
        _adjudication(kind, "computed-benefit", r.computed_benefit),
        _adjudication(kind, "benefit-after-cap", r.benefit_after_cap, reason=CAP_REACHED if cut else None),
        _adjudication(kind, "prior-payer-paid", r.prior_payments),
        _adjudication(kind, "coordination-reduction", r.coordination_reduction),
    ]
    if r.compliant_self_pay is not None:
        out.append(_adjudication(kind, "compliant-self-pay", r.compliant_self_pay))
    if r.over_cap is not None:
        out.append(_adjudication(kind, "over-cap", r.over_cap))
    return out


def _totals(r: SettlementRecord) -> Iterable[tuple[CodeableConcept, Money]]:
    yield CATEGORY["submitted"], money(r.medical_total)
    yield CATEGORY["eligible"], money(r.in_scope)
    yield CATEGORY["benefit"], money(r.fund_payment)
    yield CATEGORY["patient-responsibility"], money(r.patient_responsibility)


def patient(id_number: str, name: str) -> Reference:
    """The patient by resident ID number (masked, as in every answer of this service) and name."""
    return Reference.model_construct(
        identifier=Identifier.model_construct(system=c.RESIDENT_ID, value=mask_id(id_number)), display=name
    )


def insurer(r: SettlementRecord) -> Reference:
    """The payer: the scheme, or for an employer's liability (v2.5) the employer."""
    if r.payer_type == "employer" and r.employer_code is not None:
        return Reference.model_construct(
            identifier=Identifier.model_construct(system=c.EMPLOYER, value=r.employer_code), display=r.employer_name
        )
    return scheme(r.scheme_code)


def scheme(code: str) -> Reference:
    return Reference.model_construct(identifier=Identifier.model_construct(system=c.SCHEME, value=code))


def _identity(r: SettlementRecord, preview: bool) -> tuple[str | None, list[Identifier] | None]:
    if preview:
        return None, None
    return r.id, [Identifier.model_construct(system=c.SETTLEMENT, value=r.id)]


def _status(r: SettlementRecord) -> str:
    return "cancelled" if r.status == "reversed" else "active"


def claim_response(r: SettlementRecord, patient_name: str, *, preview: bool = False) -> ClaimResponse:
    """One settlement (or a preview: ``use`` predetermination, no id) as a ``ClaimResponse``."""
    rid, identifier = _identity(r, preview)
    kind = ClaimResponseItemAdjudication
    return ClaimResponse.model_construct(
        id=rid,
        identifier=identifier,
        status=_status(r),
        type=CLAIM_TYPE[r.setting],
        use="predetermination" if preview else "claim",
        patient=patient(r.patient_id_number, patient_name),
        created=r.created_at,
        insurer=insurer(r),
        request=Reference.model_construct(reference=f"Claim/{r.bill_id}"),
        outcome="complete",
        item=[
            ClaimResponseItem.model_construct(itemSequence=line["line_no"], adjudication=line_adjudication(kind, line))
            for line in r.detail["lines"]
        ],
        adjudication=header_adjudication(kind, r),
        total=[ClaimResponseTotal.model_construct(category=cat, amount=amount) for cat, amount in _totals(r)],
        payment=ClaimResponsePayment.model_construct(type=PAYMENT_COMPLETE, amount=money(r.fund_payment)),
        insurance=[
            ClaimResponseInsurance.model_construct(sequence=r.sequence, focal=True, coverage=scheme(r.scheme_code))
        ],
    )


def explanation_of_benefit(r: SettlementRecord, parties: Parties) -> ExplanationOfBenefit:
    """One settlement as an ``ExplanationOfBenefit``: the ``ClaimResponse``'s figures, the line's
    code as ``productOrService``, ``precedence`` its sequence, and the payer's annual cap as a
    ``benefitBalance`` (``used``: the cap less ``cap_remaining``; left out on settlements made
    before v3, which have none)."""
    kind = ExplanationOfBenefitItemAdjudication
    used = None if r.cap_remaining is None else money(parties.annual_cap - r.cap_remaining)
    financial = ExplanationOfBenefitBenefitBalanceFinancial.model_construct(
        type=BENEFIT_TYPE, allowedMoney=money(parties.annual_cap), usedMoney=used
    )
    return ExplanationOfBenefit.model_construct(
        id=r.id,
        identifier=[Identifier.model_construct(system=c.SETTLEMENT, value=r.id)],
        status=_status(r),
        type=CLAIM_TYPE[r.setting],
        use="claim",
        patient=patient(r.patient_id_number, parties.patient_name),
        created=r.created_at,
        insurer=insurer(r),
        provider=Reference.model_construct(
            identifier=Identifier.model_construct(system=c.HOSPITAL, value=r.hospital_code),
            display=parties.hospital_name,
        ),
        claim=Reference.model_construct(reference=f"Claim/{r.bill_id}"),
        claimResponse=Reference.model_construct(reference=f"ClaimResponse/{r.id}"),
        outcome="complete",
        precedence=r.sequence,
        insurance=[ExplanationOfBenefitInsurance.model_construct(focal=True, coverage=scheme(r.scheme_code))],
        item=[
            ExplanationOfBenefitItem.model_construct(
                sequence=line["line_no"],
                productOrService=CodeableConcept.model_construct(coding=[Coding.model_construct(code=line["code"])]),
                adjudication=line_adjudication(kind, line),
            )
            for line in r.detail["lines"]
        ],
        adjudication=header_adjudication(kind, r),
        total=[ExplanationOfBenefitTotal.model_construct(category=cat, amount=amount) for cat, amount in _totals(r)],
        payment=ExplanationOfBenefitPayment.model_construct(type=PAYMENT_COMPLETE, amount=money(r.fund_payment)),
        benefitBalance=[
            ExplanationOfBenefitBenefitBalance.model_construct(
                category=BENEFIT_CATEGORY, term=BENEFIT_TERM, financial=[financial]
            )
        ],
    )


def claim(bill: db.Bill, settlements: Sequence[SettlementRecord]) -> Claim:
    """A bill as a ``Claim``: one ``insurance`` per settlement (active or reversed) in sequence
    order, each with its ``claimResponse``; ``focal`` on the active ones.  Built with validation."""
    return Claim(
        id=bill.id,
        identifier=[Identifier(system=c.BILL_NO, value=bill.bill_no)],
        status="active",
        type=CLAIM_TYPE[bill.setting],
        use="claim",
        patient=Reference(
            identifier=Identifier(system=c.RESIDENT_ID, value=mask_id(bill.patient_id_number)),
            display=bill.patient_name,
        ),
        # A FHIR dateTime may be a day; the library types the element as a datetime.
        billablePeriod=Period.model_validate(
            {"start": bill.admission_date.isoformat(), "end": bill.discharge_date.isoformat()}
        ),
        created=bill.created_at,
        provider=Reference(
            identifier=Identifier(system=c.HOSPITAL, value=bill.hospital_code), display=bill.hospital_name
        ),
        priority=PRIORITY_NORMAL,
        insurance=[
            ClaimInsurance(
                sequence=s.sequence,
                focal=s.status == "settled",
                coverage=Reference(identifier=Identifier(system=c.SCHEME, value=s.scheme_code)),
                claimResponse=Reference(reference=f"ClaimResponse/{s.id}"),
            )
            for s in settlements
        ],
        diagnosis=[
            ClaimDiagnosis(sequence=i, diagnosisCodeableConcept=_concept(c.ICD10, code))
            for i, code in enumerate(bill.diagnoses, start=1)
        ]
        or None,
        item=[
            ClaimItem(
                sequence=line["line_no"],
                productOrService=CodeableConcept(coding=[Coding(code=line["code"])], text=line["name"]),
                category=CodeableConcept(coding=[Coding(code=line["category"])]),
                quantity=Quantity(value=Decimal(line["quantity"])),
                unitPrice=Money(value=Decimal(line["unit_price"]), currency=c.CURRENCY),
                net=Money(value=Decimal(line["amount"]), currency=c.CURRENCY),
                servicedDate=None if line["service_date"] is None else date.fromisoformat(line["service_date"]),
            )
            for line in cast(list[StoredLine], bill.items)
        ],
        total=Money(value=bill.medical_total, currency=c.CURRENCY),
    )


def searchset(base: str, resources: Sequence[ClaimResponse | ExplanationOfBenefit], self_link: str) -> Bundle:
    """A search's answer: every match, in the order given."""
    return Bundle(
        type="searchset",
        total=len(resources),
        link=[BundleLink(relation="self", url=self_link)],
        entry=[
            BundleEntry(fullUrl=_full_url(base, r), resource=r, search=BundleEntrySearch(mode="match"))
            for r in resources
        ],
    )


def collection(base: str, resources: Sequence[ClaimResponse]) -> Bundle:
    """A submitted claim's answer: one ``ClaimResponse`` per insurance, in sequence order (a
    preview's have no id, and so no ``fullUrl``)."""
    return Bundle(
        type="collection",
        entry=[BundleEntry(fullUrl=None if r.id is None else _full_url(base, r), resource=r) for r in resources],
    )


def _full_url(base: str, resource: Resource) -> str:
    return f"{base}/{resource.get_resource_type()}/{resource.id}"
