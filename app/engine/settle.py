"""One scheme's benefit on one bill: the whole of ``settlement-rules.md``, pure.

``settle`` takes a :class:`SettlementInput` (the bill, the scheme, the member, the scheme's
catalog versions and policy, the person's year-to-date totals and the bill's prior payments)
and returns a :class:`SettlementResult`.  No I/O; the ledger loads the inputs and persists
the result.
"""

from __future__ import annotations

from decimal import Decimal

from app.engine.catalog import classify_lines
from app.engine.coordination import coordinate
from app.engine.money import ZERO
from app.engine.policy import apply_bands, cap_benefit, deductible_amount, is_registered, offsite_of
from app.engine.types import SettlementInput, SettlementResult
from app.engine.validate import validate_bill
from app.errors import FieldError, NoPolicy, NotCovered, NotEnrolled, ValidationFailed


def settle(inp: SettlementInput, *, validate: bool = True) -> SettlementResult:
    bill, scheme, member, policy = inp.bill, inp.scheme, inp.member, inp.policy
    if validate:
        validate_bill(bill)

    # 1. Eligibility.
    if member.id_number != bill.patient_id_number or not any(p.covers(bill.admission_date) for p in member.coverage):
        raise NotEnrolled(
            f"the patient has no coverage under {scheme.code} on the admission date {bill.admission_date.isoformat()}"
        )
    year = bill.discharge_date.year
    if policy.year != year:
        raise NoPolicy(f"{scheme.code} has no policy for {year}, the year of the discharge date")
    section = policy.settings.get(bill.setting)
    if section is None:
        raise NotCovered(f"the {year} policy of {scheme.code} does not cover {bill.setting} care")

    # 2. Lines.
    lines = classify_lines(bill, inp.catalogs)
    medical_total = excluded = over_limit = b_self_pay = in_scope = ZERO
    for line in lines:
        medical_total += line.amount
        excluded += line.excluded
        over_limit += line.over_limit
        b_self_pay += line.b_self_pay
        in_scope += line.in_scope

    # 3. Where the care happened.
    hospital = bill.hospital
    offsite = offsite_of(hospital.region, scheme.pooling_region)
    registered = offsite != "local" and is_registered(
        member.registrations, hospital_region=hospital.region, admission=bill.admission_date
    )

    # 4. Deductible.
    rule = section.deductible
    deductible = deductible_amount(
        rule,
        level=hospital.level,
        offsite=offsite,
        in_scope=in_scope,
        already_paid=inp.year_to_date.deductible_paid,
    )

    # 5. Bands.
    if offsite == "local":
        delta = Decimal(0)
    else:
        delta = section.delta_registered if registered else section.delta_unregistered
    bands = apply_bands(section, base=in_scope - deductible, level=hospital.level, delta=delta)
    computed = sum((b.amount for b in bands), ZERO)

    # 6. Annual cap.
    after_cap = cap_benefit(computed, annual_cap=policy.annual_cap, fund_paid=inp.year_to_date.fund_paid)

    # 7. Coordination.
    prior = inp.prior_payments
    if prior > medical_total:
        raise ValidationFailed(
            [
                FieldError(
                    ("external_payments",), f"prior payments {prior} would exceed the bill's total {medical_total}"
                )
            ]
        )
    c = coordinate(scheme.coordination, benefit_after_cap=after_cap, medical_total=medical_total, prior=prior)

    return SettlementResult(
        scheme_code=scheme.code,
        policy_year=year,
        offsite=offsite,
        registered=registered,
        medical_total=medical_total,
        excluded=excluded,
        over_limit=over_limit,
        b_self_pay=b_self_pay,
        in_scope=in_scope,
        deductible=deductible,
        yearly_deductible=deductible if rule.basis == "per_year" else ZERO,
        bands=bands,
        computed_benefit=computed,
        benefit_after_cap=after_cap,
        prior_payments=prior,
        coordination_mode=scheme.coordination,
        fund_payment=c.fund_payment,
        coordination_reduction=c.coordination_reduction,
        patient_responsibility=c.patient_responsibility,
        lines=lines,
    )
