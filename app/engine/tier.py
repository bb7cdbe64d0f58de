"""A supplementary tier's benefit on one bill (``settlement-rules.md`` v2.3), pure.

A tier (serious illness, medical assistance) has no catalog of its own: it works from its basic
scheme's settlement of the bill (the *basis*), on a yearly axis of the person's compliant
self-pay with a threshold and bands, then applies its annual cap and coordination like v1
steps 6 and 7.
"""

from __future__ import annotations

from decimal import Decimal

from app.engine.coordination import cap_and_coordinate
from app.engine.eligibility import check_bill_kind, check_member, check_policy_year
from app.engine.money import ZERO, round_money
from app.engine.types import BandResult, Basis, Bill, Scheme, SettlementResult, TierBand, TierInput
from app.errors import BasicNotSettled


def axis_bands(bands: tuple[TierBand, ...], *, before: Decimal, after: Decimal) -> tuple[BandResult, ...]:
    """The overlap of ``[before, after)`` with each band ``[up_to(k-1), up_to(k))`` (the first from
    0); each band with an overlap pays ``round(overlap x ratio)``.  Only those bands are listed."""
    results = []
    lower = ZERO
    for band in bands:
        upper = band.up_to
        overlap = (after if upper is None else min(after, upper)) - max(before, lower)
        if overlap > 0:
            results.append(BandResult(lower, upper, band.ratio, overlap, round_money(overlap * band.ratio)))
        if upper is None or upper >= after:
            break
        lower = upper
    return tuple(results)


def settle_tier(inp: TierInput) -> SettlementResult:
    bill, scheme, basis = inp.bill, inp.scheme, inp.basis
    if scheme.kind == "large_amount":
        raise ValueError(f"{scheme.code} is a large-amount tier: settle it with app.engine.large_amount")

    # Eligibility: not a work injury; the basis; members of its own (assistance only); the year.
    check_bill_kind(scheme, bill)
    basis = required_basis(scheme, basis)
    if scheme.kind == "medical_assistance":
        check_member(scheme, inp.member, bill, None, ())
    policy = check_policy_year(scheme, inp.policy, bill)

    # 1. Compliant self-pay left by the basic scheme and its tiers.
    compliant = max(ZERO, basis.in_scope - inp.paid_by_basic_and_tiers)

    # 2. The yearly axis, and the part of this bill that went toward the threshold.
    ytd = inp.year_to_date.compliant_self_pay
    before = max(ZERO, ytd - policy.threshold)
    after = max(ZERO, ytd + compliant - policy.threshold)
    deductible = compliant - (after - before)

    # 3. Bands on the axis.
    bands = axis_bands(policy.bands, before=before, after=after)

    # 4. Annual cap and coordination (v1 steps 6 and 7).
    return result_on_basis(
        scheme,
        policy_year=policy.year,
        annual_cap=policy.annual_cap,
        basis=basis,
        bill=bill,
        bands=bands,
        deductible=deductible,
        year_fund_paid=inp.year_to_date.fund_paid,
        prior=inp.prior_payments,
        same_part_prior=inp.same_part_prior,
        compliant_self_pay=compliant,
    )


def required_basis(scheme: Scheme, basis: Basis | None) -> Basis:
    """A tier's basis: its basic scheme's active settlement of the bill, which must be there."""
    if basis is None:
        raise BasicNotSettled(
            f"{scheme.code} supplements {scheme.supplements}, which holds no active settlement paid by its fund "
            "on this bill: settle the bill under the basic scheme first"
        )
    return basis


def result_on_basis(
    scheme: Scheme,
    *,
    policy_year: int,
    annual_cap: Decimal,
    basis: Basis,
    bill: Bill,
    bands: tuple[BandResult, ...],
    deductible: Decimal,
    year_fund_paid: Decimal,
    prior: Decimal,
    same_part_prior: Decimal | None,
    compliant_self_pay: Decimal | None = None,
    over_cap: Decimal | None = None,
) -> SettlementResult:
    """A tier's settlement from its bands on the yearly axis: the annual cap and coordination (v1
    steps 6 and 7), the bill's figures as its basis settled them.  Every tier kind ends here."""
    computed = sum((b.amount for b in bands), ZERO)
    paid = cap_and_coordinate(
        scheme.coordination,
        computed=computed,
        annual_cap=annual_cap,
        fund_paid=year_fund_paid,
        prior=prior,
        medical_total=bill.medical_total,
        same_part_prior=None if bill.work_injury is None else same_part_prior,
    )
    c = paid.coordinated
    return SettlementResult(
        scheme_code=scheme.code,
        policy_year=policy_year,
        offsite=basis.offsite,
        registered=basis.registered,
        medical_total=bill.medical_total,
        excluded=basis.excluded,
        over_limit=basis.over_limit,
        b_self_pay=basis.b_self_pay,
        in_scope=basis.in_scope,
        deductible=deductible,
        yearly_deductible=ZERO,
        bands=bands,
        computed_benefit=computed,
        benefit_after_cap=paid.benefit_after_cap,
        prior_payments=prior,
        coordination_mode=scheme.coordination,
        fund_payment=c.fund_payment,
        coordination_reduction=c.coordination_reduction,
        patient_responsibility=c.patient_responsibility,
        lines=basis.lines,
        cap_remaining=paid.cap_remaining,
        basis_settlement_id=basis.settlement_id,
        compliant_self_pay=compliant_self_pay,
        over_cap=over_cap,
    )
