"""Table tests of v3.1 in the pure engine: a mixed bill's two classifications before the catalog
lookup, the refusals for basic schemes, tiers, injury schemes, employers' liabilities and
advances, the mark's validation, and ``gap_fill`` / ``exclusive`` looking at the same part only."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal as D

import pytest

from app.engine import settle
from app.engine import types as t
from app.engine.eligibility import check_request, part_of_kind, settled_part
from app.engine.large_amount import settle_large_amount
from app.engine.tier import settle_tier
from app.engine.validate import bill_errors
from app.errors import NotWorkInjury, ValidationFailed, WorkInjuryRefused

PATIENT = "321102198602230517"
EMPLOYER = t.Employer("91321102MA1PQ3K768", "Hengtai Steel (sample)")
INJURY = t.WorkInjury("GS-1", date(2026, 4, 13), EMPLOYER)
WI = t.Scheme("WI-X", "work injury", "work_injury", "321100")
UEBMI = t.Scheme("UEBMI-X", "employees", "uebmi", "321100")
SI = t.Scheme("SI-X", "serious illness", "serious_illness", "321100", "repeat_capped", "UEBMI-X")
LA = t.Scheme("LA-X", "large amount", "large_amount", "321100", "repeat_capped", "UEBMI-X")
ALWAYS = (t.Period(date(2015, 1, 1), None),)
MEMBER = t.Member("M1", PATIENT, "Zhao Lei", ALWAYS)
#: Each scheme's catalog knows only its own lines' codes: "INJ" in the injury fund's, "OTH" in
#: the basic scheme's (class B at 20%), so a line of the other part would be not_in_catalog.
WI_CATALOG = t.CatalogVersion("1", date(2026, 1, 1), None, {"INJ": t.CatalogEntry("INJ", "fixation", "service", "A")})
UEBMI_CATALOG = t.CatalogVersion(
    "1", date(2026, 1, 1), None, {"OTH": t.CatalogEntry("OTH", "stent", "material", "B", D("0.20"))}
)


def policy(cap: str, deductible: str, ratio: str) -> t.Policy:
    section = t.SettingPolicy(t.Deductible("per_admission", {3: D(deductible)}), (t.Band(None, {3: D(ratio)}),))
    return t.Policy(2026, D(cap), {"inpatient": section})


WI_POLICY = policy("1000000.00", "0.00", "1.00")
UEBMI_POLICY = policy("300000.00", "900.00", "0.85")


def line(no: int, code: str, amount: str, injury_related: bool | None = None, **changes: object) -> t.BillLine:
    base = t.BillLine(no, code, code, "service", D("1"), D(amount), D(amount), None, injury_related)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


#: 6,000.00 of the injury's care, 5,000.00 of other care (lines 3 and 4 marked).
MIXED = (
    line(1, "INJ", "4000.00"),
    line(2, "INJ", "2000.00", True),
    line(3, "OTH", "4500.00", False),
    line(4, "OTH", "500.00", False),
)


def bill(items: tuple[t.BillLine, ...] = MIXED, injury: t.WorkInjury | None = INJURY) -> t.Bill:
    return t.Bill(
        hospital=t.Hospital("H1", "First hospital", 3, "321102"),
        bill_no="B1",
        patient_id_number=PATIENT,
        patient_name="Zhao Lei",
        setting="inpatient",
        admission_date=date(2026, 4, 13),
        discharge_date=date(2026, 4, 27),
        diagnoses=("S82.2", "I20.0"),
        items=items,
        work_injury=injury,
    )


def settle_as(
    scheme: t.Scheme,
    b: t.Bill,
    *,
    prior: str = "0.00",
    same_part: str | None = None,
    member: t.Member | None = MEMBER,
    employer: t.Employer | None = None,
    advance: t.Advance | None = None,
) -> t.SettlementResult:
    injury = scheme.kind == "work_injury"
    return settle(
        t.SettlementInput(
            bill=b,
            scheme=scheme,
            member=member,
            catalogs=(WI_CATALOG if injury else UEBMI_CATALOG,),
            policy=WI_POLICY if injury else UEBMI_POLICY,
            prior_payments=D(prior),
            same_part_prior=None if same_part is None else D(same_part),
            employer=employer,
            advance=advance,
        )
    )


def reasons(r: t.SettlementResult) -> list[tuple[int, str, str | None]]:
    return [(x.line_no, str(x.excluded), x.reason) for x in r.lines]


def test_injury_scheme_settles_the_injurys_lines() -> None:
    r = settle_as(WI, bill())
    assert reasons(r) == [
        (1, "0.00", None),
        (2, "0.00", None),
        (3, "4500.00", "not_injury_related"),
        (4, "500.00", "not_injury_related"),
    ]
    assert (r.excluded, r.in_scope, r.fund_payment) == (D("5000.00"), D("6000.00"), D("6000.00"))
    assert all(x.klass is None for x in r.lines[2:])


def test_basic_scheme_settles_the_other_lines_with_deductible_and_bands_on_its_part() -> None:
    r = settle_as(UEBMI, bill(), prior="6000.00")
    assert reasons(r) == [
        (1, "4000.00", "work_injury"),
        (2, "2000.00", "work_injury"),
        (3, "0.00", None),
        (4, "0.00", None),
    ]
    # 5,000.00 of class B at 20%: 4,000.00 in scope, 900.00 deductible, 3,100.00 x 0.85.
    assert (r.excluded, r.b_self_pay, r.in_scope, r.deductible) == (
        D("6000.00"),
        D("1000.00"),
        D("4000.00"),
        D("900.00"),
    )
    assert (r.fund_payment, r.patient_responsibility) == (D("2635.00"), D("2365.00"))
    assert r.medical_total == r.excluded + r.over_limit + r.b_self_pay + r.in_scope


def test_classification_comes_before_the_catalog_lookup() -> None:
    # Line 3 is dated before any catalog version: the injury fund does not look it up at all.
    early = dataclasses.replace(MIXED[2], service_date=date(2025, 12, 30))
    r = settle_as(WI, bill((MIXED[0], early)))
    assert reasons(r) == [(1, "0.00", None), (3, "4500.00", "not_injury_related")]


def test_a_bill_without_work_injury_is_settled_whole() -> None:
    plain = bill((line(1, "OTH", "1000.00"),), injury=None)
    assert settled_part(UEBMI, plain) is None
    assert reasons(settle_as(UEBMI, plain)) == [(1, "0.00", None)]
    assert (part_of_kind("work_injury"), part_of_kind("occupational_injury")) == ("injury", "injury")
    assert {part_of_kind(k) for k in ("uebmi", "urrbmi", "nrcms", "serious_illness", "large_amount")} == {"other"}


INJURY_ONLY = (line(1, "INJ", "4000.00"), line(2, "INJ", "2000.00", True))
NO_INJURY = (line(3, "OTH", "4500.00", False), line(4, "OTH", "500.00", False))


@pytest.mark.parametrize(
    ("scheme", "items", "employer", "problem"),
    [
        (UEBMI, INJURY_ONLY, None, WorkInjuryRefused),
        (UEBMI, INJURY_ONLY, EMPLOYER, WorkInjuryRefused),
        (WI, NO_INJURY, None, NotWorkInjury),
        (WI, NO_INJURY, EMPLOYER, NotWorkInjury),
    ],
    ids=["basic-all-injury", "uebmi-employer-all-injury", "injury-no-injury-line", "injury-employer-no-injury-line"],
)
def test_refusals_of_the_wrong_part(
    scheme: t.Scheme, items: tuple[t.BillLine, ...], employer: t.Employer | None, problem: type[Exception]
) -> None:
    with pytest.raises(problem):
        settle_as(scheme, bill(items), employer=employer, member=None if employer else MEMBER)


def test_employers_liability_under_uebmi_settles_the_other_part() -> None:
    r = settle_as(UEBMI, bill(), employer=t.Employer("91350100M000100Y43", "Other employer"), member=None)
    assert [x.reason for x in r.lines] == ["work_injury", "work_injury", None, None]
    assert r.fund_payment == D("2635.00")


def test_advances_refuse_the_wrong_part() -> None:
    to_employer = t.Advance("employer_not_enrolled", t.Liable("employer", EMPLOYER.name, EMPLOYER.code))
    with pytest.raises(NotWorkInjury):
        settle_as(WI, bill(NO_INJURY), advance=to_employer, member=None)
    rider = t.Advance("third_party", t.Liable("third_party", "Zhang Peng"))
    with pytest.raises(WorkInjuryRefused):
        settle_as(UEBMI, bill(INJURY_ONLY), advance=rider)
    assert settle_as(UEBMI, bill(), advance=rider).fund_payment == D("2635.00")


def test_tiers_on_a_mixed_bill() -> None:
    basis = t.Basis(
        "b1",
        "UEBMI-X",
        "local",
        False,
        D("6000.00"),
        D("0.00"),
        D("1000.00"),
        D("4000.00"),
        (),
        bands=(t.BandResult(D("0.00"), None, D("0.85"), D("3100.00"), D("2635.00")),),
        benefit_after_cap=D("2635.00"),
    )
    tier_policy = t.TierPolicy(2026, D("100000.00"), D("0.00"), (t.TierBand(None, D("0.50")),))
    si = settle_tier(
        t.TierInput(
            bill=bill(),
            scheme=SI,
            member=None,
            policy=tier_policy,
            basis=basis,
            paid_by_basic_and_tiers=D("2635.00"),
            prior_payments=D("8635.00"),
        )
    )
    assert (si.compliant_self_pay, si.fund_payment) == (D("1365.00"), D("682.50"))
    with pytest.raises(WorkInjuryRefused):
        settle_tier(t.TierInput(bill=bill(INJURY_ONLY), scheme=SI, member=None, policy=tier_policy, basis=basis))
    la_policy = t.LargeAmountPolicy(2026, D("1.00"), (t.TierBand(None, D("0.50")),))
    with pytest.raises(WorkInjuryRefused):
        settle_large_amount(t.LargeAmountInput(bill=bill(INJURY_ONLY), scheme=LA, policy=la_policy, basis=basis))
    la = settle_large_amount(t.LargeAmountInput(bill=bill(), scheme=LA, policy=la_policy, basis=basis))
    assert (la.over_cap, la.fund_payment) == (D("0.00"), D("0.00"))


@pytest.mark.parametrize("mark", [True, False])
def test_the_mark_only_on_a_work_injury_bill(mark: bool) -> None:
    plain = bill((line(1, "OTH", "100.00"), line(2, "OTH", "50.00", mark)), injury=None)
    assert [(e.loc, e.msg[:40]) for e in bill_errors(plain)] == [
        (("items", 1, "injury_related"), "only a bill of a determined work injury ")
    ]
    with pytest.raises(ValidationFailed):
        settle_as(UEBMI, plain)
    assert bill_errors(bill()) == []


# --- coordination on the same part ----------------------------------------------------------


def coordinated(
    mode: t.Coordination, *, prior: str, same_part: str | None, scheme: t.Scheme = UEBMI
) -> t.SettlementResult:
    s = dataclasses.replace(scheme, coordination=mode)
    return settle_as(s, bill(), prior=prior, same_part=same_part)


@pytest.mark.parametrize(
    ("mode", "prior", "same_part", "pays"),
    [
        # The injury fund paid 6,000.00 for the injury's part: the other part's gap is whole.
        ("gap_fill", "6000.00", "0.00", "2635.00"),
        # Without the split the whole prior would be subtracted.
        ("gap_fill", "6000.00", None, "0.00"),
        # A voucher of 1,000.00 declared with this settlement is on its part.
        ("gap_fill", "7000.00", "1000.00", "1635.00"),
        ("exclusive", "6000.00", "0.00", "2635.00"),
        ("exclusive", "7000.00", "1000.00", "0.00"),
        ("exclusive", "6000.00", None, "0.00"),
        # repeat_capped does not ask: within what is left of the bill (11,000.00 - 9,000.00).
        ("repeat_capped", "9000.00", "0.00", "2000.00"),
        ("repeat_capped", "6000.00", "6000.00", "2635.00"),
    ],
)
def test_same_part_prior(mode: t.Coordination, prior: str, same_part: str | None, pays: str) -> None:
    r = coordinated(mode, prior=prior, same_part=same_part)
    assert r.fund_payment == D(pays)
    assert r.prior_payments == D(prior)
    assert r.patient_responsibility == r.medical_total - D(prior) - D(pays)


def test_same_part_prior_is_within_remaining_for_exclusive() -> None:
    # 10,500.00 of the 11,000.00 paid elsewhere, none on this part: exclusive pays, within 500.00.
    r = coordinated("exclusive", prior="10500.00", same_part="0.00")
    assert (r.fund_payment, r.coordination_reduction, r.patient_responsibility) == (
        D("500.00"),
        D("2135.00"),
        D("0.00"),
    )


def test_same_part_prior_counts_only_on_a_work_injury_bill() -> None:
    plain = bill((line(1, "OTH", "5000.00"),), injury=None)
    s = dataclasses.replace(UEBMI, coordination="gap_fill")
    r = settle_as(s, plain, prior="1000.00", same_part="0.00")
    assert r.fund_payment == D("2635.00") - D("1000.00")


def test_same_part_prior_beyond_the_prior_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="same part"):
        coordinated("gap_fill", prior="100.00", same_part="200.00")


def test_check_request_order_field_then_kind_then_match() -> None:
    bad = t.Employer("91350100M000100Y4X", "Bad code")
    with pytest.raises(ValidationFailed) as info:
        check_request(WI, bill(NO_INJURY), bad, ("employer_liability",))
    assert [e.loc for e in info.value.errors] == [("employer_liability", "employer", "code")]
    other = t.Employer("91350100M000100Y43", "Other employer")
    with pytest.raises(NotWorkInjury):
        check_request(WI, bill(NO_INJURY), other, ("employer_liability",))
    with pytest.raises(ValidationFailed):
        check_request(WI, bill(), other, ("employer_liability",))
