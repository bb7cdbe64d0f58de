"""One scheme's benefit on one bill: the whole of ``settlement-rules.md`` v1, pure, for the basic
schemes, the injury schemes (v2.4), employers' liabilities (v2.5), the parts of a mixed bill (v3.1)
and a fund's advances (v3.3).  Tiers: ``app.engine.tier`` and ``app.engine.large_amount``.

``settle`` takes a :class:`SettlementInput` (the bill, the scheme, the member, the scheme's
catalog versions and policy, the person's year-to-date totals and the bill's prior payments)
and returns a :class:`SettlementResult`.  No I/O; the ledger loads the inputs and persists
the result.
"""

from __future__ import annotations

from decimal import Decimal

from app.engine.catalog import classify_lines
from app.engine.coordination import cap_and_coordinate
from app.engine.eligibility import advance_employer, check_member, check_request, policy_section, settled_part
from app.engine.money import ZERO
from app.engine.policy import apply_bands, deductible_amount, is_registered, offsite_of
from app.engine.types import TIER_KINDS, SettlementInput, SettlementResult
from app.engine.validate import validate_bill


def settle(inp: SettlementInput, *, validate: bool = True) -> SettlementResult:
    bill, scheme, member, policy = inp.bill, inp.scheme, inp.member, inp.policy
    if validate:
        validate_bill(bill)

    if scheme.kind in TIER_KINDS:
        raise ValueError(f"{scheme.code} is a tier: settle it with app.engine.tier.settle_tier")

    # 1. Eligibility (v2.4: the kind of bill, membership on the injury date for injury schemes;
    # v2.5: an employer's liability for a patient who is no member; v3.3: an advance).
    employer, advance = inp.employer, inp.advance
    check_request(scheme, bill, employer, ("employer_liability",), advance=advance)
    check_member(scheme, member, bill, employer, ("employer_liability",), advance=advance)
    year = bill.policy_year
    section = policy_section(scheme, policy, bill)
    # An advance for an employer that did not enrol its worker is computed as its liability.
    employer = employer or advance_employer(advance)

    # 2. Lines (v3.1: on a mixed bill, the lines outside the scheme's part first).
    lines = classify_lines(bill, inp.catalogs, settled_part(scheme, bill))
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
    # An employer's liability is computed as for a member without off-site registration.
    registrations = member.registrations if member is not None and employer is None else ()
    registered = offsite != "local" and is_registered(
        registrations, hospital_region=hospital.region, admission=bill.admission_date
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

    # 6. Annual cap; 7. coordination.
    paid = cap_and_coordinate(
        scheme.coordination,
        computed=computed,
        annual_cap=policy.annual_cap,
        fund_paid=inp.year_to_date.fund_paid,
        prior=inp.prior_payments,
        medical_total=medical_total,
        same_part_prior=None if bill.work_injury is None else inp.same_part_prior,
    )
    c = paid.coordinated

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
        benefit_after_cap=paid.benefit_after_cap,
        prior_payments=inp.prior_payments,
        coordination_mode=scheme.coordination,
        fund_payment=c.fund_payment,
        coordination_reduction=c.coordination_reduction,
        patient_responsibility=c.patient_responsibility,
        lines=lines,
        cap_remaining=paid.cap_remaining,
    )
