"""Table tests of v2's branches in the pure engine: the tiers' yearly axis, cap and eligibility
(v2.3), work injury (v2.4) and employers' liabilities (v2.5)."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal as D

import pytest

from app.engine import settle
from app.engine import types as t
from app.engine.tier import settle_tier
from app.errors import (
    BasicNotSettled,
    DomainError,
    NotEnrolled,
    NotWorkInjury,
    ValidationFailed,
    WorkInjuryRefused,
)
from tests.support.examples import engine_bill, v2_reference

SI = t.Scheme("SI-X", "serious illness", "serious_illness", "511623", "repeat_capped", "NRCMS-X")
MA = t.Scheme("MA-X", "assistance", "medical_assistance", "511623", "repeat_capped", "NRCMS-X")
POLICY = t.TierPolicy(
    2026,
    D("300000.00"),
    D("15000.00"),
    (t.TierBand(D("20000.00"), D("0.60")), t.TierBand(D("50000.00"), D("0.70")), t.TierBand(None, D("0.80"))),
)
EMPLOYER = t.Employer("91321102MA1N7D4Q8W", "Zhenjiang Jianan Construction Co. (sample)")
OTHER_EMPLOYER = t.Employer("91350100M000100Y43", "Another employer")


def bill(total: str = "200000.00", **changes: object) -> t.Bill:
    base = t.Bill(
        hospital=t.Hospital("H1", "County hospital", 2, "511623"),
        bill_no="B1",
        patient_id_number="511623199003071234",
        patient_name="Wang Jun",
        setting="inpatient",
        admission_date=date(2026, 9, 1),
        discharge_date=date(2026, 9, 28),
        diagnoses=("C34.1",),
        items=(t.BillLine(1, "X", "x", "drug", D("1"), D(total), D(total)),),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def basis(in_scope: str) -> t.Basis:
    return t.Basis("basis-1", "NRCMS-X", "local", False, D("0.00"), D("0.00"), D("0.00"), D(in_scope), ())


def tier(
    compliant: str,
    *,
    ytd: str = "0.00",
    fund_paid: str = "0.00",
    policy: t.TierPolicy = POLICY,
    scheme: t.Scheme = SI,
    member: t.Member | None = None,
    prior: str = "0.00",
    b: t.Bill | None = None,
) -> t.SettlementResult:
    """A tier on a basis whose in-scope amount is all compliant self-pay (the basic scheme paid 0)."""
    return settle_tier(
        t.TierInput(
            bill=b or bill(),
            scheme=scheme,
            member=member,
            policy=policy,
            basis=basis(compliant),
            paid_by_basic_and_tiers=D("0.00"),
            year_to_date=t.TierYearToDate(D(fund_paid), D(ytd)),
            prior_payments=D(prior),
        )
    )


def bands(r: t.SettlementResult) -> list[tuple[str, str | None, str, str, str]]:
    return [
        (str(b.lower), None if b.upper is None else str(b.upper), str(b.ratio), str(b.base), str(b.amount))
        for b in r.bands
    ]


def test_threshold_partly_consumed_by_an_earlier_bill() -> None:
    r = tier("10000.00", ytd="9000.00")  # 6,000.00 of the threshold left, then 4,000.00 at 0.60
    assert (r.compliant_self_pay, r.deductible) == (D("10000.00"), D("6000.00"))
    assert bands(r) == [("0.00", "20000.00", "0.60", "4000.00", "2400.00")]
    assert r.computed_benefit == r.fund_payment == D("2400.00")


def test_axis_crossing_two_bands_in_one_settlement() -> None:
    r = tier("20000.00", ytd="30000.00")  # the axis goes from 15,000.00 to 35,000.00
    assert r.deductible == D("0.00")
    assert bands(r) == [
        ("0.00", "20000.00", "0.60", "5000.00", "3000.00"),
        ("20000.00", "50000.00", "0.70", "15000.00", "10500.00"),
    ]
    assert r.computed_benefit == D("13500.00")


def test_axis_into_the_open_band_and_below_the_threshold() -> None:
    assert bands(tier("10000.00", ytd="70000.00")) == [("50000.00", None, "0.80", "10000.00", "8000.00")]
    low = tier("5000.00", ytd="2000.00")
    assert (low.deductible, low.bands, low.fund_payment) == (D("5000.00"), (), D("0.00"))


def test_rounding_per_band_half_up() -> None:
    r = tier("15000.03", ytd="0.00")  # 0.03 above the threshold, at 0.60: 0.018 -> 0.02
    assert bands(r) == [("0.00", "20000.00", "0.60", "0.03", "0.02")]


@pytest.mark.parametrize(
    ("fund_paid", "after_cap"),
    [("0.00", "13500.00"), ("290000.00", "10000.00"), ("300000.00", "0.00")],
    ids=["cap-free", "cap-partly-used", "cap-used-up"],
)
def test_tier_cap_partly_used_and_used_up(fund_paid: str, after_cap: str) -> None:
    r = tier("20000.00", ytd="30000.00", fund_paid=fund_paid)
    assert r.computed_benefit == D("13500.00")
    assert r.benefit_after_cap == r.fund_payment == D(after_cap)


def test_tier_coordination_never_exceeds_the_bill() -> None:
    r = tier("20000.00", ytd="30000.00", prior="195000.00")
    assert (r.fund_payment, r.coordination_reduction, r.patient_responsibility) == (
        D("5000.00"),
        D("8500.00"),
        D("0.00"),
    )


def test_tier_before_its_basic_scheme() -> None:
    with pytest.raises(BasicNotSettled):
        settle_tier(t.TierInput(bill=bill(), scheme=SI, member=None, policy=POLICY, basis=None))


def test_assistance_for_a_non_member_and_out_of_coverage() -> None:
    with pytest.raises(NotEnrolled):
        tier("20000.00", scheme=MA)
    lapsed = t.Member("MA1", "511623199003071234", "Wang Jun", (t.Period(date(2026, 1, 1), date(2026, 8, 31)),))
    with pytest.raises(NotEnrolled):
        tier("20000.00", scheme=MA, member=lapsed)
    covered = dataclasses.replace(lapsed, coverage=(t.Period(date(2026, 1, 1), None),))
    assert tier("20000.00", scheme=MA, member=covered).fund_payment == D("3000.00")


def test_serious_illness_needs_no_member_and_no_policy_is_refused() -> None:
    assert tier("20000.00").fund_payment == D("3000.00")
    with pytest.raises(DomainError) as info:
        tier("20000.00", policy=dataclasses.replace(POLICY, year=2025))
    assert info.value.problem == "no-policy"


# --- work injury (v2.4) and employer liability (v2.5), on the shared bills ----------------------


def scheme_settle(bill_name: str, code: str, *, employer: t.Employer | None = None, **bill_changes: object):
    ref = v2_reference()
    b = engine_bill(bill_name)
    if bill_changes:
        b = dataclasses.replace(b, **bill_changes)  # type: ignore[arg-type]
    member = next((m.to_engine(n) for n, m in ref.members.get(code, []) if m.id_number == b.patient_id_number), None)
    return settle(
        t.SettlementInput(
            bill=b,
            scheme=ref.engine_scheme(code),
            member=member,
            catalogs=ref.engine_catalogs(code),
            policy=ref.engine_policy(code, 2026),
            employer=employer,
        )
    )


def test_work_injury_refusals() -> None:
    with pytest.raises(WorkInjuryRefused):  # a basic scheme, a work-injury bill
        scheme_settle("bill-2.json", "NRCMS-511623")
    with pytest.raises(NotWorkInjury):  # the injury fund, a bill without a work injury
        scheme_settle("bill-2.json", "WI-321100", work_injury=None)
    with pytest.raises(WorkInjuryRefused):  # a tier on a work-injury bill
        settle_tier(
            t.TierInput(
                bill=bill(work_injury=engine_bill("bill-2.json").work_injury),
                scheme=SI,
                member=None,
                policy=POLICY,
                basis=basis("100.00"),
            )
        )


def test_injury_membership_is_on_the_injury_date() -> None:
    """Li Qiang's WI coverage starts 2025-03-01: covered on admission but injured before it."""
    b2 = engine_bill("bill-2.json")
    assert b2.work_injury is not None
    before = dataclasses.replace(b2.work_injury, injury_date=date(2025, 2, 28))
    with pytest.raises(NotEnrolled, match="injury date 2025-02-28"):
        scheme_settle("bill-2.json", "WI-321100", work_injury=before)
    on_first_day = dataclasses.replace(b2.work_injury, injury_date=date(2025, 3, 1))
    assert scheme_settle("bill-2.json", "WI-321100", work_injury=on_first_day).fund_payment == D("16475.00")


def field_errors(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[tuple[tuple[str | int, ...], str]]:
    return [(e.loc, e.msg) for e in exc.value.errors]


def test_employer_liability_refusals() -> None:
    # Not under nrcms (a scheme kind without employer liability).
    with pytest.raises(ValidationFailed) as info:
        scheme_settle("bill-5.json", "NRCMS-511623", employer=EMPLOYER)
    assert field_errors(info)[0][0] == ("employer_liability",)
    # An invalid unified social credit code (wrong check character).
    with pytest.raises(ValidationFailed) as info:
        scheme_settle("bill-4.json", "WI-321100", employer=t.Employer("91321102MA1N7D4Q8X", "x"))
    assert field_errors(info)[0][0] == ("employer_liability", "employer", "code")
    # Under the injury fund: not the employer of the bill's work injury.
    with pytest.raises(ValidationFailed, match="not the employer of the bill's work injury"):
        scheme_settle("bill-4.json", "WI-321100", employer=OTHER_EMPLOYER)
    # The patient is a member on the injury date: settle under the scheme.
    with pytest.raises(ValidationFailed, match="settle under the scheme"):
        scheme_settle("bill-2.json", "WI-321100", employer=EMPLOYER)
    # Under uebmi a work-injury bill stays refused, employer or not.
    with pytest.raises(WorkInjuryRefused):
        scheme_settle("bill-4.json", "UEBMI-321100", employer=EMPLOYER)
    # Under the injury fund a bill without a work injury stays refused.
    with pytest.raises(NotWorkInjury):
        scheme_settle("bill-4.json", "WI-321100", employer=EMPLOYER, work_injury=None)


def test_employer_liability_ignores_registrations_and_pays_as_the_scheme() -> None:
    r = scheme_settle("bill-4.json", "WI-321100", employer=EMPLOYER)
    assert (r.registered, r.fund_payment) == (False, D("7575.00"))
