"""The employees' large-amount subsidy (``settlement-rules.md`` v3.2), pure.

A large-amount tier supplements a uebmi scheme: once the basic fund has paid its annual cap, it
pays the in-scope cost the cap left unpaid.  That cost is found by walking the basis's bands
against its benefit after the cap (:func:`over_cap_walk`); it then lies on the person's yearly
axis of such costs, cut by the tier's own bands like a v2.3 tier's, and the tier's annual cap and
coordination apply as v1 steps 6 and 7.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from app.engine.eligibility import check_bill_kind, check_policy_year
from app.engine.money import ZERO, round_quotient
from app.engine.tier import axis_bands, required_basis, result_on_basis
from app.engine.types import BandResult, LargeAmountInput, SettlementResult


@dataclass(frozen=True, slots=True)
class OverCap:
    """The walk of step 1: each basis band's part within the cap, and the cost above it."""

    #: One per basis band, in order: the part of its base the capped benefit paid for.
    covered: tuple[Decimal, ...]
    #: The sum over the bands of ``base - covered``.
    over_cap: Decimal


def over_cap_walk(bands: Sequence[BandResult], benefit_after_cap: Decimal) -> OverCap:
    """v3.2 step 1: ``R = benefit_after_cap``; with ``cum`` the amounts of the bands before, a band
    with ``cum + amount <= R`` is covered whole; the first with ``cum + amount > R`` is the one the
    cap cut, covered ``min(base, round((R - cum) / ratio))`` (the quotient exact, then rounded);
    the bands after it are not covered.

    The cut band pays more than ``R - cum >= 0``, so its ratio is above 0 (a band at ratio 0 pays
    nothing and is always covered whole).
    """
    covered: list[Decimal] = []
    cum = ZERO
    cut = False
    for band in bands:
        if cut:
            covered.append(ZERO)
        elif cum + band.amount <= benefit_after_cap:
            covered.append(band.base)
            cum += band.amount
        else:
            covered.append(min(band.base, round_quotient(benefit_after_cap - cum, band.ratio)))
            cut = True
    over = sum((band.base - part for band, part in zip(bands, covered, strict=True)), ZERO)
    return OverCap(tuple(covered), over)


def settle_large_amount(inp: LargeAmountInput) -> SettlementResult:
    bill, scheme, basis = inp.bill, inp.scheme, inp.basis
    if scheme.kind != "large_amount":
        raise ValueError(f"{scheme.code} is no large-amount tier ({scheme.kind})")

    # Eligibility as a tier's (v2.3, v3.1): the kind of bill, the basis, the year; no members.
    check_bill_kind(scheme, bill)
    basis = required_basis(scheme, basis)
    if basis.benefit_after_cap is None:
        raise ValueError(f"the basis {basis.settlement_id} comes without its bands and benefit after the cap")
    policy = check_policy_year(scheme, inp.policy, bill)

    # 1. The basis's in-scope cost above its cap.
    over = over_cap_walk(basis.bands, basis.benefit_after_cap).over_cap

    # 2. The yearly axis and the tier's bands on it; no deductible.  3. Annual cap and coordination.
    ytd = inp.year_to_date.over_cap
    return result_on_basis(
        scheme,
        policy_year=policy.year,
        annual_cap=policy.annual_cap,
        basis=basis,
        bill=bill,
        bands=axis_bands(policy.bands, before=ytd, after=ytd + over),
        deductible=ZERO,
        year_fund_paid=inp.year_to_date.fund_paid,
        prior=inp.prior_payments,
        same_part_prior=inp.same_part_prior,
        over_cap=over,
    )
